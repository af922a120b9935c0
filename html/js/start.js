/* Loaded last (defer keeps order): every page has registered itself. */
'use strict';
BC.start();

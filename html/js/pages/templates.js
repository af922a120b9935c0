/* The templates page: being written. */
'use strict';

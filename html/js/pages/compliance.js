/* The compliance page: being written. */
'use strict';

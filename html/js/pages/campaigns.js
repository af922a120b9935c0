/* The campaigns page: being written. */
'use strict';

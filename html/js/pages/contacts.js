/* The contacts page: being written. */
'use strict';

/* The inbox page: being written. */
'use strict';

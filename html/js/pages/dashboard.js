/* The dashboard page: being written. */
'use strict';

/* The api page: being written. */
'use strict';

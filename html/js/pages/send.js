/* The send page: being written. */
'use strict';

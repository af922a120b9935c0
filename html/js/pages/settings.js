/* The settings page: being written. */
'use strict';

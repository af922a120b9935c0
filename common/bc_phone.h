/*
 * Phone numbers to E.164, with Google's libphonenumber (C++), behind a C API.
 */
#ifndef BC_PHONE_H
#define BC_PHONE_H

#include <stddef.h>

#define BC_PHONE_MAX  24   /* "+" and at most 15 digits, with room */

/*
 * Normalises in (may carry a "whatsapp:" prefix, spaces, dashes, brackets,
 * or a national number) to E.164 using default_region (ISO 3166 alpha-2,
 * e.g. "US") for numbers without '+'. Returns 0 and writes out, or -1 and
 * sets *reason to a static sentence a person can act on, for example
 * "not a valid phone number for region US".
 */
int bc_phone_normalize(const char *in, size_t len, const char *default_region,
    char out[BC_PHONE_MAX], const char **reason);

/* 1 if region is a region libphonenumber knows, for config validation */
int bc_phone_region_valid(const char *region);

/* the ISO 3166 region ("US") of an +E164 number into out; 0, or -1 when
   it belongs to no single region (the audience filter's "country") */
int bc_phone_region(const char *e164, char out[3]);

/* at exit of a program that used the functions above: frees what
   libphonenumber (its util singleton), protobuf and ICU keep for the
   process's lifetime (a daemon checked by valgrind must end with nothing
   in use); nothing here may be called after it */
void bc_phone_shutdown(void);

#endif /* BC_PHONE_H */

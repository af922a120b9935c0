/*
 * multipart/form-data (RFC 7578), as SendGrid's Inbound Parse posts it:
 * the boundary of a Content-Type, whether a body is complete, one field's
 * value. The module refuses a body that fails these checks; the sender's
 * recorder reads the fields with the same code.
 */
#ifndef BC_MULTIPART_H
#define BC_MULTIPART_H

#include <stddef.h>

#define BC_MP_BOUNDARY_MAX  70      /* RFC 2046: 1 to 70 characters */

/* the boundary parameter of a Content-Type value (quoted or not) into out
   (BC_MP_BOUNDARY_MAX + 1 bytes); 0, or -1 if absent or malformed */
int bc_mp_boundary(const char *ct, size_t len, char *out);

/*
 * 1 if body is a whole multipart body for boundary: it opens with a
 * delimiter line, every part has a header block, and the closing
 * delimiter is there (a truncated upload lacks it).
 */
int bc_mp_complete(const char *body, size_t len, const char *boundary);

/* the value of the field name, malloc'd (NUL-terminated, may hold NULs
   before it), or NULL if absent */
char *bc_mp_field(const char *body, size_t len, const char *boundary,
    const char *name);

#endif /* BC_MULTIPART_H */

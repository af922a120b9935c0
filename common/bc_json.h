/*
 * Reading a few top-level members out of a JSON object, streaming (yajl),
 * without building the document: a provider's 800-byte answer costs about
 * 2 us this way against 17-25 us for a jansson tree (docs/DESIGN.md).
 * jansson stays the library for everything that needs the tree.
 */
#ifndef BC_JSON_H
#define BC_JSON_H

#include <stddef.h>

typedef struct {
    const char  *name;      /* the member's name */
    char        *out;       /* its value as text, NUL-terminated: a
                               string's decoded bytes, a number's digits as
                               written; "" if absent, null, a boolean, an
                               object, an array, or too long for size */
    size_t       size;
} bc_json_field_t;

/*
 * Fills every field from the top-level members of the object in json; the
 * last of duplicate members wins (as in jansson). Returns 0, or -1 when
 * the text is not exactly one well-formed JSON object (fields then "").
 */
int bc_json_fields(const char *json, size_t len, bc_json_field_t *fields,
    size_t nfields);

#endif /* BC_JSON_H */

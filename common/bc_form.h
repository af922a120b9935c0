/*
 * application/x-www-form-urlencoded parsing and building.
 */
#ifndef BC_FORM_H
#define BC_FORM_H

#include <stddef.h>

typedef struct {
    const char  *name;
    size_t       name_len;
    const char  *value;
    size_t       value_len;
} bc_kv_t;

typedef struct {
    bc_kv_t     *items;    /* owned: malloc'd array */
    size_t       n;
    char        *arena;    /* owned: decoded names and values point here */
} bc_form_t;

/*
 * Parses a urlencoded body ('+' is space, %XX decoded). Empty input gives
 * n == 0. Returns 0, or -1 on malformed percent-escapes / out of memory.
 * The caller frees with bc_form_free().
 */
int bc_form_parse(const char *body, size_t len, bc_form_t *form);
void bc_form_free(bc_form_t *form);

/* first value of name (NUL-terminated in the arena) or NULL */
const char *bc_form_get(const bc_form_t *form, const char *name);

/*
 * Appends name=value (percent-encoded, '&' separated when *len > 0) to a
 * growing malloc'd buffer. Returns 0, -1 on out of memory.
 */
int bc_form_append(char **buf, size_t *len, size_t *cap,
    const char *name, const char *value, size_t value_len);

/*
 * Makes a growing malloc'd buffer hold len bytes plus more and a NUL:
 * doubles its capacity, from first when it has none. 0, -1 out of memory.
 */
int bc_reserve(char **buf, size_t len, size_t *cap, size_t more,
    size_t first);

/* percent-decodes a query-string value into out (NUL-terminated) */
int bc_url_decode(const char *in, size_t len, char *out, size_t outlen,
    size_t *outn);

/*
 * Finds name in a raw query string (a=1&b=2) and decodes its value into out.
 * Returns 1 found, 0 not found, -1 malformed / too long.
 */
int bc_query_get(const char *query, size_t qlen, const char *name,
    char *out, size_t outlen);

/* value of one hex digit (either case), or -1 */
int bc_hex_value(unsigned char c);

#endif /* BC_FORM_H */

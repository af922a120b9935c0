/*
 * {{name}} placeholders: found and filled once for the module (template
 * preview and send, campaign checks) and the sender's campaign dispatcher
 * (docs/DESIGN.md "Campaigns", Variables). No nginx headers.
 */
#ifndef BC_TEMPLATE_H
#define BC_TEMPLATE_H

#include <stddef.h>
#include <jansson.h>

#define BC_TEMPLATE_VAR_MAX  64     /* bytes of a variable's name */

/*
 * The next {{ name }} placeholder of s at or after from: 1 with the
 * placeholder at s[*start..*end) and its name at s[*name..*name + *nlen),
 * or 0 when there is none. A name is letters, digits, '_' and '.', at most
 * BC_TEMPLATE_VAR_MAX bytes, with optional blanks around it; anything else
 * between the braces is text.
 */
int bc_template_next(const char *s, size_t len, size_t from, size_t *start,
    size_t *end, size_t *name, size_t *nlen);

/* appends the variable names of s not yet in seen (an object) to list (an
   array of strings), in order; 0 or -1 when out of memory */
int bc_template_names(const char *s, size_t len, json_t *list,
    json_t *seen);

/* appends name to the array missing unless it is there; 0 or -1 */
int bc_template_missing(json_t *missing, const char *name);

/*
 * s with its placeholders filled from vals (an object of strings); a name
 * without a string value stays as written and is appended once to missing
 * (may be NULL). A malloc'd NUL-terminated string in *out, or -1 when out
 * of memory.
 */
int bc_template_render(const char *s, size_t len, json_t *vals,
    json_t *missing, char **out, size_t *outlen);

/*
 * A deep copy of v with every string inside it (object members' values and
 * array elements, recursively; not the member names) rendered as above; a
 * new reference, or NULL when out of memory. A member whose string is JSON
 * text (content_variables) is parsed, rendered inside and re-serialised,
 * so a value with '"' or '\\' stays valid JSON there.
 */
json_t *bc_template_render_json(json_t *v, json_t *vals, json_t *missing);

/*
 * A value of a variable as text, the rule of contacts' attributes and of
 * template_variables: strings as they are, numbers written out (%.15g for
 * reals), booleans as "true"/"false"; NULL for null, objects and arrays.
 * A new reference (or a new string).
 */
json_t *bc_template_text(json_t *v);

#endif /* BC_TEMPLATE_H */

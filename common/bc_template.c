/*
 * {{name}} placeholders (bc_template.h): one scanner and one renderer for
 * the module and the sender, so a preview shows what a campaign sends.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_template.h"

#define bc_template_ws(c)     ((c) == ' ' || (c) == '\t')
#define bc_template_namec(c)                                                  \
    (isalnum((unsigned char) (c)) || (c) == '_' || (c) == '.')


int
bc_template_next(const char *s, size_t len, size_t from, size_t *start,
    size_t *end, size_t *name, size_t *nlen)
{
    size_t  i, j, n;

    for (i = from; i + 1 < len; i++) {
        if (s[i] != '{' || s[i + 1] != '{') {
            continue;
        }
        for (j = i + 2; j < len && bc_template_ws(s[j]); j++) {
            /* void */
        }
        for (n = j; j < len && bc_template_namec(s[j]); j++) {
            /* void */
        }
        *nlen = j - n;
        for ( /* void */ ; j < len && bc_template_ws(s[j]); j++) {
            /* void */
        }
        /* anything else between the braces is text, not a placeholder */
        if (*nlen == 0 || *nlen > BC_TEMPLATE_VAR_MAX
            || j + 1 >= len || s[j] != '}' || s[j + 1] != '}')
        {
            continue;
        }
        *start = i;
        *end = j + 2;
        *name = n;
        return 1;
    }
    return 0;
}


int
bc_template_names(const char *s, size_t len, json_t *list, json_t *seen)
{
    char    name[BC_TEMPLATE_VAR_MAX + 1];
    size_t  at = 0, start, end, n, nlen;

    while (s != NULL
           && bc_template_next(s, len, at, &start, &end, &n, &nlen))
    {
        at = end;
        memcpy(name, s + n, nlen);
        name[nlen] = '\0';
        if (json_object_get(seen, name) != NULL) {
            continue;
        }
        if (json_object_set_new(seen, name, json_true()) != 0
            || json_array_append_new(list, json_string(name)) != 0)
        {
            return -1;
        }
    }
    return 0;
}


int
bc_template_missing(json_t *missing, const char *name)
{
    size_t   i;
    json_t  *m;

    if (missing == NULL) {
        return 0;
    }
    json_array_foreach(missing, i, m) {
        if (strcmp(json_string_value(m), name) == 0) {
            return 0;
        }
    }
    return json_array_append_new(missing, json_string(name));
}


/* appends n bytes to the growing buffer; 0 or -1 */
static int
bc_template_put(char **buf, size_t *len, size_t *cap, const char *s,
    size_t n)
{
    char    *p;
    size_t   c;

    if (*len + n + 1 > *cap) {
        c = *cap * 2 > *len + n + 256 ? *cap * 2 : *len + n + 256;
        p = realloc(*buf, c);
        if (p == NULL) {
            return -1;
        }
        *buf = p;
        *cap = c;
    }
    if (n > 0) {
        memcpy(*buf + *len, s, n);
    }
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}


int
bc_template_render(const char *s, size_t len, json_t *vals, json_t *missing,
    char **out, size_t *outlen)
{
    char         name[BC_TEMPLATE_VAR_MAX + 1];
    size_t       at = 0, start, end, n, nlen, cap = 0, tlen;
    json_t      *v;
    const char  *text;

    *out = NULL;
    *outlen = 0;
    if (bc_template_put(out, outlen, &cap, "", 0) != 0) {
        return -1;
    }
    while (bc_template_next(s, len, at, &start, &end, &n, &nlen)) {
        memcpy(name, s + n, nlen);
        name[nlen] = '\0';
        v = json_object_get(vals, name);
        if (json_is_string(v)) {
            text = json_string_value(v);
            tlen = json_string_length(v);
        } else {
            /* kept as written, so a preview shows where the gap is */
            text = s + start;
            tlen = end - start;
            if (bc_template_missing(missing, name) != 0) {
                goto failed;
            }
        }
        if (bc_template_put(out, outlen, &cap, s + at, start - at) != 0
            || bc_template_put(out, outlen, &cap, text, tlen) != 0)
        {
            goto failed;
        }
        at = end;
    }
    if (bc_template_put(out, outlen, &cap, s + at, len - at) == 0) {
        return 0;
    }
failed:
    free(*out);
    *out = NULL;
    *outlen = 0;
    return -1;
}


/* members whose string value is JSON text (Twilio's content_variables):
   a value pasted into it raw would break it at its first '"' or '\\' */
static const char  *bc_template_json_text_keys[] = {
    "content_variables", NULL
};

static int
bc_template_json_text_key(const char *key)
{
    size_t  i;

    for (i = 0; bc_template_json_text_keys[i] != NULL; i++) {
        if (strcmp(key, bc_template_json_text_keys[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* a string of JSON text: parsed, each string inside it rendered, written
   back compact, so every value is JSON-escaped; a string that is not JSON
   is rendered as text */
static json_t *
bc_template_render_json_text(json_t *v, json_t *vals, json_t *missing)
{
    json_t  *parsed, *rendered, *r;
    char    *text;

    if (!json_is_string(v)) {
        return bc_template_render_json(v, vals, missing);
    }
    parsed = json_loadb(json_string_value(v), json_string_length(v),
                        JSON_DECODE_ANY, NULL);
    if (parsed == NULL) {
        return bc_template_render_json(v, vals, missing);
    }
    rendered = bc_template_render_json(parsed, vals, missing);
    json_decref(parsed);
    if (rendered == NULL) {
        return NULL;
    }
    text = json_dumps(rendered, JSON_COMPACT | JSON_PRESERVE_ORDER
                                | JSON_ENCODE_ANY);
    json_decref(rendered);
    if (text == NULL) {
        return NULL;
    }
    r = json_string_nocheck(text);
    free(text);
    return r;
}


json_t *
bc_template_render_json(json_t *v, json_t *vals, json_t *missing)
{
    json_t      *copy, *item, *r;
    const char  *key;
    size_t       i, len;
    char        *text;

    switch (json_typeof(v)) {
    case JSON_STRING:
        if (bc_template_render(json_string_value(v), json_string_length(v),
                               vals, missing, &text, &len) != 0)
        {
            return NULL;
        }
        r = json_stringn_nocheck(text, len);
        free(text);
        return r;
    case JSON_OBJECT:
        copy = json_object();
        if (copy == NULL) {
            return NULL;
        }
        json_object_foreach(v, key, item) {
            r = bc_template_json_text_key(key)
                ? bc_template_render_json_text(item, vals, missing)
                : bc_template_render_json(item, vals, missing);
            if (r == NULL || json_object_set_new(copy, key, r) != 0)
            {
                json_decref(copy);
                return NULL;
            }
        }
        return copy;
    case JSON_ARRAY:
        copy = json_array();
        if (copy == NULL) {
            return NULL;
        }
        json_array_foreach(v, i, item) {
            r = bc_template_render_json(item, vals, missing);
            if (r == NULL || json_array_append_new(copy, r) != 0)
            {
                json_decref(copy);
                return NULL;
            }
        }
        return copy;
    default:
        return json_deep_copy(v);
    }
}


json_t *
bc_template_text(json_t *v)
{
    char  num[64];

    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_incref(v);
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        return json_string(num);
    case JSON_REAL:
        snprintf(num, sizeof(num), "%.15g", json_real_value(v));
        return json_string(num);
    case JSON_TRUE:
        return json_string("true");
    case JSON_FALSE:
        return json_string("false");
    default:
        return NULL;
    }
}

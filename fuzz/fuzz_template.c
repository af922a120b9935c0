/*
 * libFuzzer target: bc_template_next, _names, _render, _render_json and
 * _text (common/bc_template.c), what a template's author and a contact's
 * attributes control.
 * Input: template text, a NUL, then a JSON document: the variables when
 * it is an object, and (whatever it is) a value for render_json.
 * Invariants:
 *   - every placeholder _next finds lies inside the text, after the last
 *     one, with a name of 1..BC_TEMPLATE_VAR_MAX name characters inside it
 *   - render with no variables gives the text back byte for byte and lists
 *     as missing exactly what _names lists
 *   - render with the variables equals the text with each placeholder
 *     replaced by its string value (or kept), NUL-terminated at outlen
 *   - content_variables that was JSON text stays JSON text after
 *     render_json, whatever the values hold
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bc_template.h"
#include "fuzz_field.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static int
name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_' || c == '.';
}


/* the expected rendering, built from _next alone; NULL if out of memory */
static char *
expect_render(const char *s, size_t len, json_t *vals, size_t *outlen)
{
    size_t       at = 0, start, end, name, nlen, n = 0, k;
    char        *buf, key[BC_TEMPLATE_VAR_MAX + 1];
    json_t      *v;
    size_t       cap = len + 1;

    /* each value may be long: size it first */
    while (bc_template_next(s, len, at, &start, &end, &name, &nlen)) {
        memcpy(key, s + name, nlen);
        key[nlen] = '\0';
        v = json_object_get(vals, key);
        cap += json_is_string(v) ? json_string_length(v) : 0;
        at = end;
    }

    buf = malloc(cap);
    if (buf == NULL) {
        return NULL;
    }

    at = 0;
    while (bc_template_next(s, len, at, &start, &end, &name, &nlen)) {
        memcpy(buf + n, s + at, start - at);
        n += start - at;
        memcpy(key, s + name, nlen);
        key[nlen] = '\0';
        v = json_object_get(vals, key);
        if (json_is_string(v)) {
            k = json_string_length(v);
            memcpy(buf + n, json_string_value(v), k);
        } else {
            k = end - start;
            memcpy(buf + n, s + start, k);
        }
        n += k;
        at = end;
    }
    memcpy(buf + n, s + at, len - at);
    n += len - at;
    *outlen = n;
    return buf;
}


static void
check_next(const char *s, size_t len)
{
    size_t  at = 0, start, end, name, nlen, i;

    while (bc_template_next(s, len, at, &start, &end, &name, &nlen)) {
        if (start < at || end > len || start >= end || name < start + 2
            || name + nlen + 2 > end || nlen == 0
            || nlen > BC_TEMPLATE_VAR_MAX
            || s[start] != '{' || s[start + 1] != '{'
            || s[end - 1] != '}' || s[end - 2] != '}')
        {
            abort();
        }
        for (i = 0; i < nlen; i++) {
            if (!name_char(s[name + i])) {
                abort();
            }
        }
        at = end;
    }
}


static void
check_render(const char *s, size_t len, json_t *vals)
{
    json_t  *none, *missing, *names, *seen;
    char    *out, *want;
    size_t   outlen, wantlen;

    none = json_object();
    missing = json_array();
    names = json_array();
    seen = json_object();

    if (none && missing && names && seen
        && bc_template_render(s, len, none, missing, &out, &outlen) == 0)
    {
        if (outlen != len || memcmp(out, s, len) != 0 || out[outlen] != '\0') {
            abort();   /* nothing to fill: the text as written */
        }
        free(out);
        if (bc_template_names(s, len, names, seen) == 0
            && !json_equal(names, missing))
        {
            abort();   /* missing is the names, each once, in order */
        }
    }

    if (vals != NULL
        && bc_template_render(s, len, vals, NULL, &out, &outlen) == 0)
    {
        want = expect_render(s, len, vals, &wantlen);
        if (want != NULL) {
            if (wantlen != outlen || memcmp(want, out, outlen) != 0
                || out[outlen] != '\0')
            {
                abort();
            }
            free(want);
        }
        free(out);
    }

    json_decref(none);
    json_decref(missing);
    json_decref(names);
    json_decref(seen);
}


static void
check_json(json_t *doc, json_t *vals)
{
    json_t      *missing, *r, *text, *w;
    const char  *k;
    json_t      *v;

    missing = json_array();
    r = bc_template_render_json(doc, vals, missing);

    /* Twilio's content_variables: JSON text in, JSON text out */
    if (r != NULL && json_is_object(doc)) {
        text = json_object_get(doc, "content_variables");
        if (json_is_string(text)) {
            w = json_loads(json_string_value(text), JSON_DECODE_ANY, NULL);
            if (w != NULL) {
                json_decref(w);
                w = json_loads(json_string_value(
                        json_object_get(r, "content_variables")),
                        JSON_DECODE_ANY, NULL);
                if (w == NULL) {
                    abort();
                }
                json_decref(w);
            }
        }
    }

    json_decref(r);
    json_decref(missing);

    if (json_is_object(doc)) {
        json_object_foreach(doc, k, v) {
            json_decref(bc_template_text(v));
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t  *p = data;
    size_t          left = size, tlen, jlen;
    char           *text, *js;
    json_t         *doc, *vals;

    text = field(&p, &left, &tlen);
    if (text == NULL) {
        return 0;
    }
    js = field(&p, &left, &jlen);
    if (js == NULL) {
        free(text);
        return 0;
    }

    check_next(text, tlen);

    doc = json_loadb(js, jlen, JSON_DECODE_ANY, NULL);
    vals = json_is_object(doc) ? doc : NULL;

    check_render(text, tlen, vals);

    if (doc != NULL) {
        check_json(doc, vals != NULL ? vals : json_object_get(doc, "vars"));
        /* the template text itself as a document's string value */
        json_t *wrap = json_pack("{s:s%}", "content_variables", text, tlen);
        if (wrap != NULL) {
            check_json(wrap, vals);
            json_decref(wrap);
        }
    }

    json_decref(doc);
    free(text);
    free(js);
    return 0;
}

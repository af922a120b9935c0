/*
 * libFuzzer target: bc_json_fields (common/bc_json.c), the streaming
 * reader of providers' answers, checked against jansson's tree.
 * Input: one byte of output size (1..64), then the JSON text.
 * Invariants:
 *   - every out is NUL-terminated inside its size; all "" on -1
 *   - when both readers take the text as one object: a string member
 *     (no NUL in it) reads as its bytes if they fit, else ""; a null,
 *     boolean, object or array member and an absent one read as ""; an
 *     integer reads as its digits
 *   - a text jansson takes as one object is taken, unless it holds a raw
 *     NUL byte (yajl is more lenient otherwise:
 *     a lone "\udc00" is read as the bytes ED B0 80, which is why the
 *     sender's ledger repairs what it writes, bc_utf8_repair)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bc_json.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char  *names[] = {
    "sid", "status", "error_code", "message", "id", "a", "", "x_y"
};
#define NFIELDS  (sizeof(names) / sizeof(names[0]))


static void
check_member(json_t *v, const char *out, size_t size)
{
    if (v == NULL || json_is_null(v) || json_is_boolean(v)
        || json_is_object(v) || json_is_array(v))
    {
        if (out[0] != '\0') {
            abort();
        }
    } else if (json_is_string(v)) {
        size_t  n = json_string_length(v);

        if (memchr(json_string_value(v), '\0', n) != NULL) {
            return;
        }
        if (n < size ? strcmp(out, json_string_value(v)) != 0
                     : out[0] != '\0')
        {
            abort();
        }
    } else if (json_is_integer(v)) {
        /* "-0" and the like are written as they came: compare values */
        if (out[0] != '\0' && strtoll(out, NULL, 10) != json_integer_value(v))
        {
            abort();
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bc_json_field_t   f[NFIELDS];
    char             *copy, *outs;
    size_t            osize, i, len;
    int               rc;
    json_t           *doc;
    json_error_t      jerr;

    if (size < 1) {
        return 0;
    }
    osize = 1 + data[0] % 64;
    len = size - 1;

    copy = malloc(len ? len : 1);   /* exact size: ASan sees an overread */
    outs = malloc(NFIELDS * osize);
    if (copy == NULL || outs == NULL) {
        free(copy);
        free(outs);
        return 0;
    }
    memcpy(copy, data + 1, len);
    memset(outs, 'z', NFIELDS * osize);

    for (i = 0; i < NFIELDS; i++) {
        f[i].name = names[i];
        f[i].out = outs + i * osize;
        f[i].size = osize;
    }

    rc = bc_json_fields(copy, len, f, NFIELDS);

    for (i = 0; i < NFIELDS; i++) {
        if (memchr(f[i].out, '\0', osize) == NULL
            || (rc != 0 && f[i].out[0] != '\0'))
        {
            abort();
        }
    }

    doc = json_loadb(copy, len, JSON_ALLOW_NUL, &jerr);
    if (rc == 0 && json_is_object(doc)) {
        for (i = 0; i < NFIELDS; i++) {
            check_member(json_object_get(doc, names[i]), f[i].out, osize);
        }
    }
    /* (jansson passes over a raw NUL byte outside strings; yajl does not) */
    if (json_is_object(doc) && rc != 0 && memchr(copy, '\0', len) == NULL) {
        abort();
    }

    json_decref(doc);
    free(copy);
    free(outs);
    return 0;
}

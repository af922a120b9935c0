/*
 * libFuzzer target: bc_media_type_is (common/bc_media.c), the Content-Type
 * rule of every body the module takes.
 * Input: a selector byte (which media type), then the header value.
 * Invariants, from RFC 9110 8.3.1 as bc_media.h states it: a match is
 * optional blanks, the type (any case), optional blanks, then the end or
 * ';'; so a match stays one with any parameters appended, and the type
 * followed by a token character never matches.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bc_media.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char  *types[] = {
    "application/json", "text/csv", "application/csv", "text/plain",
    "multipart/form-data", "application/x-www-form-urlencoded"
};
#define NTYPES  (sizeof(types) / sizeof(types[0]))


static int
reference(const char *v, size_t len, const char *type)
{
    size_t  i = 0, t = strlen(type);

    while (i < len && (v[i] == ' ' || v[i] == '\t')) {
        i++;
    }
    if (len - i < t || strncasecmp(v + i, type, t) != 0) {
        return 0;
    }
    i += t;
    while (i < len && (v[i] == ' ' || v[i] == '\t')) {
        i++;
    }
    return i == len || v[i] == ';';
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char  *type;
    char        *v, *w, tok[64];
    size_t       len, tlen;
    int          got;

    if (size < 1) {
        return 0;
    }
    type = types[data[0] % NTYPES];
    len = size - 1;
    v = malloc(len ? len : 1);        /* exact size: ASan sees an overread */
    w = malloc(len + 16);
    if (v == NULL || w == NULL) {
        free(v);
        free(w);
        return 0;
    }
    memcpy(v, data + 1, len);

    got = bc_media_type_is(v, len, type);
    if (got != reference(v, len, type)) {
        abort();
    }

    /* parameters appended to a match keep it one */
    memcpy(w, v, len);
    memcpy(w + len, ";charset=x", 10);
    if (got && !bc_media_type_is(w, len + 10, type)) {
        abort();
    }
    /* a token character right after the type is another type */
    tlen = strlen(type);
    memcpy(tok, type, tlen);
    tok[tlen] = (char) ('a' + data[0] % 26);
    if (bc_media_type_is(tok, tlen + 1, type)) {
        abort();
    }

    free(v);
    free(w);
    return 0;
}

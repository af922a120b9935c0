/*
 * What the libFuzzer targets that split their input into \0 separated
 * fields share.
 */
#ifndef FUZZ_FIELD_H
#define FUZZ_FIELD_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


/* next field up to a NUL (or the end) as an exact-size heap copy */
static char *
field(const uint8_t **p, size_t *left, size_t *len)
{
    const uint8_t  *end;
    size_t          n;
    char           *s;

    end = memchr(*p, 0, *left);
    n = end ? (size_t) (end - *p) : *left;

    s = malloc(n ? n : 1);
    if (s == NULL) {
        return NULL;
    }

    memcpy(s, *p, n);
    *len = n;
    *p += end ? n + 1 : n;
    *left -= end ? n + 1 : n;

    return s;
}

#endif /* FUZZ_FIELD_H */

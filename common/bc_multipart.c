/* memmem */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <string.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>

#include "bc_multipart.h"


int
bc_mp_boundary(const char *ct, size_t len, char *out)
{
    const char  *p, *end = ct + len;
    size_t       n;

    for (p = ct; p + 9 <= end; p++) {
        if (strncasecmp(p, "boundary=", 9) == 0
            && (p == ct || p[-1] == ';' || p[-1] == ' ' || p[-1] == '\t'))
        {
            break;
        }
    }

    if (p + 9 > end) {
        return -1;
    }

    p += 9;

    if (p < end && *p == '"') {
        p++;
        for (n = 0; p + n < end && p[n] != '"'; n++) { /* void */ }
        if (p + n == end) {
            return -1;
        }

    } else {
        for (n = 0; p + n < end && p[n] != ';' && p[n] != ' '
                    && p[n] != '\t'; n++)
        { /* void */ }
    }

    if (n == 0 || n > BC_MP_BOUNDARY_MAX || memchr(p, '\r', n)
        || memchr(p, '\n', n))
    {
        return -1;
    }

    memcpy(out, p, n);
    out[n] = '\0';

    return 0;
}


int
bc_mp_complete(const char *body, size_t len, const char *boundary)
{
    char         delim[BC_MP_BOUNDARY_MAX + 5];
    size_t       dl;
    const char  *p, *end = body + len, *h;

    dl = (size_t) snprintf(delim, sizeof(delim), "--%s", boundary);

    /* the first line is a delimiter (no preamble is sent by SendGrid) */
    if (len < dl + 2 || memcmp(body, delim, dl) != 0) {
        return 0;
    }

    for (p = body; ; ) {
        h = p + dl;

        if (end - h >= 2 && h[0] == '-' && h[1] == '-') {
            return 1;                           /* the closing delimiter */
        }

        if (end - h < 2 || h[0] != '\r' || h[1] != '\n') {
            return 0;
        }

        /* a part: its headers end with an empty line */
        if (memmem(h, (size_t) (end - h), "\r\n\r\n", 4) == NULL) {
            return 0;
        }

        /* the next delimiter starts a line */
        p = memmem(h, (size_t) (end - h), delim, dl);
        while (p != NULL && (p - body < 2 || p[-2] != '\r' || p[-1] != '\n')) {
            p = memmem(p + 1, (size_t) (end - p - 1), delim, dl);
        }

        if (p == NULL) {
            return 0;
        }
    }
}


char *
bc_mp_field(const char *body, size_t len, const char *boundary,
    const char *name)
{
    char         delim[BC_MP_BOUNDARY_MAX + 5], pat[128];
    size_t       dl, pl, i;
    const char  *p, *end = body + len, *h, *v, *ve, *e2;

    dl = (size_t) snprintf(delim, sizeof(delim), "--%s", boundary);
    pl = (size_t) snprintf(pat, sizeof(pat), "name=\"%s\"", name);

    for (p = memmem(body, len, delim, dl); p != NULL; ) {
        h = p + dl;
        if (end - h >= 2 && h[0] == '-' && h[1] == '-') {
            return NULL;                        /* the closing delimiter */
        }
        v = memmem(h, (size_t) (end - h), "\r\n\r\n", 4);
        if (v == NULL) {
            return NULL;
        }
        v += 4;
        ve = memmem(v, (size_t) (end - v), delim, dl);
        if (ve == NULL) {
            ve = end;
        }
        /* name="x" in this part's headers, not the end of another name */
        for (i = 1; h + i + pl <= v; i++) {
            if (memcmp(h + i, pat, pl) == 0
                && (h[i - 1] == ' ' || h[i - 1] == ';'))
            {
                e2 = ve;
                if (e2 - v >= 2 && e2[-2] == '\r' && e2[-1] == '\n') {
                    e2 -= 2;
                }
                return strndup(v, (size_t) (e2 - v));
            }
        }
        p = ve < end ? ve : NULL;
    }

    return NULL;
}

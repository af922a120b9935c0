/*
 * UTF-8 well-formedness (RFC 3629, table 3-7 of the Unicode standard).
 */
#include "bc_utf8.h"


/* length of the well-formed sequence at s (len > 0 bytes left), or 0 */
static size_t
bc_utf8_seq(const unsigned char *s, size_t len)
{
    unsigned char  c = s[0], lo = 0x80, hi = 0xbf;
    size_t         n, i;

    if (c < 0x80) {
        return 1;
    }

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;       /* no overlong forms */
        hi = c == 0xed ? 0x9f : 0xbf;       /* no surrogates */

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;       /* nothing above U+10FFFF */

    } else {
        return 0;
    }

    if (len < n || s[1] < lo || s[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}


size_t
bc_utf8_valid(const char *s, size_t len)
{
    const unsigned char  *p = (const unsigned char *) s;
    size_t                i = 0, n;

    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }

        n = bc_utf8_seq(p + i, len - i);
        if (n == 0) {
            break;
        }

        i += n;
    }

    return i;
}


size_t
bc_utf8_repair(char *s, size_t len)
{
    unsigned char  *p = (unsigned char *) s;
    size_t          i = 0, n, bad = 0;

    while (i < len) {
        n = p[i] < 0x80 ? 1 : bc_utf8_seq(p + i, len - i);

        if (n == 0) {
            /* one byte at a time: what follows may start a good one */
            p[i++] = '?';
            bad++;
            continue;
        }

        i += n;
    }

    return bad;
}

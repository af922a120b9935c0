/*
 * libFuzzer target: bc_utf8_valid, bc_utf8_repair (common/bc_utf8.c) and
 * bc_segments_count (common/bc_segments.c): callback bodies and message
 * texts as they reach utf8mb4 columns and the segment preview.
 * Invariants:
 *   - valid's prefix agrees with a reference decoder (RFC 3629)
 *   - repair turns exactly the bytes it counts into '?', leaves the rest,
 *     leaves a valid text alone, and what it leaves is valid
 *   - segments: counted iff valid; characters are the code points; GSM-7
 *     iff every one is in the alphabet; units are their septets or UTF-16
 *     units; segments 0 for nothing, 1 up to a single message, else
 *     between ceil(units / part) and ceil(units / (part - 1)) (a character
 *     is never split across parts)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bc_segments.h"
#include "bc_utf8.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* one well-formed sequence at s: its length (cp in *cp), or 0 */
static size_t
ref_decode(const unsigned char *s, size_t left, unsigned long *cp)
{
    size_t         n, i;
    unsigned long  c, min;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2; c = s[0] & 0x1f; min = 0x80;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3; c = s[0] & 0x0f; min = 0x800;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4; c = s[0] & 0x07; min = 0x10000;
    } else {
        return 0;
    }
    if (left < n) {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        return 0;
    }
    *cp = c;
    return n;
}


static size_t
ceil_div(size_t a, size_t b)
{
    return (a + b - 1) / b;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char           *s, *r;
    size_t          i, n, valid, prefix, replaced, changed;
    size_t          chars = 0, septets = 0, utf16 = 0, part, single;
    unsigned long   cp;
    int             gsm = 1, cost;
    bc_segments_t   seg;

    s = malloc(size ? size : 1);
    r = malloc(size ? size : 1);
    if (s == NULL || r == NULL) {
        free(s);
        free(r);
        return 0;
    }
    memcpy(s, data, size);
    memcpy(r, data, size);

    prefix = 0;
    for (i = 0; i < size; i += n) {
        n = ref_decode((const unsigned char *) s + i, size - i, &cp);
        if (n == 0) {
            break;
        }
        prefix = i + n;
        chars++;
        utf16 += cp > 0xffff ? 2 : 1;
        cost = bc_segments_gsm7_cost(cp);
        if (cost < 0 || cost > 2) {
            abort();
        }
        gsm &= cost != 0;
        septets += cost;
    }

    valid = bc_utf8_valid(s, size);
    if (valid != prefix) {
        abort();
    }

    replaced = bc_utf8_repair(r, size);
    changed = 0;
    for (i = 0; i < size; i++) {
        if (r[i] != s[i]) {
            if (r[i] != '?') {
                abort();
            }
            changed++;
        }
    }
    /* a '?' written over a '?' is impossible: '?' is well-formed */
    if (changed != replaced || (valid == size && replaced != 0)
        || bc_utf8_valid(r, size) != size
        || (valid < size && replaced == 0))
    {
        abort();
    }

    if (bc_segments_count(s, size, &seg) != 0) {
        if (valid == size) {
            abort();
        }
    } else {
        if (valid != size || seg.characters != chars
            || seg.encoding != (gsm ? BC_SEGMENTS_GSM7 : BC_SEGMENTS_UCS2)
            || seg.units != (gsm ? septets : utf16))
        {
            abort();
        }
        single = gsm ? BC_SEGMENTS_GSM7_SINGLE : BC_SEGMENTS_UCS2_SINGLE;
        part = gsm ? BC_SEGMENTS_GSM7_PART : BC_SEGMENTS_UCS2_PART;
        if (seg.units == 0 ? seg.segments != 0
            : seg.units <= single ? seg.segments != 1
            : seg.segments < ceil_div(seg.units, part)
              || seg.segments > ceil_div(seg.units, part - 1))
        {
            abort();
        }
        if (strcmp(bc_segments_encoding_name(seg.encoding),
                   gsm ? "GSM-7" : "UCS-2") != 0)
        {
            abort();
        }
    }

    free(s);
    free(r);
    return 0;
}

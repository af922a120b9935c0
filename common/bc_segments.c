/*
 * SMS segment counting. A concatenated message never splits an escape
 * sequence (GSM-7 extension character) nor a surrogate pair (UCS-2) over
 * two parts: the handset could not reassemble them, so a character that
 * does not fit whole moves to the next part, as the carriers count it.
 */
#include "bc_segments.h"

#include "bc_utf8.h"


/* the default alphabet outside ASCII, by code point (GSM 03.38 6.2.1) */
static const unsigned short  bc_gsm7_basic[] = {
    0x00a1, 0x00a3, 0x00a4, 0x00a5, 0x00a7, 0x00bf, 0x00c4, 0x00c5,
    0x00c6, 0x00c7, 0x00c9, 0x00d1, 0x00d6, 0x00d8, 0x00dc, 0x00df,
    0x00e0, 0x00e4, 0x00e5, 0x00e6, 0x00e8, 0x00e9, 0x00ec, 0x00f1,
    0x00f2, 0x00f6, 0x00f8, 0x00f9, 0x00fc, 0x0393, 0x0394, 0x0398,
    0x039b, 0x039e, 0x03a0, 0x03a3, 0x03a6, 0x03a8, 0x03a9
};

/* the extension table: an escape septet, then the character's */
static const unsigned short  bc_gsm7_ext[] = {
    0x000c, 0x005b, 0x005c, 0x005d, 0x005e, 0x007b, 0x007c, 0x007d,
    0x007e, 0x20ac
};


static int
bc_segments_in(const unsigned short *t, size_t n, unsigned long cp)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (t[i] == cp) {
            return 1;
        }
    }

    return 0;
}


int
bc_segments_gsm7_cost(unsigned long cp)
{
    if (bc_segments_in(bc_gsm7_ext, sizeof(bc_gsm7_ext)
                       / sizeof(bc_gsm7_ext[0]), cp))
    {
        return 2;
    }

    /* printable ASCII is in the alphabet but for the extension's and '`' */
    if ((cp >= 0x20 && cp < 0x7f && cp != 0x60) || cp == '\n' || cp == '\r') {
        return 1;
    }

    return bc_segments_in(bc_gsm7_basic, sizeof(bc_gsm7_basic)
                          / sizeof(bc_gsm7_basic[0]), cp);
}


/* one code point of well-formed UTF-8 at s; its length in *n */
static unsigned long
bc_segments_decode(const unsigned char *s, size_t *n)
{
    if (s[0] < 0x80) {
        *n = 1;
        return s[0];
    }

    if (s[0] < 0xe0) {
        *n = 2;
        return ((s[0] & 0x1fUL) << 6) | (s[1] & 0x3f);
    }

    if (s[0] < 0xf0) {
        *n = 3;
        return ((s[0] & 0x0fUL) << 12) | ((s[1] & 0x3fUL) << 6)
               | (s[2] & 0x3f);
    }

    *n = 4;
    return ((s[0] & 0x07UL) << 18) | ((s[1] & 0x3fUL) << 12)
           | ((s[2] & 0x3fUL) << 6) | (s[3] & 0x3f);
}


/* the parts of a multi-part text: whole characters, packed greedily */
static size_t
bc_segments_pack(const char *s, size_t len, int ucs2, size_t part)
{
    size_t         i, n, used, parts;
    unsigned long  cp;
    size_t         w;

    parts = 1;
    used = 0;

    for (i = 0; i < len; i += n) {
        cp = bc_segments_decode((const unsigned char *) s + i, &n);
        w = ucs2 ? (cp > 0xffff ? 2 : 1) : (size_t) bc_segments_gsm7_cost(cp);

        if (used + w > part) {
            parts++;
            used = 0;
        }

        used += w;
    }

    return parts;
}


int
bc_segments_count(const char *s, size_t len, bc_segments_t *out)
{
    int            cost;
    size_t         i, n, septets, utf16, chars;
    unsigned long  cp;
    int            gsm;

    if (bc_utf8_valid(s, len) != len) {
        return -1;
    }

    septets = 0;
    utf16 = 0;
    chars = 0;
    gsm = 1;

    for (i = 0; i < len; i += n) {
        cp = bc_segments_decode((const unsigned char *) s + i, &n);
        chars++;
        utf16 += (cp > 0xffff) ? 2 : 1;

        cost = bc_segments_gsm7_cost(cp);
        if (cost == 0) {
            gsm = 0;
        }

        septets += cost;
    }

    out->characters = chars;
    out->encoding = gsm ? BC_SEGMENTS_GSM7 : BC_SEGMENTS_UCS2;
    out->units = gsm ? septets : utf16;

    if (out->units == 0) {
        out->segments = 0;

    } else if (out->units <= (gsm ? BC_SEGMENTS_GSM7_SINGLE
                                  : BC_SEGMENTS_UCS2_SINGLE))
    {
        out->segments = 1;

    } else {
        out->segments = bc_segments_pack(s, len, !gsm,
                                         gsm ? BC_SEGMENTS_GSM7_PART
                                             : BC_SEGMENTS_UCS2_PART);
    }

    return 0;
}


const char *
bc_segments_encoding_name(int encoding)
{
    return encoding == BC_SEGMENTS_GSM7 ? "GSM-7" : "UCS-2";
}

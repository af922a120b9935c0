/*
 * SMS encoding and segment count, as carriers count them: the GSM 03.38
 * default alphabet (7-bit septets, its extension table costing an escape
 * plus the character), otherwise UCS-2 (UTF-16 code units). Pure C, no
 * allocation: used by the template preview and unit-tested alone.
 */
#ifndef BC_SEGMENTS_H
#define BC_SEGMENTS_H

#include <stddef.h>

#define BC_SEGMENTS_GSM7        0
#define BC_SEGMENTS_UCS2        1

/* one message / each part of a concatenated one (the rest is the UDH) */
#define BC_SEGMENTS_GSM7_SINGLE  160
#define BC_SEGMENTS_GSM7_PART    153
#define BC_SEGMENTS_UCS2_SINGLE  70
#define BC_SEGMENTS_UCS2_PART    67

typedef struct {
    int     encoding;     /* BC_SEGMENTS_GSM7 or BC_SEGMENTS_UCS2 */
    size_t  characters;   /* Unicode code points */
    size_t  units;        /* septets (GSM-7) or UTF-16 code units (UCS-2) */
    size_t  segments;     /* 0 for an empty text */
} bc_segments_t;

/* the septets a code point costs in GSM-7: 1, 2 (extension table), or 0
   when it is not in the alphabet at all */
int bc_segments_gsm7_cost(unsigned long cp);

/* counts s[0..len) (UTF-8); 0, or -1 when s is not well-formed UTF-8 */
int bc_segments_count(const char *s, size_t len, bc_segments_t *out);

/* "GSM-7" or "UCS-2" */
const char *bc_segments_encoding_name(int encoding);

#endif /* BC_SEGMENTS_H */

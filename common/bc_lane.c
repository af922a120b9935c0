/*
 * Lanes (bc_lane.h): key names and the lane of an id or a value.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>

#include "bc_lane.h"

static const char  bc_lane_crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";


int
bc_lane_key(char *out, size_t size, const char *family, unsigned lane,
    const char *fmt, ...)
{
    va_list  ap;
    int      n, m;

    n = lane == 0 ? snprintf(out, size, "bc:{%s}:", family)
                  : snprintf(out, size, "bc:{%s:%u}:", family, lane);
    if (n < 0 || (size_t) n >= size) {
        return -1;
    }

    va_start(ap, fmt);
    m = vsnprintf(out + n, size - (size_t) n, fmt, ap);
    va_end(ap);

    if (m < 0 || (size_t) m >= size - (size_t) n) {
        return -1;
    }

    return n + m;
}


/* the value of one Crockford base32 character (either case, and the
   letters it reads as digits); 0 for anything else */
static unsigned
bc_lane_crockford_value(char c)
{
    unsigned  v;

    if (c >= 'a' && c <= 'z') {
        c = (char) (c - 'a' + 'A');
    }
    if (c == 'O') {
        return 0;
    }
    if (c == 'I' || c == 'L') {
        return 1;
    }
    for (v = 0; v < 32; v++) {
        if (bc_lane_crockford[v] == c) {
            return v;
        }
    }
    return 0;
}


unsigned
bc_lane_of_id(const char *id, size_t len, unsigned lanes)
{
    lanes = bc_lanes_n(lanes);
    if (lanes == 1 || len == 0) {
        return 0;
    }
    return bc_lane_crockford_value(id[len - 1]) % lanes;
}


void
bc_lane_set_id(char *id, size_t len, unsigned lane)
{
    if (len > 0) {
        id[len - 1] = bc_lane_crockford[lane % BC_LANES_MAX];
    }
}


unsigned
bc_lane_of_str(const char *s, size_t len, unsigned lanes)
{
    uint32_t  h = 2166136261u;
    size_t    i;

    lanes = bc_lanes_n(lanes);
    if (lanes == 1) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        h ^= (unsigned char) s[i];
        h *= 16777619u;
    }
    return h % lanes;
}


int
bc_wawin_key(char *out, size_t size, unsigned lanes, const char *from,
    size_t from_len, const char *peer, size_t peer_len)
{
    char      pair[512];
    int       n;

    n = snprintf(pair, sizeof(pair), "%.*s:%.*s", (int) from_len, from,
                 (int) peer_len, peer);
    if (n < 0 || (size_t) n >= sizeof(pair)) {
        return -1;
    }

    return bc_lane_key(out, size, BC_LANE_EVENTS,
                       bc_lane_of_str(pair, (size_t) n, lanes),
                       BC_SFX_WAWIN "%s", pair);
}

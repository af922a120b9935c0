/*
 * broadcast-sim: small helpers (time, randomness, SMS segments, logging,
 * ids and header lists the providers' parts share).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "bc_sig.h"
#include "sim.h"

int64_t
sim_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* xorshift128+ per thread, seeded from RAND_bytes */
static _Thread_local uint64_t rs[2];
static _Thread_local int      rs_seeded;

static uint64_t
sim_rand64(void)
{
    uint64_t s1, s0;

    if (!rs_seeded) {
        if (RAND_bytes((unsigned char *) rs, sizeof(rs)) != 1) {
            rs[0] = (uint64_t) sim_now_ms() ^ (uint64_t) (uintptr_t) &rs;
            rs[1] = 0x9e3779b97f4a7c15ULL;
        }
        if (rs[0] == 0 && rs[1] == 0) {
            rs[1] = 1;
        }
        rs_seeded = 1;
    }
    s1 = rs[0];
    s0 = rs[1];
    rs[0] = s0;
    s1 ^= s1 << 23;
    rs[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return rs[1] + s0;
}

double
sim_rand01(void)
{
    return (double) (sim_rand64() >> 11) / 9007199254740992.0;
}

int
sim_rand_hex(char *out, size_t nhex)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char     buf[64];
    size_t            nbytes = (nhex + 1) / 2, i;

    if (nbytes > sizeof(buf) || RAND_bytes(buf, (int) nbytes) != 1) {
        return -1;
    }
    for (i = 0; i < nhex; i++) {
        unsigned char b = buf[i / 2];
        out[i] = hex[(i & 1) ? (b & 0x0f) : (b >> 4)];
    }
    out[nhex] = '\0';
    return 0;
}

/*
 * Identifiers (sids, idempotency tokens) need to be unique, not secret:
 * a per-thread splitmix64 stream seeded once from RAND_bytes costs a few
 * ns, where RAND_bytes took 4% of the simulator's CPU in the end-to-end
 * benchmark. Secrets (tokens, keys) still come from sim_rand_hex().
 */
int
sim_id_hex(char *out, size_t nhex)
{
    static const char         hex[] = "0123456789abcdef";
    static __thread uint64_t  state;
    static __thread int       seeded;
    uint64_t                  z = 0;
    size_t                    i;

    if (!seeded) {
        if (RAND_bytes((unsigned char *) &state, sizeof(state)) != 1) {
            return -1;
        }
        seeded = 1;
    }
    for (i = 0; i < nhex; i++) {
        if (i % 16 == 0) {
            z = (state += 0x9e3779b97f4a7c15ULL);
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            z ^= z >> 31;
        }
        out[i] = hex[z & 0x0f];
        z >>= 4;
    }
    out[nhex] = '\0';
    return 0;
}

void
sim_rfc2822(int64_t ms, char out[40])
{
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri",
                                 "Sat"};
    static const char *mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t    t = (time_t) (ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d +0000",
        days[tm.tm_wday], tm.tm_mday, mons[tm.tm_mon], tm.tm_year + 1900,
        tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void
sim_iso8601(int64_t ms, char out[80])
{
    time_t    t = (time_t) (ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(out, 80, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
        tm.tm_sec, (int) (ms % 1000));
}

/* decodes one UTF-8 code point; returns bytes consumed (>= 1) */
static size_t
utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xe0) == 0xc0 && len >= 2) {
        *cp = ((uint32_t) (s[0] & 0x1f) << 6) | (s[1] & 0x3f);
        return 2;
    }
    if ((s[0] & 0xf0) == 0xe0 && len >= 3) {
        *cp = ((uint32_t) (s[0] & 0x0f) << 12)
            | ((uint32_t) (s[1] & 0x3f) << 6) | (s[2] & 0x3f);
        return 3;
    }
    if ((s[0] & 0xf8) == 0xf0 && len >= 4) {
        *cp = ((uint32_t) (s[0] & 0x07) << 18)
            | ((uint32_t) (s[1] & 0x3f) << 12)
            | ((uint32_t) (s[2] & 0x3f) << 6) | (s[3] & 0x3f);
        return 4;
    }
    *cp = 0xfffd;
    return 1;
}

/* GSM 03.38 basic set (non-ASCII-identical members listed explicitly) */
static int
gsm_septets(uint32_t cp)
{
    static const uint32_t basic_extra[] = {
        0x00a3, 0x00a5, 0x00e8, 0x00e9, 0x00f9, 0x00ec, 0x00f2, 0x00c7,
        0x00d8, 0x00f8, 0x00c5, 0x00e5, 0x0394, 0x03a6, 0x0393, 0x039b,
        0x03a9, 0x03a0, 0x03a8, 0x03a3, 0x0398, 0x039e, 0x00c6, 0x00e6,
        0x00df, 0x00c9, 0x00a4, 0x00a1, 0x00c4, 0x00d6, 0x00d1, 0x00dc,
        0x00a7, 0x00bf, 0x00e4, 0x00f6, 0x00f1, 0x00fc, 0x00e0
    };
    size_t i;

    if (cp == '\n' || cp == '\r') {
        return 1;
    }
    if (cp == '^' || cp == '{' || cp == '}' || cp == '\\' || cp == '['
        || cp == '~' || cp == ']' || cp == '|' || cp == 0x20ac
        || cp == '\f')
    {
        return 2;
    }
    if (cp >= 0x20 && cp < 0x7f && cp != '`') {
        return 1;
    }
    for (i = 0; i < sizeof(basic_extra) / sizeof(basic_extra[0]); i++) {
        if (basic_extra[i] == cp) {
            return 1;
        }
    }
    return 0;
}

int
sim_segments(const char *body, size_t len)
{
    const unsigned char *p = (const unsigned char *) body;
    size_t               i = 0, septets = 0, units = 0;
    int                  gsm = 1;

    while (i < len) {
        uint32_t cp;
        int      s;

        i += utf8_next(p + i, len - i, &cp);
        s = gsm_septets(cp);
        if (s == 0) {
            gsm = 0;
        }
        septets += (size_t) s;
        units += cp > 0xffff ? 2 : 1;
    }
    if (len == 0) {
        return 1;
    }
    if (gsm) {
        return septets <= 160 ? 1 : (int) ((septets + 152) / 153);
    }
    return units <= 70 ? 1 : (int) ((units + 66) / 67);
}

void
sim_log(const char *fmt, ...)
{
    char    buf[1024], ts[80];
    va_list ap;
    int     n;

    sim_iso8601(sim_now_ms(), ts);
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    fprintf(stderr, "%s broadcast-sim: %s\n", ts, buf);
}

/* base64url (no padding) of n random bytes */
int
sim_rand_b64url(char *out, size_t outlen, size_t n)
{
    char   hex[130];
    unsigned char raw[64];
    char   b64[100];
    size_t i, l;

    if (n > sizeof(raw) || sim_rand_hex(hex, 2 * n) != 0) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        char h[3] = {hex[2 * i], hex[2 * i + 1], 0};
        raw[i] = (unsigned char) strtoul(h, NULL, 16);
    }
    l = bc_base64_encode(raw, n, b64, sizeof(b64));
    while (l > 0 && b64[l - 1] == '=') {
        l--;
    }
    if (l + 1 > outlen) {
        return -1;
    }
    for (i = 0; i < l; i++) {
        out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    }
    out[l] = '\0';
    return 0;
}

void
sim_digits_only(const char *in, char *out, size_t outlen)
{
    size_t n = 0;

    for (; *in && n + 1 < outlen; in++) {
        if (*in >= '0' && *in <= '9') {
            out[n++] = *in;
        }
    }
    out[n] = '\0';
}

struct curl_slist *
sim_headers(const char *first, ...)
{
    struct curl_slist *l = NULL, *n;
    va_list            ap;
    const char        *h;

    va_start(ap, first);
    for (h = first; h != NULL; h = va_arg(ap, const char *)) {
        n = curl_slist_append(l, h);
        if (n == NULL) {
            curl_slist_free_all(l);
            va_end(ap);
            return NULL;
        }
        l = n;
    }
    va_end(ap);
    return l;
}

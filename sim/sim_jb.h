/*
 * broadcast-sim: a tiny JSON writer for the answers built field by field
 * (Twilio's message objects, /sim/messages, /sim/config). Header-only so
 * the per-request writes stay inlined in every file that builds answers.
 */
#ifndef SIM_JB_H
#define SIM_JB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* makes *p (capacity *cap) hold at least need bytes, doubling from *cap,
   or from first while *cap is 0; -1 if out of memory (*p, *cap kept) */
static inline int
sim_grow(char **p, size_t *cap, size_t need, size_t first)
{
    size_t  ncap = *cap ? *cap : first;
    char   *np;

    while (ncap < need) {
        ncap *= 2;
    }
    np = realloc(*p, ncap);
    if (np == NULL) {
        return -1;
    }
    *p = np;
    *cap = ncap;
    return 0;
}

typedef struct {
    char   *p;
    size_t  len, cap;
    int     oom;
} jb_t;

static inline void
jb_raw(jb_t *b, const char *s, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->len + n + 1 > b->cap
        && sim_grow(&b->p, &b->cap, b->len + n + 1, 1024) != 0)
    {
        b->oom = 1;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static inline void
jb_s(jb_t *b, const char *s)
{
    jb_raw(b, s, strlen(s));
}

static inline void
jb_str(jb_t *b, const char *s)
{
    const char *start = s;

    jb_raw(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        char          esc[8];
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        jb_raw(b, start, (size_t) (s - start));
        start = s + 1;
        switch (c) {
        case '"': jb_raw(b, "\\\"", 2); break;
        case '\\': jb_raw(b, "\\\\", 2); break;
        case '\n': jb_raw(b, "\\n", 2); break;
        case '\r': jb_raw(b, "\\r", 2); break;
        case '\t': jb_raw(b, "\\t", 2); break;
        default:
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            jb_raw(b, esc, 6);
        }
    }
    jb_raw(b, start, (size_t) (s - start));
    jb_raw(b, "\"", 1);
}

/* "key": */
static inline void
jb_key(jb_t *b, const char *k)
{
    if (b->len > 0 && b->p[b->len - 1] != '{' && b->p[b->len - 1] != '[') {
        jb_raw(b, ",", 1);
    }
    jb_str(b, k);
    jb_raw(b, ":", 1);
}

static inline void
jb_kstr(jb_t *b, const char *k, const char *v)
{
    jb_key(b, k);
    if (v == NULL) {
        jb_raw(b, "null", 4);
    } else {
        jb_str(b, v);
    }
}

static inline void
jb_knum(jb_t *b, const char *k, long long v)
{
    char n[32];

    jb_key(b, k);
    snprintf(n, sizeof(n), "%lld", v);
    jb_s(b, n);
}

#endif /* SIM_JB_H */

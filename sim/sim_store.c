/*
 * broadcast-sim: the thread-safe message store (acceptance-ordered vector
 * plus an open-addressing hash by sid), the per-sender rate limiter and the
 * magic-number memory.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static pthread_mutex_t  store_lock = PTHREAD_MUTEX_INITIALIZER;
static sim_msg_t      **vec;
static size_t           vec_n, vec_cap;
static sim_msg_t      **tab;         /* open addressing, NULL = empty */
static size_t           tab_cap;     /* power of two */

static uint64_t
hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    while (*s) {
        h ^= (unsigned char) *s++;
        h *= 1099511628211ULL;
    }
    return h;
}

int
sim_store_init(void)
{
    tab_cap = 1 << 16;
    tab = calloc(tab_cap, sizeof(*tab));
    vec_cap = 1 << 16;
    vec = malloc(vec_cap * sizeof(*vec));
    if (tab == NULL || vec == NULL) {
        return -1;
    }
    return 0;
}

static void
tab_insert(sim_msg_t **t, size_t cap, sim_msg_t *m)
{
    size_t i = (size_t) hash_str(m->sid) & (cap - 1);

    while (t[i] != NULL) {
        i = (i + 1) & (cap - 1);
    }
    t[i] = m;
}

static sim_msg_t *
tab_find(const char *sid)
{
    size_t i = (size_t) hash_str(sid) & (tab_cap - 1);

    while (tab[i] != NULL) {
        if (strcmp(tab[i]->sid, sid) == 0) {
            return tab[i];
        }
        i = (i + 1) & (tab_cap - 1);
    }
    return NULL;
}

void
sim_store_add(sim_msg_t *m)
{
    pthread_mutex_lock(&store_lock);
    if (vec_n == vec_cap) {
        sim_msg_t **nv = realloc(vec, vec_cap * 2 * sizeof(*vec));
        if (nv == NULL) {
            pthread_mutex_unlock(&store_lock);
            free(m);
            return;
        }
        vec = nv;
        vec_cap *= 2;
    }
    if ((vec_n + 1) * 2 > tab_cap) {
        size_t      ncap = tab_cap * 2, i;
        sim_msg_t **nt = calloc(ncap, sizeof(*nt));
        if (nt == NULL) {
            pthread_mutex_unlock(&store_lock);
            free(m);
            return;
        }
        for (i = 0; i < vec_n; i++) {
            tab_insert(nt, ncap, vec[i]);
        }
        free(tab);
        tab = nt;
        tab_cap = ncap;
    }
    vec[vec_n++] = m;
    tab_insert(tab, tab_cap, m);
    pthread_mutex_unlock(&store_lock);
}

sim_msg_t *
sim_store_get_copy(const char *sid)
{
    sim_msg_t *m, *c = NULL;

    pthread_mutex_lock(&store_lock);
    m = tab_find(sid);
    if (m != NULL) {
        c = sim_msg_dup(m);
    }
    pthread_mutex_unlock(&store_lock);
    return c;
}

void
sim_store_set_status(const char *sid, const char *status, int error_code,
    const char *error_message)
{
    sim_msg_t *m;

    pthread_mutex_lock(&store_lock);
    m = tab_find(sid);
    if (m != NULL) {
        m->status = status;
        m->updated_ms = sim_now_ms();
        if (strcmp(status, "sent") == 0 && m->sent_ms == 0) {
            m->sent_ms = m->updated_ms;
        }
        if (error_code) {
            m->error_code = error_code;
            m->error_message = error_message;
        }
    }
    pthread_mutex_unlock(&store_lock);
}

static void
store_clear_locked(void)
{
    size_t i;

    for (i = 0; i < vec_n; i++) {
        free(vec[i]);
    }
    vec_n = 0;
    memset(tab, 0, tab_cap * sizeof(*tab));
}

void
sim_store_reset(void)
{
    pthread_mutex_lock(&store_lock);
    store_clear_locked();
    pthread_mutex_unlock(&store_lock);
}

size_t
sim_store_count(void)
{
    size_t n;

    pthread_mutex_lock(&store_lock);
    n = vec_n;
    pthread_mutex_unlock(&store_lock);
    return n;
}

void
sim_store_foreach(int rev, int (*fn)(const sim_msg_t *, void *), void *arg)
{
    size_t i;

    pthread_mutex_lock(&store_lock);
    if (rev) {
        for (i = vec_n; i > 0; i--) {
            if (fn(vec[i - 1], arg) != 0) {
                break;
            }
        }
    } else {
        for (i = 0; i < vec_n; i++) {
            if (fn(vec[i], arg) != 0) {
                break;
            }
        }
    }
    pthread_mutex_unlock(&store_lock);
}

sim_msg_t *
sim_msg_new(const char *to, const char *from, const char *mss,
    const char *body, const char *status_callback, const char *extra)
{
    size_t     lt = strlen(to) + 1, lf = strlen(from) + 1,
               lm = strlen(mss) + 1, lb = strlen(body) + 1,
               lc = strlen(status_callback) + 1, le = strlen(extra) + 1;
    sim_msg_t *m = calloc(1, sizeof(*m) + lt + lf + lm + lb + lc + le);
    char      *p;

    if (m == NULL) {
        return NULL;
    }
    m->provider = &sim_provider_twilio;
    m->channel = "sms";
    p = (char *) (m + 1);
    m->to = memcpy(p, to, lt);
    p += lt;
    m->from = memcpy(p, from, lf);
    p += lf;
    m->mss = memcpy(p, mss, lm);
    p += lm;
    m->body = memcpy(p, body, lb);
    p += lb;
    m->status_callback = memcpy(p, status_callback, lc);
    p += lc;
    m->extra = memcpy(p, extra, le);
    return m;
}

sim_msg_t *
sim_msg_dup(const sim_msg_t *m)
{
    sim_msg_t *c = sim_msg_new(m->to, m->from, m->mss, m->body,
        m->status_callback, m->extra);

    if (c != NULL) {
        memcpy(c->sid, m->sid, sizeof(c->sid));
        c->provider = m->provider;
        c->channel = m->channel;
        c->fail_code = m->fail_code;
        c->fail_message = m->fail_message;
        c->status = m->status;
        c->error_code = m->error_code;
        c->error_message = m->error_message;
        c->num_segments = m->num_segments;
        c->num_media = m->num_media;
        c->created_ms = m->created_ms;
        c->updated_ms = m->updated_ms;
        c->sent_ms = m->sent_ms;
    }
    return c;
}

/* ---- 24 h windows (last inbound per sender/user pair) ---- */

#define WIN_BUCKETS 256

typedef struct win_s {
    struct win_s *next;
    int64_t       last_ms;
    char          key[];
} win_t;

static pthread_mutex_t  win_lock = PTHREAD_MUTEX_INITIALIZER;
static win_t           *wins[WIN_BUCKETS];

void
sim_window_touch(const char *key, int64_t now_ms)
{
    size_t  b = (size_t) hash_str(key) & (WIN_BUCKETS - 1);
    win_t  *w;

    pthread_mutex_lock(&win_lock);
    for (w = wins[b]; w != NULL; w = w->next) {
        if (strcmp(w->key, key) == 0) {
            break;
        }
    }
    if (w == NULL) {
        size_t l = strlen(key) + 1;
        w = malloc(sizeof(*w) + l);
        if (w == NULL) {
            pthread_mutex_unlock(&win_lock);
            return;
        }
        memcpy(w->key, key, l);
        w->next = wins[b];
        wins[b] = w;
    }
    w->last_ms = now_ms;
    pthread_mutex_unlock(&win_lock);
}

int
sim_window_open(const char *key, int64_t now_ms)
{
    size_t  b = (size_t) hash_str(key) & (WIN_BUCKETS - 1);
    win_t  *w;
    int     open = 0;

    pthread_mutex_lock(&win_lock);
    for (w = wins[b]; w != NULL; w = w->next) {
        if (strcmp(w->key, key) == 0) {
            open = now_ms - w->last_ms < 24LL * 3600 * 1000;
            break;
        }
    }
    pthread_mutex_unlock(&win_lock);
    return open;
}

void
sim_window_reset(void)
{
    size_t  i;
    win_t  *w, *n;

    pthread_mutex_lock(&win_lock);
    for (i = 0; i < WIN_BUCKETS; i++) {
        for (w = wins[i]; w != NULL; w = n) {
            n = w->next;
            free(w);
        }
        wins[i] = NULL;
    }
    pthread_mutex_unlock(&win_lock);
}

/* ---- per-sender token buckets ---- */

#define RATE_BUCKETS 1024

typedef struct rate_s {
    struct rate_s *next;
    double         tokens;
    int64_t        last_ms;
    char           sender[];
} rate_t;

static pthread_mutex_t  rate_lock = PTHREAD_MUTEX_INITIALIZER;
static rate_t          *rates[RATE_BUCKETS];
static int              magic_seen;
static _Atomic uint64_t throttled;    /* rate-limit answers given */

void
sim_throttle_note(void)
{
    atomic_fetch_add(&throttled, 1);
}

uint64_t
sim_throttle_count(void)
{
    return atomic_load(&throttled);
}

int
sim_rate_allow(const char *sender, long rate, int64_t now_ms)
{
    size_t  b = (size_t) hash_str(sender) & (RATE_BUCKETS - 1);
    rate_t *r;
    int     ok = 0;

    if (rate <= 0) {
        return 1;
    }
    pthread_mutex_lock(&rate_lock);
    for (r = rates[b]; r != NULL; r = r->next) {
        if (strcmp(r->sender, sender) == 0) {
            break;
        }
    }
    if (r == NULL) {
        size_t l = strlen(sender) + 1;
        r = malloc(sizeof(*r) + l);
        if (r == NULL) {
            pthread_mutex_unlock(&rate_lock);
            return 1;
        }
        memcpy(r->sender, sender, l);
        r->tokens = (double) rate;
        r->last_ms = now_ms;
        r->next = rates[b];
        rates[b] = r;
    }
    r->tokens += (double) (now_ms - r->last_ms) * (double) rate / 1000.0;
    r->last_ms = now_ms;
    if (r->tokens > (double) rate) {
        r->tokens = (double) rate;
    }
    if (r->tokens >= 1.0) {
        r->tokens -= 1.0;
        ok = 1;
    }
    pthread_mutex_unlock(&rate_lock);
    if (!ok) {
        sim_throttle_note();
    }
    return ok;
}

int
sim_magic_first_seen(void)
{
    int first;

    pthread_mutex_lock(&rate_lock);
    first = !magic_seen;
    magic_seen = 1;
    pthread_mutex_unlock(&rate_lock);
    return first;
}

static void
rate_clear_locked(void)
{
    size_t  i;
    rate_t *r, *n;

    for (i = 0; i < RATE_BUCKETS; i++) {
        for (r = rates[i]; r != NULL; r = n) {
            n = r->next;
            free(r);
        }
        rates[i] = NULL;
    }
    magic_seen = 0;
    atomic_store(&throttled, 0);
}

void
sim_rate_reset(void)
{
    pthread_mutex_lock(&rate_lock);
    rate_clear_locked();
    pthread_mutex_unlock(&rate_lock);
}

void
sim_store_free(void)
{
    pthread_mutex_lock(&store_lock);
    store_clear_locked();
    free(vec);
    free(tab);
    vec = NULL;
    tab = NULL;
    vec_cap = tab_cap = 0;
    pthread_mutex_unlock(&store_lock);
    sim_rate_reset();
    sim_window_reset();
}

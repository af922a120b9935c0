/*
 * broadcast-sim: the callback thread. One thread owns a libcurl multi handle
 * (keep-alive, connection reuse) and a min-heap of timed events: status
 * progressions of accepted messages, arbitrary signed form POSTs (inbound
 * SMS) and resumptions of suspended HTTP connections (latency simulation).
 * The HTTP server threads only push events; they never wait for callbacks.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "bc_form.h"
#include "bc_sig.h"
#include "sim.h"

enum { EV_MSG, EV_POST, EV_RESUME, EV_RAW, EV_FN };

typedef struct ev_s {
    int64_t                 due;
    uint64_t                seq;
    int                     kind;
    int                     phase;       /* EV_MSG: 0 sent, 1 final */
    int                     attempt;
    uint64_t                gen;
    sim_msg_t              *msg;         /* EV_MSG: owned snapshot */
    const char             *final_status;
    int                     error_code;
    const char             *error_message;
    char                   *url;         /* EV_POST: owned */
    char                   *body;        /* prepared request, owned */
    size_t                  body_len;
    char                    sig[BC_TWILIO_SIG_LEN + 1];
    char                    idem[80];
    struct MHD_Connection  *conn;        /* EV_RESUME */
    struct curl_slist      *headers;     /* owned list, or hdr[] */
    struct curl_slist       hdr[6];      /* submit()'s list, no heap */
    char                    hsig[sizeof("X-Twilio-Signature: ")
                                 + BC_TWILIO_SIG_LEN];
    char                    hidem[sizeof("I-Twilio-Idempotency-Token: ")
                                  + 80];
    CURL                   *easy;
    char                   *set_sid;     /* EV_RAW: store update on run */
    const char             *set_status;
    int                     set_code;
    const char             *set_msg;
    struct ev_s            *next;        /* EV_RAW: chained follow-up */
    void                  (*fn)(void);   /* EV_FN */
    struct ev_s            *fl_prev, *fl_next;   /* in-flight list */
} ev_t;

/* frees the header list unless it is the event's embedded one */
static void
ev_drop_headers(ev_t *ev)
{
    if (ev->headers != NULL && ev->headers != ev->hdr) {
        curl_slist_free_all(ev->headers);
    }
    ev->headers = NULL;
}

static pthread_mutex_t  cb_lock = PTHREAD_MUTEX_INITIALIZER;
typedef struct {
    ev_t   **a;
    size_t   n, cap;
} heap_t;

#define MAX_INFLIGHT  128

static heap_t           hq;          /* callbacks and status progressions */
static heap_t           hr;          /* connection resumptions */
static uint64_t         seq_next;
static _Atomic uint64_t cur_gen;
static CURLM           *multi;
static pthread_t        cb_thread;
static _Atomic int      cb_stop_flag;
static int              cb_running;

static CURL           **easy_pool;
static size_t           easy_pool_n, easy_pool_cap;
static size_t           inflight;
static ev_t            *fl_head;

static _Atomic uint64_t st_sent, st_failed, st_retried, st_pending;

static int
ev_less(const ev_t *a, const ev_t *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

/* under cb_lock; returns 1 if ev became the earliest */
static int
heap_push(ev_t *ev)
{
    heap_t *h = ev->kind == EV_RESUME ? &hr : &hq;
    size_t  i;

    if (h->n == h->cap) {
        size_t  ncap = h->cap ? h->cap * 2 : 4096;
        ev_t  **nh = realloc(h->a, ncap * sizeof(*nh));
        if (nh == NULL) {
            return -1;
        }
        h->a = nh;
        h->cap = ncap;
    }
    ev->seq = seq_next++;
    i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_less(ev, h->a[p])) {
            break;
        }
        h->a[i] = h->a[p];
        i = p;
    }
    h->a[i] = ev;
    return i == 0;
}

static ev_t *
heap_pop(heap_t *h)
{
    ev_t   *top, *last;
    size_t  i = 0;

    if (h->n == 0) {
        return NULL;
    }
    top = h->a[0];
    last = h->a[--h->n];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const ev_t *mv = last;
        if (l < h->n && ev_less(h->a[l], mv)) {
            m = l;
            mv = h->a[l];
        }
        if (r < h->n && ev_less(h->a[r], mv)) {
            m = r;
        }
        if (m == i) {
            break;
        }
        h->a[i] = h->a[m];
        i = m;
    }
    if (h->n > 0) {
        h->a[i] = last;
    }
    return top;
}

static void
ev_free(ev_t *ev)
{
    if (ev == NULL) {
        return;
    }
    sim_post_free(ev->next);
    free(ev->set_sid);
    free(ev->msg);
    free(ev->url);
    free(ev->body);
    ev_drop_headers(ev);
    free(ev);
    atomic_fetch_sub(&st_pending, 1);
}

static int
schedule(ev_t *ev, long delay_ms)
{
    int first;

    ev->due = sim_now_ms() + (delay_ms > 0 ? delay_ms : 0);
    pthread_mutex_lock(&cb_lock);
    if (!cb_running || atomic_load(&cb_stop_flag)) {
        pthread_mutex_unlock(&cb_lock);
        return -1;
    }
    first = heap_push(ev);
    pthread_mutex_unlock(&cb_lock);
    if (first < 0) {
        return -1;
    }
    if (first == 1 && multi != NULL) {
        curl_multi_wakeup(multi);
    }
    return 0;
}

static ev_t *ev_new(int kind);

sim_post_t *
sim_post_new(const char *url, char *body, size_t len, void *headers)
{
    ev_t *ev = ev_new(EV_RAW);

    if (ev == NULL || (ev->url = strdup(url)) == NULL) {
        free(body);
        curl_slist_free_all(headers);
        ev_free(ev);
        return NULL;
    }
    ev->body = body;
    ev->body_len = len;
    ev->headers = headers;
    return ev;
}

int
sim_post_set_status(sim_post_t *p, const char *sid, const char *status,
    int code, const char *msg)
{
    free(p->set_sid);
    p->set_sid = strdup(sid);
    p->set_status = status;
    p->set_code = code;
    p->set_msg = msg;
    return p->set_sid ? 0 : -1;
}

void
sim_post_chain(sim_post_t *first, sim_post_t *next)
{
    while (first->next != NULL) {
        first = first->next;
    }
    first->next = next;
}

void
sim_post_free(sim_post_t *p)
{
    ev_free(p);
}

/* schedules ev, or frees it: either way the caller no longer owns it */
static int
schedule_or_free(ev_t *ev, long delay_ms)
{
    if (schedule(ev, delay_ms) != 0) {
        ev_free(ev);
        return -1;
    }
    return 0;
}

int
sim_post_schedule(sim_post_t *p, long delay_ms)
{
    return schedule_or_free(p, delay_ms);
}

int
sim_cb_schedule_fn(void (*fn)(void), long delay_ms)
{
    ev_t *ev = ev_new(EV_FN);

    if (ev == NULL) {
        return -1;
    }
    ev->fn = fn;
    return schedule_or_free(ev, delay_ms);
}

static ev_t *
ev_new(int kind)
{
    ev_t *ev = calloc(1, sizeof(*ev));

    if (ev != NULL) {
        ev->kind = kind;
        ev->gen = atomic_load(&cur_gen);
        atomic_fetch_add(&st_pending, 1);
    }
    return ev;
}

int
sim_cb_schedule_message(sim_msg_t *m, long delay_ms)
{
    ev_t *ev = ev_new(EV_MSG);

    if (ev == NULL) {
        free(m);
        return -1;
    }
    ev->msg = m;
    return schedule_or_free(ev, delay_ms);
}

int
sim_cb_schedule_post(const char *url, const bc_kv_t *params, size_t nparams,
    long delay_ms)
{
    ev_t    *ev = ev_new(EV_POST);
    bc_kv_t *kv;
    size_t   len = 0, cap = 0, i;

    if (ev == NULL) {
        return -1;
    }
    ev->url = strdup(url);
    kv = malloc((nparams ? nparams : 1) * sizeof(*kv));
    if (ev->url == NULL || kv == NULL) {
        free(kv);
        ev_free(ev);
        return -1;
    }
    memcpy(kv, params, nparams * sizeof(*kv));
    for (i = 0; i < nparams; i++) {
        char name[256];
        size_t nl = params[i].name_len < sizeof(name) - 1
                        ? params[i].name_len : sizeof(name) - 1;
        memcpy(name, params[i].name, nl);
        name[nl] = '\0';
        if (bc_form_append(&ev->body, &len, &cap, name, params[i].value,
                params[i].value_len) != 0)
        {
            free(kv);
            ev_free(ev);
            return -1;
        }
    }
    ev->body_len = len;
    if (bc_twilio_sign(sim_auth_token, strlen(sim_auth_token), url,
            strlen(url), kv, nparams, ev->sig) != 0)
    {
        free(kv);
        ev_free(ev);
        return -1;
    }
    free(kv);
    if (sim_id_hex(ev->idem, 32) != 0 || schedule(ev, delay_ms) != 0) {
        ev_free(ev);
        return -1;
    }
    return 0;
}

int
sim_cb_schedule_resume(struct MHD_Connection *conn, long delay_ms)
{
    ev_t *ev = ev_new(EV_RESUME);

    if (ev == NULL) {
        return -1;
    }
    ev->conn = conn;
    return schedule_or_free(ev, delay_ms);
}

void
sim_cb_clear(void)
{
    atomic_fetch_add(&cur_gen, 1);
}

void
sim_cb_stats(uint64_t *sent, uint64_t *failed, uint64_t *pending,
    uint64_t *retried)
{
    *sent = atomic_load(&st_sent);
    *failed = atomic_load(&st_failed);
    *pending = atomic_load(&st_pending);
    *retried = atomic_load(&st_retried);
}

/* ---- the thread ---- */

static size_t
discard_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void) ptr;
    (void) ud;
    return size * nmemb;
}

static CURL *
easy_get(void)
{
    CURL *e;

    if (easy_pool_n > 0) {
        /* a pooled handle keeps its fixed options (set once below); only
         * the per-request ones are set again in submit() */
        return easy_pool[--easy_pool_n];
    }
    e = curl_easy_init();
    if (e != NULL) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_cb);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 15000L);
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        /* webhooks go straight to the deployment under test; and libcurl
           then skips reading the proxy variables on every transfer */
        curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    }
    return e;
}

static void
easy_put(CURL *e)
{
    if (easy_pool_n == easy_pool_cap) {
        size_t  ncap = easy_pool_cap ? easy_pool_cap * 2 : 64;
        CURL  **np = realloc(easy_pool, ncap * sizeof(*np));
        if (np == NULL) {
            curl_easy_cleanup(e);
            return;
        }
        easy_pool = np;
        easy_pool_cap = ncap;
    }
    easy_pool[easy_pool_n++] = e;
}

static const char *
ev_url(const ev_t *ev)
{
    return ev->kind == EV_MSG ? ev->msg->status_callback : ev->url;
}

static int
submit(ev_t *ev)
{
    CURL *e = easy_get();

    if (e == NULL) {
        return -1;
    }
    if (ev->headers == NULL) {
        /* the same six headers as before, in the same order, as a list
           embedded in the event (libcurl only reads it) */
        static char ct[] = "Content-Type: application/x-www-form-urlencoded",
                    ua[] = "User-Agent: TwilioProxy/1.1",
                    ac[] = "Accept: */*",
                    ex[] = "Expect:";
        snprintf(ev->hsig, sizeof(ev->hsig), "X-Twilio-Signature: %s",
            ev->sig);
        snprintf(ev->hidem, sizeof(ev->hidem),
            "I-Twilio-Idempotency-Token: %s", ev->idem);
        ev->hdr[0].data = ct;
        ev->hdr[1].data = ua;
        ev->hdr[2].data = ac;
        ev->hdr[3].data = ex;
        ev->hdr[4].data = ev->hsig;
        ev->hdr[5].data = ev->hidem;
        for (int i = 0; i < 5; i++) {
            ev->hdr[i].next = &ev->hdr[i + 1];
        }
        ev->hdr[5].next = NULL;
        ev->headers = ev->hdr;
    }
    curl_easy_setopt(e, CURLOPT_URL, ev_url(ev));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, ev->body ? ev->body : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long) ev->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, ev->headers);
    curl_easy_setopt(e, CURLOPT_PRIVATE, ev);
    ev->easy = e;
    if (curl_multi_add_handle(multi, e) != CURLM_OK) {
        ev->easy = NULL;
        easy_put(e);
        return -1;
    }
    inflight++;
    ev->fl_prev = NULL;
    ev->fl_next = fl_head;
    if (fl_head) {
        fl_head->fl_prev = ev;
    }
    fl_head = ev;
    return 0;
}

/* builds the form body and signature of the current phase of a message */
static int
prepare_status(ev_t *ev, const char *status)
{
    const sim_msg_t *m = ev->msg;
    bc_kv_t          kv[20];
    size_t           n = 0, len = 0, cap = 0, i;
    char             code[16], price[24], segs[16];
    int              final = ev->phase >= 1,
                     wa = strcmp(m->channel, "whatsapp") == 0;
    const char      *from = m->from[0] ? m->from : SIM_DEFAULT_FROM;

#define KV(nm, val)  sim_kv_add(kv, &n, nm, val)

    KV("AccountSid", sim_account_sid);
    KV("ApiVersion", "2010-04-01");
    if (wa) {
        KV("ChannelPrefix", "whatsapp");
        KV("ChannelToAddress", bc_wa_strip(m->to));
    }
    if (final && ev->error_code) {
        snprintf(code, sizeof(code), "%d", ev->error_code);
        KV("ErrorCode", code);
        KV("ErrorMessage", ev->error_message);
    }
    KV("From", from);
    KV("MessageSid", m->sid);
    KV("MessageStatus", status);
    if (m->mss[0]) {
        KV("MessagingServiceSid", m->mss);
    }
    if (final) {
        snprintf(segs, sizeof(segs), "%d", m->num_segments);
        KV("NumSegments", segs);
        if (strcmp(status, "failed") == 0) {
            snprintf(price, sizeof(price), "0.00000");
        } else {
            snprintf(price, sizeof(price), "-%d.%05d",
                (m->num_segments * 790) / 100000,
                (m->num_segments * 790) % 100000);
        }
        KV("Price", price);
        KV("PriceUnit", "USD");
    }
    KV("SmsSid", m->sid);
    KV("SmsStatus", status);
    KV("To", m->to);
#undef KV

    /* one allocation of a size that fits a status callback (the form
       grows it if ever needed) */
    free(ev->body);
    ev->body = malloc(1024);
    if (ev->body == NULL) {
        return -1;
    }
    cap = 1024;
    for (i = 0; i < n; i++) {
        if (bc_form_append(&ev->body, &len, &cap, kv[i].name, kv[i].value,
                kv[i].value_len) != 0)
        {
            return -1;
        }
    }
    ev->body_len = len;
    if (bc_twilio_sign(sim_auth_token, strlen(sim_auth_token),
            m->status_callback, strlen(m->status_callback), kv, n, ev->sig)
        != 0)
    {
        return -1;
    }
    ev_drop_headers(ev);
    if (sim_id_hex(ev->idem, 32) != 0) {
        return -1;
    }
    return 0;
}

static void cb_after(ev_t *ev, int ok);

/* an event came due */
static void
run_event(ev_t *ev)
{
    sim_opts_t o;
    const char *status;

    if (ev->kind == EV_RESUME) {
        MHD_resume_connection(ev->conn);
        ev_free(ev);
        return;
    }
    if (ev->kind == EV_FN) {
        ev->fn();
        ev_free(ev);
        return;
    }
    if (ev->gen != atomic_load(&cur_gen)) {
        ev_free(ev);
        return;
    }
    if (ev->kind == EV_POST || (ev->kind == EV_MSG && ev->body != NULL)) {
        /* first attempt of a POST, or a retry of a prepared request */
        if (submit(ev) != 0) {
            cb_after(ev, 0);
        }
        return;
    }

    if (ev->kind == EV_RAW) {
        if (ev->set_sid != NULL) {
            sim_store_set_status(ev->set_sid, ev->set_status, ev->set_code,
                ev->set_msg);
        }
        if (submit(ev) != 0) {
            cb_after(ev, 0);
        }
        return;
    }

    /* EV_MSG: a new phase */
    if (ev->phase == 0 && ev->msg->fail_code) {
        /* asynchronous failure (WhatsApp outside the 24 h window) */
        ev->phase = 1;
        ev->final_status = status = "failed";
        ev->error_code = ev->msg->fail_code;
        ev->error_message = ev->msg->fail_message;
        sim_store_set_status(ev->msg->sid, status, ev->error_code,
            ev->error_message);
    } else if (ev->phase == 2) {
        status = "read";
        sim_store_set_status(ev->msg->sid, status, 0, NULL);
    } else if (ev->phase == 0) {
        status = "sent";
        sim_store_set_status(ev->msg->sid, status, 0, NULL);
    } else {
        double r = sim_rand01();
        sim_opts_get(&o);
        if (r < o.fail_ratio) {
            ev->final_status = "failed";
            ev->error_code = 30003;
            ev->error_message = "Unreachable destination handset";
        } else if (r < o.fail_ratio + o.undelivered_ratio) {
            ev->final_status = "undelivered";
            ev->error_code = 30005;
            ev->error_message = "Unknown destination handset";
        } else {
            ev->final_status = "delivered";
        }
        status = ev->final_status;
        sim_store_set_status(ev->msg->sid, status, ev->error_code,
            ev->error_message);
    }
    if (ev->msg->status_callback[0] == '\0') {
        cb_after(ev, 1);
        return;
    }
    ev->attempt = 0;
    if (prepare_status(ev, status) != 0 || submit(ev) != 0) {
        cb_after(ev, 0);
    }
}

/* back on the heap at ev->due, after a retry's backoff or for the next
   callback; -1 (ev still the caller's) if the heap cannot grow */
static int
requeue(ev_t *ev)
{
    int  rc;

    pthread_mutex_lock(&cb_lock);
    rc = heap_push(ev);
    pthread_mutex_unlock(&cb_lock);
    return rc >= 0 ? 0 : -1;
}

/* a request finished (or could not be made) */
static void
cb_after(ev_t *ev, int ok)
{
    sim_opts_t o;

    sim_opts_get(&o);
    if (!ok && ev->attempt < o.callback_retries
        && ev->gen == atomic_load(&cur_gen) && !atomic_load(&cb_stop_flag))
    {
        long backoff = 500L << (ev->attempt < 6 ? ev->attempt : 6);
        ev->attempt++;
        atomic_fetch_add(&st_retried, 1);
        ev->due = sim_now_ms() + backoff;
        if (requeue(ev) != 0) {
            ev_free(ev);
        }
        return;
    }
    if (ev->kind == EV_MSG && ev->msg->status_callback[0]) {
        if (ok) {
            atomic_fetch_add(&st_sent, 1);
        } else {
            atomic_fetch_add(&st_failed, 1);
            sim_log("callback %s %s to %s failed after %d attempt(s)",
                ev->msg->sid, ev->phase == 0 ? "sent" : ev->final_status,
                ev->msg->status_callback, ev->attempt + 1);
        }
    } else if (ev->kind == EV_POST || ev->kind == EV_RAW) {
        atomic_fetch_add(ok ? &st_sent : &st_failed, 1);
        if (!ok) {
            sim_log("POST to %s failed after %d attempt(s)", ev->url,
                ev->attempt + 1);
        }
    }
    if (ev->kind == EV_RAW && ev->next != NULL
        && ev->gen == atomic_load(&cur_gen) && !atomic_load(&cb_stop_flag))
    {
        ev_t *nx = ev->next;
        ev->next = NULL;
        nx->due = sim_now_ms() + o.callback_delay_ms;
        if (requeue(nx) != 0) {
            ev_free(nx);
        }
    }
    if (ev->kind == EV_MSG && (ev->phase == 0
            || (ev->phase == 1 && o.whatsapp_read
                && strcmp(ev->msg->channel, "whatsapp") == 0
                && ev->final_status != NULL
                && strcmp(ev->final_status, "delivered") == 0))
        && ev->gen == atomic_load(&cur_gen) && !atomic_load(&cb_stop_flag))
    {
        free(ev->body);
        ev->body = NULL;
        ev->body_len = 0;
        ev_drop_headers(ev);
        ev->phase++;
        ev->attempt = 0;
        ev->due = sim_now_ms() + o.callback_delay_ms;
        if (requeue(ev) == 0) {
            return;
        }
    }
    ev_free(ev);
}

static void
drain_done(void)
{
    CURLMsg *cm;
    int      left;

    while ((cm = curl_multi_info_read(multi, &left)) != NULL) {
        ev_t *ev = NULL;
        long  code = 0;
        int   ok;

        if (cm->msg != CURLMSG_DONE) {
            continue;
        }
        curl_easy_getinfo(cm->easy_handle, CURLINFO_PRIVATE, (char **) &ev);
        curl_easy_getinfo(cm->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        ok = cm->data.result == CURLE_OK && code >= 200 && code < 300;
        if (!ok && ev != NULL) {
            sim_log("callback to %s: %s (HTTP %ld), attempt %d",
                ev_url(ev), cm->data.result == CURLE_OK ? "rejected"
                : curl_easy_strerror(cm->data.result), code,
                ev->attempt + 1);
        }
        curl_multi_remove_handle(multi, cm->easy_handle);
        easy_put(cm->easy_handle);
        inflight--;
        if (ev != NULL) {
            if (ev->fl_prev) {
                ev->fl_prev->fl_next = ev->fl_next;
            } else {
                fl_head = ev->fl_next;
            }
            if (ev->fl_next) {
                ev->fl_next->fl_prev = ev->fl_prev;
            }
            ev->easy = NULL;
            cb_after(ev, ok);
        }
    }
}

static void *
cb_main(void *arg)
{
    (void) arg;

    while (!atomic_load(&cb_stop_flag)) {
        ev_t    *due[256];
        size_t   nd = 0, i;
        int64_t  now = sim_now_ms();
        int      timeout = 1000, running;

        pthread_mutex_lock(&cb_lock);
        while (hr.n > 0 && hr.a[0]->due <= now && nd < 256) {
            due[nd++] = heap_pop(&hr);
        }
        /* bounded in-flight: the backlog waits in the heap, not in curl */
        while (hq.n > 0 && hq.a[0]->due <= now && nd < 256
               && inflight + nd < MAX_INFLIGHT)
        {
            due[nd++] = heap_pop(&hq);
        }
        pthread_mutex_unlock(&cb_lock);
        for (i = 0; i < nd; i++) {
            run_event(due[i]);
        }
        curl_multi_perform(multi, &running);
        drain_done();
        if (nd == 256) {
            continue;
        }
        now = sim_now_ms();
        pthread_mutex_lock(&cb_lock);
        if (hr.n > 0) {
            int64_t d = hr.a[0]->due - now;
            timeout = d <= 0 ? 0 : d < timeout ? (int) d : timeout;
        }
        if (hq.n > 0 && inflight < MAX_INFLIGHT) {
            int64_t d = hq.a[0]->due - now;
            timeout = d <= 0 ? 0 : d < timeout ? (int) d : timeout;
        }
        pthread_mutex_unlock(&cb_lock);
        if (timeout > 0) {
            curl_multi_poll(multi, NULL, 0, timeout, NULL);
        }
    }
    return NULL;
}

int
sim_cb_start(void)
{
    multi = curl_multi_init();
    if (multi == NULL) {
        return -1;
    }
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64L);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 256L);
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long) CURLPIPE_NOTHING);
    cb_running = 1;
    if (pthread_create(&cb_thread, NULL, cb_main, NULL) != 0) {
        cb_running = 0;
        curl_multi_cleanup(multi);
        multi = NULL;
        return -1;
    }
    return 0;
}

/* stops the thread, resumes suspended connections, frees everything */
void
sim_cb_stop(void)
{
    ev_t   *ev;
    size_t  i;

    if (!cb_running) {
        return;
    }
    atomic_store(&cb_stop_flag, 1);
    curl_multi_wakeup(multi);
    pthread_join(cb_thread, NULL);

    pthread_mutex_lock(&cb_lock);
    cb_running = 0;
    while ((ev = heap_pop(&hr)) != NULL) {
        MHD_resume_connection(ev->conn);
        ev_free(ev);
    }
    while ((ev = heap_pop(&hq)) != NULL) {
        ev_free(ev);
    }
    free(hr.a);
    free(hq.a);
    memset(&hr, 0, sizeof(hr));
    memset(&hq, 0, sizeof(hq));
    pthread_mutex_unlock(&cb_lock);

    while ((ev = fl_head) != NULL) {
        fl_head = ev->fl_next;
        curl_multi_remove_handle(multi, ev->easy);
        curl_easy_cleanup(ev->easy);
        ev_free(ev);
    }
    inflight = 0;
    for (i = 0; i < easy_pool_n; i++) {
        curl_easy_cleanup(easy_pool[i]);
    }
    free(easy_pool);
    easy_pool = NULL;
    easy_pool_n = easy_pool_cap = 0;
    curl_multi_cleanup(multi);
    multi = NULL;
}

/*
 * broadcast-sim: a provider simulator standing in for Twilio (SMS and
 * WhatsApp), Meta's WhatsApp Cloud API and SendGrid.
 * Internal interfaces between the simulator's source files.
 */
#ifndef SIM_H
#define SIM_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bc_addr.h"
#include "bc_form.h"

#define SIM_SID_LEN       34          /* "SM"/"AC" + 32 hex */
#define SIM_TOKEN_LEN     32
#define SIM_ID_MAX        96          /* message ids: SM…, wamid.…, sg ids */

/* Twilio's test number: the SMS sender when a create names a messaging
 * service, and the default To of an inbound SMS */
#define SIM_DEFAULT_FROM  "+15005550006"

/* run-time options (POST /sim/config changes them) */
typedef struct {
    long     callback_delay_ms;
    double   fail_ratio;
    double   undelivered_ratio;
    long     rate_per_sender;     /* msgs/s per From, 0 = off */
    long     latency_ms;
    double   error_ratio;         /* 500s */
    long     callback_retries;
    int      whatsapp_window;     /* enforce the 24 h free-form window */
    int      whatsapp_read;       /* WhatsApp: delivered → read */
    long     meta_rate;           /* msgs/s per phone-number-id, 0 = off */
    double   sg_bounce_ratio;
    double   sg_dropped_ratio;
    double   sg_deferred_ratio;
    long     sg_batch;            /* max events per Event Webhook POST */
    long     sg_rate;             /* mail/send calls per 1 s window */
} sim_opts_t;

/* a provider the simulator plays (sim_http.h has the members) */
typedef struct sim_provider_s sim_provider_t;

/*
 * Every provider, in the order a request's path is matched against their
 * routes. Adding a provider is a file defining sim_provider_<name> (its
 * routes, inbound channels and /sim/messages fields) and a row here.
 */
#define SIM_PROVIDERS(X)                                                      \
    X(twilio)                                                                 \
    X(meta)                                                                   \
    X(sendgrid)

#define SIM_PROVIDER_DECLARE(name)                                            \
    extern const sim_provider_t sim_provider_##name;
SIM_PROVIDERS(SIM_PROVIDER_DECLARE)

/* one accepted message; strings live in the same allocation */
typedef struct sim_msg_s {
    char        sid[SIM_ID_MAX];
    const sim_provider_t *provider;
    const char *channel;          /* static: sms | whatsapp | email */
    const char *extra;            /* subject / ContentSid / template, "" */
    int         fail_code;        /* Twilio: fail asynchronously with this */
    const char *fail_message;
    const char *to;
    const char *from;             /* "" when a service is used */
    const char *mss;              /* MessagingServiceSid or "" */
    const char *body;
    const char *status_callback;  /* "" when none */
    const char *status;           /* static string, changes under the lock */
    int         error_code;       /* 0 = none */
    const char *error_message;    /* static or NULL */
    int         num_segments;
    int         num_media;
    int64_t     created_ms;
    int64_t     updated_ms;
    int64_t     sent_ms;          /* 0 = not sent */
} sim_msg_t;

/* ---- sim_util.c ---- */
int64_t sim_now_ms(void);
double sim_rand01(void);
int sim_rand_hex(char *out, size_t nhex);            /* NUL-terminates */
int sim_id_hex(char *out, size_t nhex);  /* unique, not secret; NUL-terminates */
void sim_rfc2822(int64_t ms, char out[40]);
void sim_iso8601(int64_t ms, char out[80]);
int sim_segments(const char *body, size_t len);
void sim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* base64url (no padding) of n random bytes; 0, or -1 if out is too small */
int sim_rand_b64url(char *out, size_t outlen, size_t n);
/* the decimal digits of in, in order */
void sim_digits_only(const char *in, char *out, size_t outlen);
/* a curl_slist of the header lines up to the NULL; NULL if out of memory */
struct curl_slist;
struct curl_slist *sim_headers(const char *first, ...);

/* kv[(*n)++] = name=value: a form field of a Twilio webhook */
static inline void
sim_kv_add(bc_kv_t *kv, size_t *n, const char *name, const char *value)
{
    kv[*n].name = name;
    kv[*n].name_len = strlen(name);
    kv[*n].value = value;
    kv[*n].value_len = strlen(value);
    (*n)++;
}

/* 1 if addr carries the "whatsapp:" prefix exactly as Twilio writes it */
static inline int
sim_wa_prefixed(const char *addr)
{
    return bc_wa_strip(addr) != addr;
}

/* ---- sim_store.c ---- */
int sim_store_init(void);
void sim_store_free(void);
/* takes ownership of m */
void sim_store_add(sim_msg_t *m);
/* a malloc'd snapshot of the message with that sid, or NULL */
sim_msg_t *sim_store_get_copy(const char *sid);
void sim_store_set_status(const char *sid, const char *status, int error_code,
    const char *error_message);
void sim_store_reset(void);
size_t sim_store_count(void);
/* calls fn for each message under the lock; newest first if rev */
void sim_store_foreach(int rev, int (*fn)(const sim_msg_t *, void *),
    void *arg);
/* a Twilio SMS message until the caller changes provider and channel;
 * extra is the subject, ContentSid or template name ("" for none) */
sim_msg_t *sim_msg_new(const char *to, const char *from, const char *mss,
    const char *body, const char *status_callback, const char *extra);
sim_msg_t *sim_msg_dup(const sim_msg_t *m);
/* 24 h customer-service windows: key is "provider|sender|user" */
void sim_window_touch(const char *key, int64_t now_ms);
int sim_window_open(const char *key, int64_t now_ms);
void sim_window_reset(void);
/* per-sender rate limiter: 1 allowed, 0 over the limit */
int sim_rate_allow(const char *sender, long rate, int64_t now_ms);
/* magic +15005550010: 1 the first time (answer 429), 0 afterwards */
int sim_magic_first_seen(void);
void sim_rate_reset(void);
/* rate-limit answers given (any provider), for /sim/health */
void sim_throttle_note(void);
uint64_t sim_throttle_count(void);

/* ---- sim_cb.c: the callback / timer thread ---- */
int sim_cb_start(void);
void sim_cb_stop(void);
/* schedules the status progression of an accepted message; takes
 * ownership of the snapshot m (freed on failure too) */
int sim_cb_schedule_message(sim_msg_t *m, long delay_ms);
/* schedules a signed form POST of arbitrary params (inbound SMS etc.) */
int sim_cb_schedule_post(const char *url, const bc_kv_t *params,
    size_t nparams, long delay_ms);
/* resumes a suspended MHD connection after delay_ms (latency simulation) */
struct MHD_Connection;
int sim_cb_schedule_resume(struct MHD_Connection *conn, long delay_ms);
/* a prepared POST (JSON webhooks etc.); chainable: the next one is
 * scheduled callback_delay_ms after the previous one finished */
typedef struct ev_s sim_post_t;
/* takes ownership of body (malloc'd) and headers (curl_slist *) */
sim_post_t *sim_post_new(const char *url, char *body, size_t len,
    void *headers);
/* on run: sim_store_set_status(sid, status, code, msg) */
int sim_post_set_status(sim_post_t *p, const char *sid, const char *status,
    int code, const char *msg);
void sim_post_chain(sim_post_t *first, sim_post_t *next);
/* takes ownership (frees on failure) */
int sim_post_schedule(sim_post_t *p, long delay_ms);
void sim_post_free(sim_post_t *p);
/* runs fn on the callback thread after delay_ms (not cleared by reset) */
int sim_cb_schedule_fn(void (*fn)(void), long delay_ms);
void sim_cb_clear(void);
void sim_cb_stats(uint64_t *sent, uint64_t *failed, uint64_t *pending,
    uint64_t *retried);

/* ---- sim_http.c ---- */
int sim_http_start(unsigned short port);
void sim_http_quiesce(void);
void sim_http_stop(void);
/* at exit: every provider's state */
void sim_providers_free(void);

/* ---- globals (sim_main.c) ---- */
extern char  sim_meta_access_token[128];
extern char  sim_meta_app_secret[128];
extern char  sim_meta_verify_token[128];
extern char  sim_meta_phone_number_id[32];
extern char  sim_meta_display_phone[32];
extern char  sim_meta_waba_id[32];

/* sim_meta_tpl.c: the Meta template catalogue */
const char *sim_meta_tpl_category(const char *name, const char *lang);
extern char  sim_sendgrid_api_key[160];
extern char  sim_sendgrid_inbound_auth[160];   /* user:password of the Parse URL */
extern char  sim_sg_pub[256];
extern char  sim_sg_priv[512];
extern void *sim_sg_key;              /* EVP_PKEY of sim_sg_priv */
extern char  sim_whatsapp_from[64];
extern char  sim_sendgrid_from[128];
extern char  sim_webhook_base[512];
extern char  sim_meta_webhook_url[600];
extern char  sim_sendgrid_webhook_url[600];

extern char  sim_account_sid[SIM_SID_LEN + 1];
extern char  sim_auth_token[128];
extern char  sim_base_url[64];

void sim_opts_get(sim_opts_t *out);
void sim_opts_set(const sim_opts_t *in);

#endif /* SIM_H */

/*
 * broadcast-sim: a provider simulator standing in for Twilio.
 * Internal interfaces between the simulator's source files.
 */
#ifndef SIM_H
#define SIM_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "bc_form.h"

#define SIM_SID_LEN       34          /* "SM"/"AC" + 32 hex */
#define SIM_TOKEN_LEN     32

/* run-time options (POST /sim/config changes them) */
typedef struct {
    long     callback_delay_ms;
    double   fail_ratio;
    double   undelivered_ratio;
    long     rate_per_sender;     /* msgs/s per From, 0 = off */
    long     latency_ms;
    double   error_ratio;         /* 500s */
    long     callback_retries;
} sim_opts_t;

/* one accepted message; strings live in the same allocation */
typedef struct sim_msg_s {
    char        sid[SIM_SID_LEN + 1];
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
void sim_rfc2822(int64_t ms, char out[40]);
void sim_iso8601(int64_t ms, char out[80]);
int sim_segments(const char *body, size_t len);
void sim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

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
sim_msg_t *sim_msg_new(const char *to, const char *from, const char *mss,
    const char *body, const char *status_callback);
sim_msg_t *sim_msg_dup(const sim_msg_t *m);
/* per-sender rate limiter: 1 allowed, 0 over the limit */
int sim_rate_allow(const char *sender, long rate, int64_t now_ms);
/* magic +15005550010: 1 the first time (answer 429), 0 afterwards */
int sim_magic_first_seen(void);
void sim_rate_reset(void);

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
void sim_cb_clear(void);
void sim_cb_stats(uint64_t *sent, uint64_t *failed, uint64_t *pending,
    uint64_t *retried);

/* ---- sim_http.c ---- */
int sim_http_start(unsigned short port);
void sim_http_quiesce(void);
void sim_http_stop(void);

/* ---- globals (sim_main.c) ---- */
extern char  sim_account_sid[SIM_SID_LEN + 1];
extern char  sim_auth_token[128];
extern char  sim_base_url[64];

void sim_opts_get(sim_opts_t *out);
void sim_opts_set(const sim_opts_t *in);

#endif /* SIM_H */

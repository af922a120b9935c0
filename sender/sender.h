/*
 * broadcast-sender: shared types of the daemon's modules.
 *
 * Three threads. The send loop (main.c): read jobs (queue.c) -> claim them in
 * the MySQL ledger (claim.c) -> call the provider (its description in
 * provider.c: twilio.c, meta.c, sendgrid.c, over http.c) -> commit results
 * (ledger.c) -> XACK + DEL (queue.c). The recorder thread (recorder.c)
 * records webhook events from bc:{ev}:stream:events (parsed by event*.c,
 * written by recorder_write.c; recorder.h). The campaign dispatcher
 * (campaign*.c, campaign.h) turns running campaigns into recipient rows and
 * queued jobs. They share nothing mutable but snd_stop: each has its own
 * snd_t (the others' are copies of the configuration without the provider
 * secrets), its own Redis and MySQL connections, and frees what it
 * allocates. The send stream and the events stream are independent (the
 * ledger and the status upsert are both forward-only), so their MySQL work
 * overlaps.
 */
#ifndef SENDER_H
#define SENDER_H

#include <stddef.h>
#include <string.h>
#include <signal.h>
#include <pthread.h>

#include <curl/curl.h>
#include <jansson.h>
#include <hiredis/hiredis.h>
#include <mysql.h>

#include "bc_addr.h"
#include "bc_crypt.h"
#include "bc_db.h"
#include "bc_metrics.h"
#include "bc_job.h"
#include "bc_redis.h"
#include "bc_rc.h"

/* ---- log.c -------------------------------------------------------------- */

enum { SND_LOG_DEBUG = 0, SND_LOG_INFO, SND_LOG_NOTICE, SND_LOG_WARN,
       SND_LOG_ERR };

extern int snd_log_level;

void snd_log_write(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int snd_log_level_parse(const char *name);

/* checks the level before evaluating the arguments */
#define snd_log(level, ...)                                                   \
    do {                                                                      \
        if ((level) >= snd_log_level) {                                       \
            snd_log_write((level), __VA_ARGS__);                              \
        }                                                                     \
    } while (0)

/* ---- config.c ----------------------------------------------------------- */

typedef struct {
    bc_redis_conf_t  redis;
    bc_db_conf_t     db;
    /* mysql_replica: the campaign dispatcher reads audiences there
       (replica.c); replica_set 0 without one */
    bc_db_conf_t     replica;
    int              replica_set;
    long             replica_wait_ms;       /* mysql_replica_wait_ms */
    char             consumer[64];
    char             public_url[512];
    char             twilio_api_base[512];
    char             twilio_account_sid[64];
    char            *twilio_auth_token;    /* owned */
    int              max_inflight;
    int              max_attempts;
    int              redis_wait_replicas;
    long             redis_wait_timeout_ms;
    long             reclaim_idle_ms;
    long             twilio_list_page_size;
    long             request_timeout_ms;
    double           rate_per_sender;
    char             pidfile[512];
    /* Meta WhatsApp Cloud API and SendGrid */
    char             meta_graph_base[512];   /* with the version */
    char            *meta_access_token;      /* owned, NULL: no Meta */
    double           meta_rate_per_sender;   /* msgs/s per phone-number-id */
    char             sendgrid_api_base[512];
    char            *sendgrid_api_key;       /* owned, NULL: no SendGrid */
    int              sendgrid_batch_max;     /* personalizations per call */
    double           sendgrid_rate;          /* mail/send calls/s, account */
    /* inbound keywords (keywords.c): comma-separated lists, whole-message
       matches; fixed arrays so the recorder's copy of the conf owns them */
    char             opt_out_keywords[512];
    char             opt_in_keywords[256];
    char             help_keywords[256];
    char             help_text[1024];
    int              keyword_reply_window_s; /* one reply per address per
                                                rule per window */
    /* the campaign dispatcher (campaign*.c) */
    int              campaigns;              /* 1: run its thread */
    int              campaign_batch;         /* rows per fan-out / queue
                                                transaction */
    long             campaign_lease_ms;
    long             campaign_stream_max_lag; /* queue only while the send
                                                 group's lag is under it */
    char             meta_messaging_limits[512]; /* "id:limit,...,*:limit"
                                                  (campaign_tier.c) */
    /* privacy (retention.c, bc_crypt): bodies, subjects and payloads are
       sealed with the key file's current key; 0 days keeps rows forever */
    char             encryption_key_file[512];
    int              retention_messages_days;
    int              retention_events_days;
    int              retention_webhook_log_days;
    int              retention_batch;        /* rows per purge transaction */
    long             retention_pause_ms;     /* between two batches */
    long             retention_interval_s;   /* between two passes */
} snd_conf_t;

int snd_conf_load(snd_conf_t *conf, const char *path);
void snd_conf_free(snd_conf_t *conf);
/* campaign_tier.c: the limit of Meta number pid in meta_messaging_limits'
   spec; 0 none (or unlimited), -1 malformed */
long long snd_tier_limit(const char *spec, const char *pid);

/* ---- providers ---------------------------------------------------------- */

/* indexes of snd_providers[] (provider.c), and of the per-provider metrics */
enum { SND_PROV_TWILIO = 0, SND_PROV_META, SND_PROV_SENDGRID, SND_PROV_N };

/* metric slots per provider: provider_calls:<provider>:<outcome> */
enum { SND_M_ACCEPTED = 0, SND_M_FAILED, SND_M_RETRY, SND_M_ERROR, SND_M_N };

/* the job's provider (unknown names are Twilio, the first provider) */
int snd_prov_of(const bc_job_t *job);

/* the conversation partner of an address: strips "whatsapp:" (DESIGN
   "Addresses"); writes at most outlen-1 chars */
void snd_peer_of(const char *addr, char *out, size_t outlen);

/* ---- items: one stream entry being processed ---------------------------- */

typedef enum {
    SND_OUT_NONE = 0,      /* still working */
    SND_OUT_ACK,           /* nothing to write: just XACK (+ DEL) */
    SND_OUT_ACCEPTED,      /* provider took it: sid etc. */
    SND_OUT_FAILED,        /* permanent failure: code/message */
    SND_OUT_RETRY,         /* back to bc:{q}:retry */
    SND_OUT_UNKNOWN        /* ambiguous: row 'unknown', then reconcile */
} snd_outcome_t;

typedef enum {
    SND_XFER_NONE = 0,
    SND_XFER_SEND,
    SND_XFER_LIST           /* reconcile: provider's message list */
} snd_xfer_t;

typedef struct snd_item_s  snd_item_t;

struct snd_item_s {
    snd_item_t     *next;           /* list link (owner: the list) */
    snd_item_t     *hnext;          /* in-flight id set chain */
    snd_item_t     *group;          /* SendGrid: the other items of this
                                       item's mail/send call (owned while
                                       the transfer runs) */
    int             prov;           /* SND_PROV_* */
    int             lost;           /* Meta/SendGrid 'calling' row after a
                                       crash: failed unknown_after_crash
                                       unless a webhook advanced it */
    char            stream_id[48];
    unsigned        lane;           /* the lane of the stream it came from */
    int             parsed;         /* job valid */
    int             dup;            /* another entry holds this id */
    bc_job_t        job;            /* owned (body) */
    char           *raw;            /* owned: job JSON as read */

    long long       not_before_ms;  /* wait queue: earliest start */
    int             reconcile;      /* needs a provider list lookup */

    /* transfer */
    snd_xfer_t      xfer;
    CURL           *easy;           /* borrowed from the http pool */
    struct curl_slist *hdrs;        /* owned */
    char           *post;           /* owned */
    char           *resp;           /* owned */
    size_t          resp_len, resp_cap;

    /* result */
    snd_outcome_t   outcome;
    int             optout;         /* 21610: insert into opt_outs */
    char            sid[160];
    char            req_id[128];    /* SendGrid X-Message-Id */
    long            rl_remaining;   /* SendGrid X-RateLimit-Remaining, -1 */
    long long       rl_reset_ms;    /* SendGrid X-RateLimit-Reset, 0 */
    char            status[32];     /* our status for ACCEPTED */
    int             segments;       /* -1 unknown */
    char            price[32];      /* "" unknown */
    char            price_unit[8];
    char            error_code[32];
    char            error_message[256];
    long long       retry_due_ms;
    unsigned long long handoff_gen; /* handed to the recorder: its push */
    int             throttled;      /* RETRY without spending an attempt */
    char          **cands;          /* reconcile: candidate pairs of the
                                       provider's id and our status */
    size_t          ncands;
    int             list_pages;     /* reconcile: list pages read */
    char           *retry_json;     /* owned: job JSON for bc:{q}:retry */

    /* ledger claim */
    int             claim_state;    /* SND_ROW_* */
    int             claim_rank;
    int             blocked;        /* suppressed: opted out or
                                       blacklisted (claim.c SND_BLOCK_*) */

    /* pacing (ratelimit.c): the lane it was admitted to the claim for and
       its cost there, until it has a token */
    struct snd_bucket_s *rate_lane;
    double          rate_cost;
};

enum { SND_ROW_MISSING = 0, SND_ROW_PENDING, SND_ROW_CALLING, SND_ROW_DONE,
       SND_ROW_UNKNOWN };

typedef struct snd_s  snd_t;

/*
 * An accepted result handed from the send loop to the recorder thread,
 * which writes it together with the status callbacks of the same message
 * in one row write (docs/DESIGN.md "Handoff"). Owned by the queue, then by
 * the recorder's turn.
 */
typedef struct snd_handoff_s  snd_handoff_t;

struct snd_handoff_s {
    snd_handoff_t  *next;
    unsigned long long gen;         /* its push, in push order */
    long long       pushed_ms;
    char            id[27];
    char            status[32];
    char            sid[160];
    char            req_id[128];
    char            segments[16];   /* "" unknown */
    char            price[32];      /* "" unknown */
    char            price_unit[8];
};

/* frees it, drops it from the id set and the held count */
void snd_item_free(snd_t *s, snd_item_t *it);
void snd_item_give_up(snd_t *s, snd_item_t *it);
void snd_item_set_reconcile(snd_t *s, snd_item_t *it, int on);
void snd_item_reset_result(snd_item_t *it);

/* ---- retention.c: privacy helpers and the purge thread ----------------- */

/* "sha256:" + bc_crypt_address_hash(): how an erasure's suppression rows
   name a person (docs/DESIGN.md "Privacy") */
#define SND_HASHED_LEN  (7 + 64 + 1)
void snd_hashed_address(const char *salt, const char *peer, char *out);
/* the database's privacy_salt (sql/014), read once on s->db; NULL before
   the migration (no hashed rows can exist then) */
const char *snd_privacy_salt(snd_t *s);
/* the purge thread (retention_* keys); 0 or -1 */
int snd_retention_start(snd_t *s);
void snd_retention_stop(void);

/* ---- bulk.c: prepared INSERTs executed with arrays of rows -------------- */

typedef struct snd_bulk_s  snd_bulk_t;

enum { SND_BULK_CLAIM_NEW, SND_BULK_CLAIM, SND_BULK_UPSERT, SND_BULK_N };

/* the statement `which` of s's connection, prepared on first use, with no
   rows; types: one letter per placeholder, 's' string or 'i' integer.
   NULL when there is no connection or it cannot be prepared. */
snd_bulk_t *snd_bulk_begin(snd_t *s, int which, const char *sql,
    const char *types);
/* appends a row of NULLs; the setters below fill its columns */
int snd_bulk_row(snd_bulk_t *b);
void snd_bulk_str(snd_bulk_t *b, unsigned col, const char *p, size_t len);
void snd_bulk_cstr(snd_bulk_t *b, unsigned col, const char *p);
void snd_bulk_int(snd_bulk_t *b, unsigned col, long long v);
/* a copy kept with the rows, for strings that do not outlive the call */
int snd_bulk_copy(snd_bulk_t *b, unsigned col, const char *p, size_t len);
int snd_bulk_sealed(snd_bulk_t *b, unsigned col, const char *p, size_t len);
/* runs the rows set; affected rows, or -1 (logged; the connection is
   dropped if it failed) */
long long snd_bulk_exec(snd_t *s, snd_bulk_t *b);
unsigned snd_bulk_warnings(snd_bulk_t *b);
void snd_bulk_close_all(snd_t *s);

/* ---- the daemon state (main.c) ------------------------------------------ */

struct snd_s {
    snd_conf_t         conf;
    bc_rc_t           *redis;        /* NULL while Redis is down */
    MYSQL             *db;           /* NULL while MySQL is down */
    int                redis_down_logged, db_down_logged;
    long long          redis_retry_ms, db_retry_ms;
    /* the dispatcher's replica link (replica.c); NULL until needed, or
       while it rests after a failure until replica_retry_ms */
    MYSQL             *replica;
    long long          replica_retry_ms;
    int                replica_state;       /* SND_REPLICA_*: logged when
                                               it changes */
    /* connections made to Redis so far: a change tells the campaign
       dispatcher that writes acknowledged before may be gone (failover) */
    unsigned long long redis_links;

    /* queue.c: per lane (bc_lane.h) of the send and events streams */
    int                own_pending_done[BC_LANES_MAX]; /* read '0' until
                                                          empty */
    char               pending_cursor[BC_LANES_MAX][48];
    unsigned           read_lane;     /* where the next read starts */
    unsigned           idle_lane;     /* the next idle wait's, on a cluster */
    int                ev_pending_done[BC_LANES_MAX];
    char               ev_cursor[BC_LANES_MAX][48];
    unsigned           ev_lane;       /* the recorder's next lane */
    int                ev_empty;      /* the recorder's last turn read
                                         nothing: the next waits on one
                                         lane */
    long long          next_promote_ms, next_reclaim_ms, next_trim_ms;
    char               reclaim_cursor[BC_LANES_MAX][48];

    /* items */
    snd_item_t        *claim;        /* read, not yet in the ledger */
    snd_item_t        *parked;       /* read, held back from the claim:
                                        their lane has enough waiting
                                        (ratelimit.c snd_rate_gate) */
    long long          touch_ms;     /* next XCLAIM of held entries */
    snd_item_t        *wait;         /* claimed, waiting to start */
    snd_item_t        *finished;     /* result known, not committed */
    snd_item_t        *to_ack;       /* committed, not acked */
    snd_item_t        *handed;       /* handed to the recorder, acked once
                                        it has written them */
    int                nhanded;
    unsigned long long handed_settled; /* the recorder's commit last seen */
    snd_item_t        *to_reconcile; /* 'unknown' committed, reconcile */
    snd_item_t        *running;      /* transfers in flight */
    int                inflight;     /* transfers running */
    int                held;         /* items held in any list */
    int                batch_min;    /* read/commit batch threshold */
    int                hold_max;     /* items held at most (claim ahead) */
    long long          finished_since_ms;
    snd_item_t       **idset;        /* message ids held (hash chains) */

    /* metrics, flushed once per turn */
    long long          m[SND_PROV_N][SND_M_N];
    long long          m_retries[SND_PROV_N];
    long long          m_throttles[SND_PROV_N];
    long long          m_found, m_notfound, m_lost;
    long long          m_lat[SND_PROV_N][BC_LATENCY_N]; /* cumulative */
    long long          m_lat_count[SND_PROV_N];
    double             m_lat_sum[SND_PROV_N];
    long long          next_heartbeat_ms;
    int                nreconcile;     /* held items with reconcile set */

    /* http.c */
    CURLM             *multi;
    CURL             **pool;
    int               *pool_prov;    /* the provider pool[i] is set up for */
    int                npool;

    /* rate limiting (ratelimit.c: snd_rate_t) */
    void              *buckets;

    /* bulk.c: statements prepared on db, closed with it */
    snd_bulk_t        *bulk[SND_BULK_N];

    /* recorder thread: main's snd_t owns rec (and joins the thread before
       freeing it); the recorder's snd_t uses only the fields above that
       recorder.c and the connection helpers touch */
    snd_t             *rec;
    pthread_t          rec_thread;
    int                rec_running;
    int                ev_block_ms;   /* recorder: XREADGROUP BLOCK, 0 none */
    long long          next_ev_reclaim_ms;

    /* the campaign dispatcher's thread (campaign.c), its state owned by
       the thread */
    void              *camp;
    pthread_t          camp_thread;

    /* the handoff queue (in the recorder's snd_t): the send loop pushes,
       the recorder takes a turn's worth and reports the generation it
       has committed; all under ho_lock */
    pthread_mutex_t    ho_lock;
    snd_handoff_t     *ho_head, **ho_tail;
    unsigned long long ho_pushed, ho_committed;
};

#define SND_IDSET_SIZE  8192
#define SND_CLAIM_MAX   1000          /* entries per read and claim */

extern volatile sig_atomic_t snd_stop;

long long snd_now_ms(void);
void snd_list_push(snd_item_t **list, snd_item_t *it);
void snd_list_append(snd_item_t **list, snd_item_t *it);

/* O(1) appends for a loop that routes many items: stage them, then splice
   the stage onto the list's end once (snd_list_append walks the list) */
typedef struct { snd_item_t *head, **tail; } snd_stage_t;
#define SND_STAGE_INIT(st)                                                    \
    do { (st)->head = NULL; (st)->tail = &(st)->head; } while (0)
static inline void
snd_stage_add(snd_stage_t *st, snd_item_t *it)
{
    it->next = NULL;
    *st->tail = it;
    st->tail = &it->next;
}
void snd_list_splice(snd_item_t **list, snd_stage_t *st);
/* sends each item, in order, to s->to_ack or s->wait as where() says
   (where() may set its outcome and not_before_ms) */
#define SND_ROUTE_ACK   0
#define SND_ROUTE_WAIT  1
void snd_route_items(snd_t *s, snd_item_t *items,
    int (*where)(snd_t *s, snd_item_t *it, long long now));
int snd_idset_has(snd_t *s, const char *id);
void snd_idset_add(snd_t *s, snd_item_t *it);
void snd_idset_del(snd_t *s, snd_item_t *it);

/* connections: 0 if usable now */
int snd_redis_ok(snd_t *s);
int snd_db_ok(snd_t *s);
void snd_redis_lost(snd_t *s, const char *why);
/* bc_rc_command on s->redis; NULL (the connection dropped, logged) if
   redis did not answer */
redisReply *snd_redis_argv(snd_t *s, int argc, const char **argv);
/* after a queueing MULTI: WAIT for redis_wait_replicas (if set); a short
   count is logged, a lost link handled as by snd_redis_argv */
void snd_redis_wait(snd_t *s);
void snd_db_lost(snd_t *s, const char *why);

/* ---- queue.c ------------------------------------------------------------ */

/* the lanes of the deployment: at least 1 */
#define SND_LANES(s)  bc_lanes_n((s)->conf.redis.lanes)

/* a lane's send or events stream name into out (64 bytes) */
const char *snd_send_stream(char *out, unsigned lane);
const char *snd_events_stream(char *out, unsigned lane);

/* reads up to count new entries, lane after lane; 0 when every lane's own
   pending entries have been read again (the idle wait may block) */
int snd_queue_read(snd_t *s, int count, int block_ms);
int snd_queue_pending_done(const snd_t *s);
redisReply *snd_xreadgroup(snd_t *s, const char *group, const char *stream,
    int count, int block_ms, int pending_done, char *cursor);
int snd_queue_maintain(snd_t *s);
int snd_queue_flush_acks(snd_t *s);

/* metrics.c: the sender's counters into bc:metrics:sender */
void snd_metrics_latency(snd_t *s, int prov, double seconds);
int snd_metrics_pending(snd_t *s);
void snd_metrics_append(snd_t *s, int *n);
/* recorder thread: XAUTOCLAIM dead recorders' events */
void snd_queue_reclaim_events(snd_t *s);

/* ---- idle.c ------------------------------------------------------------- */

/* blocks up to block_ms until either stream has an entry its group has not
   been given yet */
void snd_idle_wait(snd_t *s, int block_ms);
/* unread entries of the events streams for the recorders group (every
   lane); -1 unknown */
long long snd_events_lag(snd_t *s);

/* ---- ledger.c ----------------------------------------------------------- */

/* a provider's price / segment count that the messages columns take
   (DECIMAL(12,5), INT); anything else is stored as NULL */
int snd_price_ok(const char *p);
int snd_segments_ok(const char *p);

int snd_ledger_commit(snd_t *s);
/* runs one statement; on failure logs, marks the db lost if the connection
   is gone; returns 0 / -1 */
int snd_db_exec(snd_t *s, const char *sql, size_t len);
/* growing SQL buffer */
typedef struct { char *p; size_t len, cap; int oom; } snd_buf_t;
void snd_buf_add(snd_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void snd_buf_str(snd_t *s, snd_buf_t *b, const char *v, size_t len);
void snd_buf_free(snd_buf_t *b);
void snd_buf_release(void);
void snd_buf_cstr(snd_t *s, snd_buf_t *b, const char *v);
/* runs the statement built in b (-1 if building it ran out of memory) */
int snd_db_run(snd_t *s, const snd_buf_t *b);
/* runs the SELECT built in b, frees b and stores its result set; NULL on
   failure (logged, a lost connection dropped) */
MYSQL_RES *snd_db_select(snd_t *s, snd_buf_t *b);

/* runs the statement built in b if it has rows (nrows > 0), then frees b;
   -1 if it failed */
int snd_db_run_free(snd_t *s, snd_buf_t *b, int nrows);
void snd_db_rollback(snd_t *s);
snd_item_t *snd_find(snd_item_t *list, const char *id, size_t len);

/* ---- replica.c ---------------------------------------------------------- */

/* a heavy read that decides no send by itself (an audience page): on the
   replica once it has applied what the primary has committed, else on the
   primary; frees q as snd_db_select does */
MYSQL_RES *snd_replica_select(snd_t *s, snd_buf_t *q);
void snd_replica_close(snd_t *s);

/* ---- claim.c ------------------------------------------------------------ */

#define SND_RECONCILE_DELAY_MS  2000
/* a reconcile and a send to the same recipient wait for each other */
#define SND_RECONCILE_WAIT_MS   100

int snd_ledger_claim(snd_t *s);

/* ---- http.c ------------------------------------------------------------- */

int snd_http_init(snd_t *s);
void snd_http_free(snd_t *s);
/* Meta and SendGrid: a JSON body with the token as a Bearer credential */
int snd_http_json_bearer(snd_item_t *it, const char *token);
/* starts a transfer for it; post NULL means GET */
int snd_http_start(snd_t *s, snd_item_t *it, const char *url,
    const char *post);
/* waits up to timeout_ms, then returns finished items via done() */
void snd_http_run(snd_t *s, int timeout_ms,
    void (*done)(snd_t *s, snd_item_t *it, CURLcode rc, long status,
                 int request_sent));

/* ---- provider.c: one description per provider ------------------------- */

/*
 * What the send loop, the HTTP pool and the pacing need to know of a
 * provider. Each provider's file (twilio.c, meta.c, sendgrid.c) exports
 * its row; snd_providers[] lists them by SND_PROV_* index. Nothing outside
 * these rows picks a provider by name or index.
 */
typedef struct {
    /* the job's "provider", the metrics label, the throttle key's prefix */
    const char   *name;
    /* starts the call for it, already taken off the wait list (*wait is
       where it was: a provider that batches takes more due items off it);
       0 (a transfer runs, or it is finished), -1: try again in 1 s */
    int         (*send)(snd_t *s, snd_item_t *it, snd_item_t **wait,
                        long long now);
    /* looks a call of unknown outcome up in the provider's message list;
       NULL: no list, such a row fails unknown_after_crash unless a
       webhook advanced it */
    int         (*reconcile)(snd_t *s, snd_item_t *it);
    /* a finished transfer: sets the outcome, puts it on s->finished (or
       starts the next transfer, e.g. a list page) */
    void        (*done)(snd_t *s, snd_item_t *it, CURLcode rc, long status,
                        int request_sent);
    /* the options a pooled curl handle keeps for this provider
       (credentials, header callback); NULL: none beyond the common ones */
    void        (*http_setup)(snd_t *s, CURL *e);
    /* the answer's headers are read: CURLOPT_HEADERDATA is the item */
    int           reads_headers;
    /* what the provider paces and throttles: a sender address, or "" for
       the whole account */
    const char *(*sender_key)(const snd_item_t *it);
    /* tokens per second per sender key (0 unlimited); NULL: unlimited */
    double      (*rate)(const snd_conf_t *conf);
    /* the tokens one message takes (Twilio: an SMS's segments); NULL: 1 */
    int         (*cost)(const snd_item_t *it);
    /* one call carries many items (SendGrid): the rate counts calls and
       the claim is not held back per item */
    int           batches;
    /* its webhooks name our message id, so a plain accepted result can be
       handed to the recorder before the row holds the provider's id
       (docs/DESIGN.md "Handoff") */
    int           callbacks_name_our_id;
} snd_provider_t;

extern const snd_provider_t  snd_provider_twilio;
extern const snd_provider_t  snd_provider_meta;
extern const snd_provider_t  snd_provider_sendgrid;
extern const snd_provider_t *const snd_providers[SND_PROV_N];

#define snd_prov(it)  (snd_providers[(it)->prov])

/* the item's provider's done() */
void snd_provider_done(snd_t *s, snd_item_t *it, CURLcode rc, long status,
    int request_sent);
/* shared by the providers: backoff or, after max_attempts, failed */
void snd_retry_or_fail(snd_t *s, snd_item_t *it);
/* the call never reached the provider: error "connect" with curl's reason,
   then snd_retry_or_fail() */
void snd_connect_failed(snd_t *s, snd_item_t *it, CURLcode rc);
/* the provider's error code, else http_<status>; a message if none */
void snd_error_fill(snd_item_t *it, long code, long status);
/* a JSON member as text ("" if absent) */
void snd_copy_json_str(json_t *o, const char *key, char *out, size_t outlen);

/* ---- recorder.c --------------------------------------------------------- */

/* reads and records up to SND_EV_BATCH events; returns entries handled, -1
   on error */
int snd_recorder_turn(snd_t *s);
/* starts the recorder thread on its own connections (s->rec); 0 / -1 */
int snd_recorder_start(snd_t *s);
/* after snd_stop: waits for the thread (it finishes its turn: commit, then
   XACK; and writes what was handed to it), closes its connections, frees
   s->rec */
void snd_recorder_join(snd_t *s);
/* send loop: hands an accepted result to the recorder; 0, or -1 (then the
   ledger writes it) */
int snd_handoff_push(snd_t *s, snd_item_t *it);
/* send loop: moves the handed items the recorder has written to to_ack */
void snd_handoff_settle(snd_t *s);

/* ---- campaign.c: the dispatcher thread --------------------------------- */

/* starts the dispatcher on its own connections unless campaigns = off;
   0 / -1 */
int snd_campaign_start(snd_t *s);
/* after snd_stop: waits for the thread to finish its turn */
void snd_campaign_join(snd_t *s);

/* ---- ratelimit.c, ratelimit_redis.c ----------------------------------- */

typedef struct {
    char  sha[48];                  /* the script's SHA1, "" not loaded */
} snd_rate_redis_t;

typedef struct snd_rate_s  snd_rate_t;

/* 1 if it's lane has its tokens now (and takes them: the shared bucket in
   Redis, a local one while Redis is down); else sets *wait_ms */
int snd_rate_take(snd_t *s, snd_item_t *it, long long now,
    long long *wait_ms);
/* it leaves the loop before its token: its lane stops counting it */
void snd_rate_release(snd_item_t *it);
/* before the claim: s->claim less what waits on s->parked (and parked
   items whose lane has room again, first) */
void snd_rate_gate(snd_t *s);
void snd_rate_free(snd_t *s);
/* ratelimit_redis.c: the lane's shared bucket; 0 (granted is 0 or at
   least need, wait_ms when 0, *sharers the sender processes that took
   from it in the last second, this one included) or -1 (no Redis) */
int snd_rate_redis_take(snd_t *s, snd_rate_redis_t *r, const char *lane,
    double rate, double need, double want, double *granted,
    long long *wait_ms, int *sharers);
/* keeps the stream entries of parked and waiting items ours */
void snd_rate_touch(snd_t *s, long long now);
/* provider throttles (ratelimit.c): until when calls for it's key wait (0:
   none); a throttle answer (until_ms <= now: an adaptive pause); a pause
   the provider announced; a success, which ends a run of throttles */
long long snd_throttle_until(snd_t *s, const snd_item_t *it, long long now);
long long snd_throttle_hit(snd_t *s, snd_item_t *it, long long until_ms,
    long long now);
void snd_retry_throttled(snd_t *s, snd_item_t *it, long long until_ms);
void snd_throttle_pause(snd_t *s, const snd_item_t *it, long long until_ms,
    long long now);
void snd_throttle_clear(snd_t *s, const snd_item_t *it);

/* length of the longest prefix of v of at most max bytes that ends on a
   UTF-8 character boundary (strict mode rejects over-long values and broken
   characters, which would fail a whole batch) */
static inline size_t
snd_utf8_cut(const char *v, size_t max)
{
    size_t  n = strlen(v);

    if (n <= max) {
        return n;
    }
    n = max;
    while (n > 0 && ((unsigned char) v[n] & 0xC0) == 0x80) {
        n--;
    }
    return n;
}

/* 1 if s is all ASCII (the ledger's id columns, sql/005) */
static inline int
snd_ascii(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char) *s >= 0x80) {
            return 0;
        }
    }
    return 1;
}

#endif /* SENDER_H */

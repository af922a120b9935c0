/*
 * ngx_http_broadcast_module: the one common header (conf structs, the
 * thread task API, per-thread backend connections, metrics indices).
 */

#ifndef _NGX_HTTP_BROADCAST_COMMON_H_INCLUDED_
#define _NGX_HTTP_BROADCAST_COMMON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_thread_pool.h>

#include <jansson.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <mysql.h>

#include "bc_db.h"
#include "bc_redis.h"
#include "bc_rc.h"


#define NGX_HTTP_BROADCAST_NONE      0
#define NGX_HTTP_BROADCAST_API       1
#define NGX_HTTP_BROADCAST_WEBHOOK   2
#define NGX_HTTP_BROADCAST_METRICS   3
#define NGX_HTTP_BROADCAST_HEALTH    4
#define NGX_HTTP_BROADCAST_ERROR_PAGE  5

/* one provider's description (ngx_http_broadcast_provider.h) */
typedef struct ngx_http_broadcast_provider_s  ngx_http_broadcast_provider_t;


typedef struct {
    bc_redis_conf_t              redis;
    ngx_str_t                    redis_spec;
    /* broadcast_redis wait_replicas= wait_timeout=: an accepted write
       waits (WAIT) for that many replicas to have it, so a failover does
       not lose what was answered 202/200; the command's arguments */
    ngx_uint_t                   redis_wait_replicas;
/* the lanes of the send queue and the events stream (bc_lane.h) */
#define ngx_http_broadcast_lanes(mcf)  bc_lanes_n((mcf)->redis.lanes)
    char                         redis_wait_n[NGX_INT_T_LEN + 1];
    char                         redis_wait_ms[NGX_INT_T_LEN + 1];
    bc_db_conf_t                 mysql;
    ngx_flag_t                   mysql_set;
    /* broadcast_mysql_replica: heavy reads, while at most max_lag behind */
    bc_db_conf_t                 mysql_replica;
    ngx_flag_t                   mysql_replica_set;
    time_t                       replica_max_lag;
    ngx_str_t                    thread_pool_name;
    ngx_thread_pool_t           *thread_pool;
    time_t                       session_ttl;
    ngx_uint_t                   api_used;
    ngx_uint_t                   used;
    ngx_shm_zone_t              *shm_zone;
} ngx_http_broadcast_main_conf_t;


typedef struct {
    ngx_uint_t                      kind;  /* NGX_HTTP_BROADCAST_* */

    /* backends */
    ngx_msec_t                      backend_timeout;

    /* API: limits, session cookie, default senders */
    ngx_uint_t                      max_recipients;
    size_t                          max_body;
    off_t                           import_max_body;  /* a CSV import's */
    ngx_flag_t                      cookie_secure;
    ngx_str_t                       default_country;
    ngx_str_t                       sms_from;
    ngx_str_t                       whatsapp_from;
    ngx_str_t                       email_from;
    ngx_str_t                       email_from_name;
    ngx_str_t                       sms_opt_out_text;

    /* webhooks: the provider of a broadcast_webhook location */
    ngx_http_broadcast_provider_t  *webhook_provider;
    /* broadcast_webhook <provider> <kind>: 1 + the provider's row of that
       kind; 0: the provider picks by the path (its suffix) */
    ngx_uint_t                      webhook_kind;

    /* Twilio: signatures (the URL they sign), account, template listings */
    ngx_str_t                       public_url;
    ngx_str_t                       twilio_token;
    ngx_str_t                       twilio_account_sid;
    ngx_str_t                       twilio_content_base;

    /* SendGrid: Event Webhook verification */
    void                           *sendgrid_key;  /* EVP_PKEY */
    time_t                          sendgrid_tolerance;
    /* Inbound Parse: "user:password" (file), and the Authorization value
       it makes ("Basic " + base64), computed at merge */
    ngx_str_t                       sendgrid_inbound_auth;
    ngx_str_t                       sendgrid_inbound_basic;

    /* Meta: webhook verification, template listings, the sender */
    ngx_str_t                       meta_app_secret;
    ngx_str_t                       meta_verify_token;
    ngx_str_t                       meta_graph_base;
    ngx_str_t                       meta_access_token;
    ngx_str_t                       meta_waba_id;
    ngx_str_t                       meta_phone_number_id;

    /* privacy: the key file whose keys open sealed values (bc_crypt.h) */
    ngx_str_t                       encryption_key_file;
} ngx_http_broadcast_loc_conf_t;


/* ngx_http_broadcast_privacy.c: broadcast_encryption_key_file merged and
   its keys loaded into the process-wide ring (config time: errors stop
   nginx -t; workers inherit the ring) */
char *ngx_http_broadcast_privacy_merge(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *prev, ngx_http_broadcast_loc_conf_t *conf);


/* per-thread backend connections, heap slots closed in exit_process */
typedef struct {
    bc_rc_t                     *redis;
    MYSQL                       *mysql;      /* the one in use: the primary,
                                                or the replica for a read
                                                (sql.c) until the task ends */
    const bc_db_conf_t          *db;         /* mysql's, NULL: the primary */
    MYSQL                       *parked;     /* the other one meanwhile */
    MYSQL                       *replica;    /* when not in use */
    time_t                       replica_checked;
/* a replica that could not be reached is not tried again for this long */
#define NGX_HTTP_BROADCAST_REPLICA_RETRY_S  5
    ngx_uint_t                   replica_fresh;
} ngx_http_broadcast_conn_t;


typedef void (*ngx_http_broadcast_run_pt)(void *data,
    ngx_http_broadcast_conn_t *conn);
typedef ngx_int_t (*ngx_http_broadcast_done_pt)(ngx_http_request_t *r,
    void *data);
typedef void (*ngx_http_broadcast_free_pt)(void *data);


typedef struct {
    ngx_http_broadcast_run_pt    run;       /* in a pool thread */
    ngx_http_broadcast_done_pt   done;      /* in the loop: answers */
    ngx_http_broadcast_done_pt   timeout;   /* in the loop; NULL: 503 */
    ngx_http_broadcast_free_pt   free;      /* in the loop: frees data */
    void                        *data;      /* heap */
} ngx_http_broadcast_task_conf_t;


/* loop: r waits (count++) for a backend; timer fires if it is too slow */
static ngx_inline ngx_int_t
ngx_http_broadcast_wait(ngx_http_request_t *r, ngx_event_t *timer,
    ngx_event_handler_pt handler, void *data, ngx_msec_t timeout)
{
    timer->handler = handler;
    timer->data = data;
    timer->log = r->connection->log;
    ngx_add_timer(timer, timeout);

    r->main->count++;

    return NGX_DONE;
}


/* loop: answers from an async Redis reply (NULL: link lost); NGX_DECLINED
 * hands the request to the thread path with the same task conf */
typedef ngx_int_t (*ngx_http_broadcast_areply_pt)(ngx_http_request_t *r,
    void *data, redisReply *reply);


/* metrics: fixed counters, each on its own cache line */
enum {
    /* per channel, in the order sms, whatsapp, email */
    NGX_HTTP_BROADCAST_M_SENDS_SMS = 0,
    NGX_HTTP_BROADCAST_M_SENDS_WHATSAPP,
    NGX_HTTP_BROADCAST_M_SENDS_EMAIL,
    NGX_HTTP_BROADCAST_M_REJECTED_SMS,
    NGX_HTTP_BROADCAST_M_REJECTED_WHATSAPP,
    NGX_HTTP_BROADCAST_M_REJECTED_EMAIL,
    NGX_HTTP_BROADCAST_M_API_2XX,
    NGX_HTTP_BROADCAST_M_API_4XX,
    NGX_HTTP_BROADCAST_M_API_5XX,
    NGX_HTTP_BROADCAST_M_ERR_REDIS,
    NGX_HTTP_BROADCAST_M_ERR_MYSQL,
    NGX_HTTP_BROADCAST_M_CALLBACK0       /* the webhook counters */
};

/* the webhook counters (callbacks, signature failures, events, calls):
 * metrics.c lays out at most this many slots after M_CALLBACK0 */
#define NGX_HTTP_BROADCAST_M_NCALLBACKS  128
#define NGX_HTTP_BROADCAST_M_N                                               \
    (NGX_HTTP_BROADCAST_M_CALLBACK0 + NGX_HTTP_BROADCAST_M_NCALLBACKS)
#define NGX_HTTP_BROADCAST_M_LINE        128


extern ngx_module_t  ngx_http_broadcast_module;


/* task */
ngx_int_t ngx_http_broadcast_task_post(ngx_http_request_t *r,
    ngx_http_broadcast_task_conf_t *tc);
void ngx_http_broadcast_task_expired(ngx_http_request_t *r,
    ngx_http_broadcast_task_conf_t *tc, const char *backend);
ngx_thread_task_t *ngx_http_broadcast_task_alloc(size_t size,
    void (*handler)(void *data, ngx_log_t *log), ngx_event_handler_pt done,
    ngx_log_t *log);
ngx_int_t ngx_http_broadcast_task_run(ngx_http_broadcast_main_conf_t *mcf,
    ngx_thread_task_t *task, ngx_log_t *log);
ngx_http_broadcast_conn_t *ngx_http_broadcast_conn(void);
void ngx_http_broadcast_conn_done(ngx_http_broadcast_conn_t *conn);
void ngx_http_broadcast_conn_close_all(void);
redisReply *ngx_http_broadcast_redis_cmd(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_main_conf_t *mcf, int argc, const char **argv,
    const size_t *lens, char *err, size_t errlen);
long long ngx_http_broadcast_redis_integer(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_main_conf_t *mcf, int argc, const char **argv);
int ngx_http_broadcast_mysql_query(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_main_conf_t *mcf, const char *sql, size_t len,
    char *err, size_t errlen);
void ngx_http_broadcast_redis_waited(ngx_http_broadcast_main_conf_t *mcf,
    redisReply *reply);
void ngx_http_broadcast_redis_wait(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_main_conf_t *mcf);
int ngx_http_broadcast_redis_ready(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_main_conf_t *mcf, char *err, size_t errlen);
void ngx_http_broadcast_iso_ms(long long ms, char out[32]);
ngx_int_t ngx_http_broadcast_aredis_post(ngx_http_request_t *r,
    ngx_http_broadcast_task_conf_t *tc, ngx_http_broadcast_areply_pt reply,
    int argc, const char **argv, const size_t *lens);
void ngx_http_broadcast_ac_close(void);
int ngx_http_broadcast_ulid(char *out);
void ngx_http_broadcast_sha256_hex(const void *data, size_t len,
    char out[65]);

/* body */
ngx_int_t ngx_http_broadcast_body_check(ngx_http_request_t *r);
ngx_int_t ngx_http_broadcast_body_get(ngx_http_request_t *r, ngx_str_t *body);

/* reply */
ngx_int_t ngx_http_broadcast_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *data, size_t len);
ngx_int_t ngx_http_broadcast_send_json_text(ngx_http_request_t *r,
    ngx_uint_t status, const char *text, size_t len);
ngx_int_t ngx_http_broadcast_send_json(ngx_http_request_t *r,
    ngx_uint_t status, json_t *json);
ngx_table_elt_t *ngx_http_broadcast_header_in(ngx_http_request_t *r,
    const char *name);
ngx_int_t ngx_http_broadcast_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message);
ngx_int_t ngx_http_broadcast_send_405(ngx_http_request_t *r,
    const char *allow);
ngx_int_t ngx_http_broadcast_get_only(ngx_http_request_t *r);
ngx_int_t ngx_http_broadcast_add_header(ngx_http_request_t *r,
    const char *name, u_char *value, size_t len);
json_t *ngx_http_broadcast_json_pool(ngx_http_request_t *r, json_t *json);

/* conf_backends.c: the directives broadcast_redis, broadcast_mysql and
   broadcast_mysql_replica */
char *ngx_http_broadcast_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_broadcast_mysql(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_broadcast_mysql_replica(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* metrics */
void ngx_http_broadcast_metric_add(ngx_uint_t i, ngx_atomic_int_t n);
ngx_int_t ngx_http_broadcast_metrics_zone(ngx_conf_t *cf,
    ngx_http_broadcast_main_conf_t *mcf);
void ngx_http_broadcast_metric_call(const u_char *status, size_t len);
ngx_int_t ngx_http_broadcast_metrics_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_broadcast_error_page_handler(ngx_http_request_t *r);

/* handlers */
ngx_int_t ngx_http_broadcast_api_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_broadcast_health_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_BROADCAST_COMMON_H_INCLUDED_ */

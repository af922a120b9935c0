/*
 * The API area: one context per API request, shared by the router, auth,
 * send, status and admin areas. Everything the thread reads or writes is in
 * this heap object; the loop builds it, the thread fills in the result.
 */

#ifndef _NGX_HTTP_BROADCAST_API_H_INCLUDED_
#define _NGX_HTTP_BROADCAST_API_H_INCLUDED_


#include "ngx_http_broadcast_common.h"

#include "bc_addr.h"


#define NGX_HTTP_BROADCAST_NEED_NONE     0
#define NGX_HTTP_BROADCAST_NEED_READ     1
#define NGX_HTTP_BROADCAST_NEED_SEND     2
#define NGX_HTTP_BROADCAST_NEED_MANAGE   3
#define NGX_HTTP_BROADCAST_NEED_SESSION  4
/* an administrator: a session of an admin user (no API key qualifies) */
#define NGX_HTTP_BROADCAST_NEED_ADMIN    5

#define NGX_HTTP_BROADCAST_CRED_KEY      1
#define NGX_HTTP_BROADCAST_CRED_SESSION  2

/* a user's role (admin_users.role); a session's scope and a key's highest
   scope follow from it: viewer read, operator and admin manage */
#define NGX_HTTP_BROADCAST_ROLE_NONE      0
#define NGX_HTTP_BROADCAST_ROLE_VIEWER    1
#define NGX_HTTP_BROADCAST_ROLE_OPERATOR  2
#define NGX_HTTP_BROADCAST_ROLE_ADMIN     3

#define NGX_HTTP_BROADCAST_ERR_REDIS     1
#define NGX_HTTP_BROADCAST_ERR_MYSQL     2


typedef struct ngx_http_broadcast_api_ctx_s  ngx_http_broadcast_api_ctx_t;

typedef void (*ngx_http_broadcast_op_pt)(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);
typedef void (*ngx_http_broadcast_op_free_pt)(void *op);
/* 1: done (ctx holds the answer), 0: not applicable, take the slow path */
typedef int (*ngx_http_broadcast_op_fast_pt)(
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_conn_t *conn);


struct ngx_http_broadcast_api_ctx_s {
    ngx_http_broadcast_main_conf_t  *mcf;

    /* credential: loop -> thread */
    char                             cred_hash[65];
    /* the send lane of the request, whose cached copy of the credential
       the thread reads (bc:{q..}:cred:<hash>; 0 outside sends) */
    ngx_uint_t                       cred_lane;
    ngx_uint_t                       cred_kind;
    ngx_uint_t                       need;

    /* the session came in the bc_session cookie and the request is not a
       GET/HEAD: its X-CSRF-Token did not match (loop) */
    ngx_uint_t                       csrf_failed;

    /* principal: thread */
    long long                        cred_id;
    long long                        user_id;
    ngx_uint_t                       scope;
    ngx_uint_t                       role;

    /* audit (audit.c): an action a route records itself ("login", ...)
       instead of the route's, and the name it names (a login's username) */
    const char                      *audit_action;
    char                             audit_name[65];
    /* a 429's Retry-After, seconds (0: none) */
    long long                        retry_after;
    void                            *audit;         /* audit.c's row */
    /* the operation ran to its end (thread or loop): the outcome is final
       even if the loop answered 503 before it */
    ngx_uint_t                       ran;

    /* the operation, run after a successful auth */
    ngx_http_broadcast_op_pt         op;
    void                            *op_data;
    ngx_http_broadcast_op_free_pt    op_free;
    /* optional: auth and operation in one Redis round trip */
    ngx_http_broadcast_op_fast_pt    op_fast;
    /* a campaign's content run through a channel's send handler: no
       recipients wanted, the batch is left in op_data (campaigns.c) */
    ngx_uint_t                       proto_only;

    /* result: thread -> loop */
    ngx_uint_t                       status;
    const char                      *code;          /* error, static */
    char                             message[512];
    char                             detail[256];   /* for the log */
    json_t                          *result;        /* success body */
    json_t                          *error_extra;   /* merged into error */
    char                            *set_cookie;    /* malloc'd */
    ngx_uint_t                       replayed;
    ngx_uint_t                       backend_err;
    ngx_uint_t                       accepted;
    ngx_uint_t                       rejected;
    ngx_uint_t                       channel_index; /* 0 sms, 1 whatsapp,
                                                       2 email: metrics */
    char                            *fast_text;     /* async fast path:
                                                       the 202 body */
    size_t                           fast_len;
    char                            *result_text;   /* success body as
                                                       text (malloc'd),
                                                       instead of result */
    size_t                           result_len;
    /* success answered by the route itself in the loop (a file) */
    ngx_int_t                      (*answer)(ngx_http_request_t *r,
                                       ngx_http_broadcast_api_ctx_t *ctx);
};


void ngx_http_broadcast_api_error(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_uint_t status, const char *code, const char *fmt, ...);
void ngx_http_broadcast_api_redis_down(ngx_http_broadcast_api_ctx_t *ctx);

/* ngx_http_broadcast_login_limit.c: the failed-login limiter (thread) */
ngx_int_t ngx_http_broadcast_login_limit_check(
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_conn_t *conn,
    const char *ip, const char *username);
void ngx_http_broadcast_login_limit_failed(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *ip, const char *username);
void ngx_http_broadcast_login_limit_passed(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *ip, const char *username);
void ngx_http_broadcast_api_mysql_down(ngx_http_broadcast_api_ctx_t *ctx);
json_t *ngx_http_broadcast_api_parse(ngx_http_request_t *r, ngx_str_t *body,
    ngx_http_broadcast_api_ctx_t *ctx);

/* auth */
const char *ngx_http_broadcast_role_name(ngx_uint_t role);
ngx_uint_t ngx_http_broadcast_role_value(const char *s);
/* the highest key scope a user of the role may hold or mint */
ngx_uint_t ngx_http_broadcast_role_scope(ngx_uint_t role);
const char *ngx_http_broadcast_scope_name(ngx_uint_t scope);
/* "read", "send", "manage" as NGX_HTTP_BROADCAST_NEED_*, else 0 */
ngx_uint_t ngx_http_broadcast_scope_value(const char *s);
/* thread: the hashes of every session and key of the user (read before a
   change that may delete them; NULL with ctx's error set), then their
   bc:{q..}:cred cache entries dropped after it (hashes released), so a disable,
   demotion or password change takes effect at once */
json_t *ngx_http_broadcast_auth_cred_hashes(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long user_id);
void ngx_http_broadcast_auth_forget(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, json_t *hashes);
void ngx_http_broadcast_auth_forget_one(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *hash);
/* loop: the CSRF token of the request's session (cookie or Bearer);
   NGX_DECLINED when the request carries no session */
ngx_int_t ngx_http_broadcast_auth_session_csrf(ngx_http_request_t *r,
    char csrf[65]);

/* audit.c: an action the route set (ctx->audit_action), or a successful
   write (not GET/HEAD, 2xx, a row needing more than read: reads by POST
   such as a preview are not writes) becomes one audit_log row. Loop, as
   the request starts: its row (ctx->audit); loop, as ctx is freed: written
   by a detached task when due */
void ngx_http_broadcast_audit_begin(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, const char *pattern, ngx_uint_t need,
    ngx_str_t *id);
void ngx_http_broadcast_audit_record(ngx_http_broadcast_api_ctx_t *ctx);
/* thread: what the row names as target instead of the {id} */
void ngx_http_broadcast_audit_target(ngx_http_broadcast_api_ctx_t *ctx,
    const char *target);

/* login_limit.c: thread, an admin's enable: every address's lock of the
   username, and its locked_until */
void ngx_http_broadcast_login_limit_clear(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *username);

ngx_int_t ngx_http_broadcast_auth_credential(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx);
int ngx_http_broadcast_auth_resolve(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);
int ngx_http_broadcast_auth_hint(ngx_http_broadcast_api_ctx_t *ctx);
void ngx_http_broadcast_auth_remember(ngx_http_broadcast_api_ctx_t *ctx);

ngx_int_t ngx_http_broadcast_api_answer(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx);
ngx_int_t ngx_http_broadcast_send_loop(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_task_conf_t *tc);

/* what the router hands a route's handler */
typedef struct {
    ngx_str_t                    body;     /* empty without one */
    ngx_str_t                    id;       /* the {id} segment, or empty */
    ngx_uint_t                   variant;  /* the row's variant */
} ngx_http_broadcast_api_args_t;

/*
 * A route's handler (a row of the table in api.c): validates in the loop
 * and sets ctx->op, or sets an error. ctx->need is already the row's scope.
 */
typedef void (*ngx_http_broadcast_route_pt)(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args);

#define NGX_HTTP_BROADCAST_ROUTE(name)                                        \
    void ngx_http_broadcast_##name##_prepare(ngx_http_request_t *r,           \
        ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)

/* the handlers of the routes */
NGX_HTTP_BROADCAST_ROUTE(send);
NGX_HTTP_BROADCAST_ROUTE(status);
NGX_HTTP_BROADCAST_ROUTE(login);
NGX_HTTP_BROADCAST_ROUTE(logout);
NGX_HTTP_BROADCAST_ROUTE(keys);
/* users.c: /api/admin/users... (variants), /api/me, /api/me/password */
NGX_HTTP_BROADCAST_ROUTE(users);
#define NGX_HTTP_BROADCAST_USERS_COLLECTION  0   /* /api/admin/users */
#define NGX_HTTP_BROADCAST_USERS_ONE         1   /* .../{id} */
#define NGX_HTTP_BROADCAST_USERS_DISABLE     2   /* .../{id}/disable */
#define NGX_HTTP_BROADCAST_USERS_ENABLE      3   /* .../{id}/enable */
#define NGX_HTTP_BROADCAST_USERS_ME          4   /* /api/me */
#define NGX_HTTP_BROADCAST_USERS_PASSWORD    5   /* /api/me/password */
/* audit.c: GET /api/audit */
NGX_HTTP_BROADCAST_ROUTE(audit);
NGX_HTTP_BROADCAST_ROUTE(whatsapp);
NGX_HTTP_BROADCAST_ROUTE(email);
NGX_HTTP_BROADCAST_ROUTE(senders);
NGX_HTTP_BROADCAST_ROUTE(templates);
NGX_HTTP_BROADCAST_ROUTE(chat);
/* compliance.c: opt-outs and blacklist (variant: which list) */
NGX_HTTP_BROADCAST_ROUTE(compliance);
#define NGX_HTTP_BROADCAST_COMPLIANCE_OPT_OUTS   0
#define NGX_HTTP_BROADCAST_COMPLIANCE_BLACKLIST  1
#define NGX_HTTP_BROADCAST_COMPLIANCE_SMS_OPT_OUTS   2  /* predecessor's */
#define NGX_HTTP_BROADCAST_COMPLIANCE_SMS_BLACKLIST  3

/* groups.c: contact groups and their members (variants of the rows) */
NGX_HTTP_BROADCAST_ROUTE(groups);
#define NGX_HTTP_BROADCAST_GROUPS_COLLECTION  0   /* /api/groups */
#define NGX_HTTP_BROADCAST_GROUPS_ONE         1   /* /api/groups/{id} */
#define NGX_HTTP_BROADCAST_GROUPS_MEMBERS_OF  2   /* .../{id}/members */

/* contacts.c: POST /api/contacts, GET/PATCH/DELETE /api/contacts/{id} */
NGX_HTTP_BROADCAST_ROUTE(contacts);
NGX_HTTP_BROADCAST_ROUTE(privacy);
/* contacts_list.c: GET /api/contacts and the /api/contacts/tags routes */
NGX_HTTP_BROADCAST_ROUTE(contacts_list);

#define NGX_HTTP_BROADCAST_CONTACTS_NEW         0
#define NGX_HTTP_BROADCAST_CONTACTS_ONE         1
#define NGX_HTTP_BROADCAST_CONTACTS_LIST        2
#define NGX_HTTP_BROADCAST_CONTACTS_TAGS        3
#define NGX_HTTP_BROADCAST_CONTACTS_TAG_RENAME  4
#define NGX_HTTP_BROADCAST_CONTACTS_TAG_DELETE  5

/* stats.c: GET /api/stats, /api/stats/series and /api/webhook-events */
NGX_HTTP_BROADCAST_ROUTE(stats);
#define NGX_HTTP_BROADCAST_STATS_MESSAGES  0
#define NGX_HTTP_BROADCAST_STATS_EVENTS    1
#define NGX_HTTP_BROADCAST_STATS_SMS       2   /* the predecessor's shape */
#define NGX_HTTP_BROADCAST_STATS_SERIES    3   /* per channel per bucket */

/* msgtpl*.c: message templates, GET/POST /api/templates, .../{id} and
   .../{id}/preview (the variants of the rows) */
NGX_HTTP_BROADCAST_ROUTE(msgtpl);
#define NGX_HTTP_BROADCAST_MSGTPL_COLLECTION  0   /* /api/templates */
#define NGX_HTTP_BROADCAST_MSGTPL_ONE         1   /* /api/templates/{id} */
#define NGX_HTTP_BROADCAST_MSGTPL_PREVIEW_OF  2   /* .../{id}/preview */

/* keyword_rules.c: GET/POST /api/keyword-rules, GET/PATCH/DELETE
   /api/keyword-rules/{id}: the inbound auto-reply rules */
NGX_HTTP_BROADCAST_ROUTE(keyword_rules);

/* compat*.c: the predecessor console's routes in its shapes, on ours
   (the variant indexes the table of compat.c) */
NGX_HTTP_BROADCAST_ROUTE(compat);
/* a row of the route table for them (33 rows: two lines each) */
#define NGX_HTTP_BROADCAST_COMPAT_ROUTE(methods, pattern, need, variant)     \
    { methods, pattern, NGX_HTTP_BROADCAST_NEED_##need,                      \
      ngx_http_broadcast_compat_prepare, NGX_HTTP_BROADCAST_COMPAT_##variant }
#define NGX_HTTP_BROADCAST_COMPAT_CUSTOMERS        0
#define NGX_HTTP_BROADCAST_COMPAT_CUSTOMER_NEW     1
#define NGX_HTTP_BROADCAST_COMPAT_CUSTOMER_ONE     2
#define NGX_HTTP_BROADCAST_COMPAT_CUSTOMER_TAGS    3
#define NGX_HTTP_BROADCAST_COMPAT_TAG_RENAME       4
#define NGX_HTTP_BROADCAST_COMPAT_TAG_DELETE       5
#define NGX_HTTP_BROADCAST_COMPAT_CGROUPS          6
#define NGX_HTTP_BROADCAST_COMPAT_CGROUP_ONE       7
#define NGX_HTTP_BROADCAST_COMPAT_CGROUP_MEMBERS   8
#define NGX_HTTP_BROADCAST_COMPAT_SMS_CONTACTS     9
#define NGX_HTTP_BROADCAST_COMPAT_SMS_CONTACT_NEW  10
#define NGX_HTTP_BROADCAST_COMPAT_SMS_GROUPS       11
#define NGX_HTTP_BROADCAST_COMPAT_MTPL             12
#define NGX_HTTP_BROADCAST_COMPAT_MTPL_ONE         13
#define NGX_HTTP_BROADCAST_COMPAT_SMSTPL           14
#define NGX_HTTP_BROADCAST_COMPAT_SMSTPL_ONE       15
#define NGX_HTTP_BROADCAST_COMPAT_RULES            16
#define NGX_HTTP_BROADCAST_COMPAT_RULE_ONE         17

/* campaigns*.c: /api/campaigns..., /api/templates/{id}/history (the
   variants of the rows; campaigns.c maps them and the method to actions) */
NGX_HTTP_BROADCAST_ROUTE(campaigns);
/* a row of the route table for them */
#define NGX_HTTP_BROADCAST_CAMPAIGN_ROUTE(methods, pattern, need, variant)   \
    { methods, pattern, NGX_HTTP_BROADCAST_NEED_##need,                      \
      ngx_http_broadcast_campaigns_prepare,                                  \
      NGX_HTTP_BROADCAST_CAMPAIGNS_##variant }
#define NGX_HTTP_BROADCAST_CAMPAIGNS_COLLECTION  0   /* /api/campaigns */
#define NGX_HTTP_BROADCAST_CAMPAIGNS_ONE         1   /* .../{id} */
#define NGX_HTTP_BROADCAST_CAMPAIGNS_START       2   /* .../{id}/start */
#define NGX_HTTP_BROADCAST_CAMPAIGNS_PAUSE       3
#define NGX_HTTP_BROADCAST_CAMPAIGNS_RESUME      4
#define NGX_HTTP_BROADCAST_CAMPAIGNS_CANCEL      5
#define NGX_HTTP_BROADCAST_CAMPAIGNS_SCHEDULE    6
#define NGX_HTTP_BROADCAST_CAMPAIGNS_RECIPIENTS  7
#define NGX_HTTP_BROADCAST_CAMPAIGNS_RETRY       8   /* .../retry-failed */
#define NGX_HTTP_BROADCAST_CAMPAIGNS_DUPLICATES  9   /* check-duplicates */
#define NGX_HTTP_BROADCAST_CAMPAIGNS_HISTORY     10  /* templates/{id}/... */
#define NGX_HTTP_BROADCAST_CAMPAIGNS_ESTIMATE    11  /* .../estimate */

/* csv*.c: POST /api/contacts/import (the body kept on disk, parsed by a
   pool-thread job after the 202), GET /api/contacts/imports/{id},
   GET /api/contacts/export (streamed: page tasks fill buffers the loop
   sends chunked) */
NGX_HTTP_BROADCAST_ROUTE(csv);
#define NGX_HTTP_BROADCAST_CSV_IMPORT   0
#define NGX_HTTP_BROADCAST_CSV_IMPORTS  1
#define NGX_HTTP_BROADCAST_CSV_EXPORT   2
/* the predecessor's aliases: POST /api/sms/contacts/import (also reads a
   headerless phone,name,tags file), GET /api/sms/contacts/export */
#define NGX_HTTP_BROADCAST_CSV_SMS_IMPORT  3
#define NGX_HTTP_BROADCAST_CSV_SMS_EXPORT  4
/* loop, before the import's body is read: its own limit, to a file */
ngx_int_t ngx_http_broadcast_csv_body(ngx_http_request_t *r);


/*
 * The one accept path of every channel (send_accept.c): each channel
 * validates its content and normalises its recipients, then the same
 * idempotency check and MULTI/EXEC (send_queue.c) or Lua fast path
 * (send_fast.c) queue the batch.
 */

#define NGX_HTTP_BROADCAST_ADDR_MAX  256

typedef struct {
    char                 id[27];
    char                 to[NGX_HTTP_BROADCAST_ADDR_MAX];
    char                 peer[NGX_HTTP_BROADCAST_ADDR_MAX];
} ngx_http_broadcast_out_t;

/* loop: the job "to" and canonical peer of one recipient, 0 or -1 + reason */
typedef int (*ngx_http_broadcast_addr_pt)(ngx_http_request_t *r,
    const char *in, size_t len, char *to, char *peer, const char **reason);

typedef struct {
    char                         batch_id[27];
    char                         channel[16];
    char                         provider[16];
    char                         from[NGX_HTTP_BROADCAST_ADDR_MAX];
    char                         mss[64];
    char                         idem_hash[65];   /* empty: none */
    char                         body_hash[65];
    char                        *text;            /* malloc'd */
    char                        *extra;           /* malloc'd JSON or NULL */
    const char                  *sender_set;      /* whitelist key or NULL */
    ngx_uint_t                   window;          /* check wawin keys */
    ngx_uint_t                   lane;            /* of every id in it */
    long long                    created_ms;
    ngx_uint_t                   n;
    ngx_http_broadcast_out_t    *msgs;            /* malloc'd */
    json_t                      *rejected;

    /* a template send: the thread renders it into text/extra (msgtpl) */
    long long                    tpl_id;          /* 0: none */
    json_t                      *tpl_vars;        /* owned, or NULL */
    ngx_str_t                   *tpl_footer;      /* SMS opt-out or NULL */
} ngx_http_broadcast_batch_t;

#define BC_KEY_SENDERS_EMAIL     "bc:senders:email"
#define BC_KEY_SENDERS_WHATSAPP  "bc:senders:whatsapp"

/* send_accept.c: checks of "recipients"; 0 or -1 with ctx's error set */
int ngx_http_broadcast_send_recipients(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, json_t *recipients);
/* send_accept.c: a batch (channel/provider/from/... filled by the caller) */
ngx_http_broadcast_batch_t *ngx_http_broadcast_batch_new(
    ngx_http_request_t *r, ngx_http_broadcast_api_ctx_t *ctx,
    const char *text, size_t len);
/* send_accept.c: idempotency key, recipients, ids; ctx's error on failure */
void ngx_http_broadcast_send_accept(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_str_t *body,
    ngx_http_broadcast_batch_t *b, json_t *recipients,
    ngx_http_broadcast_addr_pt addr, const char *none_valid);
int ngx_http_broadcast_phone(const char *in, size_t len, const char *region,
    char *out, const char **reason);
size_t ngx_http_broadcast_utf8_chars(const char *s, size_t len);
ngx_int_t ngx_http_broadcast_single_line(json_t *v, size_t min, size_t max);


#define NGX_HTTP_BROADCAST_SENDERS_EMAIL     0
#define NGX_HTTP_BROADCAST_SENDERS_WHATSAPP  1


#define NGX_HTTP_BROADCAST_CHAT_USERS     0
#define NGX_HTTP_BROADCAST_CHAT_HISTORY   1
#define NGX_HTTP_BROADCAST_CHAT_MARK      2
#define NGX_HTTP_BROADCAST_CHAT_MESSAGES  3


/* chat.c: the decoded query argument; length, or -1 absent / too long */
ssize_t ngx_http_broadcast_api_arg(ngx_http_request_t *r, const char *name,
    char *buf, size_t size);
/* chat.c: ctx's op and its zeroed op_data; NULL with ctx's error set */
void *ngx_http_broadcast_api_op_new(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, size_t size,
    ngx_http_broadcast_op_pt op, ngx_http_broadcast_op_free_pt op_free);

/* sql.c: the SQL plumbing of the CRUD areas */
/* a positive decimal id of at most 18 digits (fits a BIGINT), or -1 */
long long ngx_http_broadcast_sql_id(const u_char *p, size_t len);
/* the "cursor" argument of a listing into *cursor (kept when absent);
   0, or -1 with ctx's 400 set */
int ngx_http_broadcast_sql_cursor(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, long long *cursor);
/* thread: one row of a listing as JSON (data: the caller's) */
typedef json_t *(*ngx_http_broadcast_sql_row_pt)(void *data, MYSQL_ROW row,
    unsigned long *lengths);
/* thread: the rows of res (freed), at most limit of them, as a JSON array
   by row_json; a row more (the SELECT asks limit + 1) tells that another
   page follows: next is then the id (row[0]) of the page's last row, else
   "". NULL with ctx's 500 set */
json_t *ngx_http_broadcast_sql_page(ngx_http_broadcast_api_ctx_t *ctx,
    MYSQL_RES *res, ngx_uint_t limit, ngx_http_broadcast_sql_row_pt row_json,
    void *data, char *next, size_t size);
int ngx_http_broadcast_sql_page_result(ngx_http_broadcast_api_ctx_t *ctx,
    MYSQL_RES *res, ngx_uint_t limit, ngx_http_broadcast_sql_row_pt row_json,
    void *data, const char *key);
/* thread: all the rows of res (freed) as a JSON array by row_json; NULL
   with ctx's 500 set */
json_t *ngx_http_broadcast_sql_rows(ngx_http_broadcast_api_ctx_t *ctx,
    MYSQL_RES *res, ngx_http_broadcast_sql_row_pt row_json, void *data);
/* thread: the number in the first column of res's first row (res freed),
   0 when no row; -1 when res is NULL (a failed SELECT: ctx's error set) */
long long ngx_http_broadcast_sql_number(MYSQL_RES *res);
/* thread: the look-up of one row by id: the first of list (released) as
   ctx->result, 1; or 0 with 404 not_found "no <what> with id <id>" set */
int ngx_http_broadcast_sql_one(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *list, const char *what, long long id);
/* thread: the answer to a DELETE by id just run: {"deleted":true,"id"},
   or 404 not_found "no <what> with id <id>" when no row went */
void ngx_http_broadcast_sql_deleted(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *what, long long id);
/* the ISO-8601 date or date-time s as a bound of an id range: the ULID
   (27 bytes with the NUL) of its millisecond with the lowest (fill '0')
   or highest ('Z') random part; 0, or -1 when not a time */
#define NGX_HTTP_BROADCAST_TIME_DAY          1   /* a date as 'Z': its end */
#define NGX_HTTP_BROADCAST_TIME_DATE_OFFSET  2   /* a date takes an offset */
int ngx_http_broadcast_sql_time(const char *s, ngx_uint_t flags, char fill,
    char *id);
/* the "limit" (1 to max, at most 4 digits; *limit kept when absent) and
   "cursor" arguments of a listing; 0, or -1 with ctx's 400 set */
int ngx_http_broadcast_sql_keyset(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_uint_t *limit, ngx_uint_t max,
    long long *cursor);
/* 1 when s is one of values (a NULL-ended list: an ENUM column's), else 0 */
ngx_uint_t ngx_http_broadcast_sql_enum(const char **values, const char *s);
/* thread: conn's MySQL connection, made when needed; 0, or -1 with ctx's
   mysql_unavailable set */
int ngx_http_broadcast_sql_connect(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);
/* a heavy read's connection: the replica if configured and fresh, else
   the primary (sql.c); 0, or -1 with the mysql_unavailable answer */
int ngx_http_broadcast_sql_read(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);
/* thread: the result set of the query just run; NULL with ctx's error */
MYSQL_RES *ngx_http_broadcast_sql_store(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);
/* thread: runs one SELECT, its result set; NULL with ctx's error */
MYSQL_RES *ngx_http_broadcast_sql_select(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *sql, size_t n);
/* thread: the same for a SELECT snprintf() printed (n) into sql[size];
   one cut short answers 500 internal_error */
MYSQL_RES *ngx_http_broadcast_sql_printed(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *sql, int n, size_t size);

/* status.c: the columns and message JSON of the listings */
#define NGX_HTTP_BROADCAST_LIST_COLUMNS                                      \
    BC_DB_MESSAGE_COLUMNS ",subject,peer,payload,pricing_category,"         \
    "provider_request_id"
json_t *ngx_http_broadcast_message_json(MYSQL_ROW row,
    unsigned long *lengths);

#define NGX_HTTP_BROADCAST_STATUS_ID      0
#define NGX_HTTP_BROADCAST_STATUS_TWILIO  1
#define NGX_HTTP_BROADCAST_STATUS_BATCH   2


#endif /* _NGX_HTTP_BROADCAST_API_H_INCLUDED_ */

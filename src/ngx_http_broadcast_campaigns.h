/*
 * Campaigns (sql/011_campaigns.sql, DESIGN.md "Campaigns"): what the
 * module's files of the area share.
 *
 *   campaigns.c             the routes' entry, POST/PATCH checked in the
 *                           loop (content through the send handlers)
 *   campaigns_audience.c    the audience's checks (loop)
 *   campaigns_write.c       the protos built and written (thread)
 *   campaigns_list.c        the campaign JSON, listing, one with its stats
 *   campaigns_state.c       start/pause/resume/cancel/schedule, DELETE
 *   campaigns_recipients.c  recipients, retry-failed, check-duplicates,
 *                           a template's history
 */

#ifndef _NGX_HTTP_BROADCAST_CAMPAIGNS_H_INCLUDED_
#define _NGX_HTTP_BROADCAST_CAMPAIGNS_H_INCLUDED_


#include "ngx_http_broadcast_api.h"
#include "ngx_http_broadcast_send.h"
#include "ngx_http_broadcast_contacts.h"


/* what a request does (the row's variant and the method decide it) */
#define NGX_HTTP_BROADCAST_CAMP_LIST        0
#define NGX_HTTP_BROADCAST_CAMP_CREATE      1
#define NGX_HTTP_BROADCAST_CAMP_GET         2
#define NGX_HTTP_BROADCAST_CAMP_PATCH       3
#define NGX_HTTP_BROADCAST_CAMP_DELETE      4
#define NGX_HTTP_BROADCAST_CAMP_START       5
#define NGX_HTTP_BROADCAST_CAMP_PAUSE       6
#define NGX_HTTP_BROADCAST_CAMP_RESUME      7
#define NGX_HTTP_BROADCAST_CAMP_CANCEL      8
#define NGX_HTTP_BROADCAST_CAMP_SCHEDULE    9
#define NGX_HTTP_BROADCAST_CAMP_RECIPIENTS  10
#define NGX_HTTP_BROADCAST_CAMP_RETRY       11
#define NGX_HTTP_BROADCAST_CAMP_DUPLICATES  12
#define NGX_HTTP_BROADCAST_CAMP_HISTORY     13
#define NGX_HTTP_BROADCAST_CAMP_ESTIMATE    14

#define NGX_HTTP_BROADCAST_CAMP_422           422
#define NGX_HTTP_BROADCAST_CAMP_NAME_MAX      255   /* characters */
#define NGX_HTTP_BROADCAST_CAMP_VARIANTS_MAX  10
#define NGX_HTTP_BROADCAST_CAMP_VNAME_MAX     64    /* characters */
#define NGX_HTTP_BROADCAST_CAMP_IDS_MAX       10000
#define NGX_HTTP_BROADCAST_CAMP_STEPS_MAX     5     /* after the first */
#define NGX_HTTP_BROADCAST_CAMP_DELAY_MAX     (30 * 86400)  /* seconds */
#define NGX_HTTP_BROADCAST_CAMP_LIMIT         50    /* default page */
#define NGX_HTTP_BROADCAST_CAMP_LIMIT_MAX     500

/* ISO-8601 UTC with milliseconds, as the message JSON */
#define NGX_HTTP_BROADCAST_CAMP_TIME(col)                                     \
    "CONCAT(LEFT(DATE_FORMAT(" col ",'%Y-%m-%dT%H:%i:%s.%f'),23),'Z')"


/* one variant: what it sends, as the send path's batch until the thread
   turns it into the proto */
typedef struct {
    char                           name[NGX_HTTP_BROADCAST_CAMP_VNAME_MAX
                                        * 4 + 1];
    ngx_int_t                      weight;
    long long                      template_id;      /* 0: content */
    ngx_http_broadcast_batch_t    *b;
    ngx_http_broadcast_op_free_pt  b_free;
    char                          *proto;            /* malloc'd */
} ngx_http_broadcast_camp_variant_t;


/* a later step (sql/012_campaign_steps.sql): its content as a variant's,
   on its own channel, after a delay, on a condition */
typedef struct {
    ngx_http_broadcast_camp_variant_t  v;
    char                               channel[16];
    long long                          delay;         /* seconds */
    const char                        *condition;     /* static */
} ngx_http_broadcast_camp_step_t;


typedef struct {
    ngx_uint_t    action;
    long long     id;

    /* listings: page and filters */
    ngx_uint_t    limit;
    long long     cursor;
    char          status[32];
    char          variant[NGX_HTTP_BROADCAST_CAMP_VNAME_MAX * 4 + 1];

    /* POST and PATCH: the fields given */
    ngx_uint_t    has_name;
    ngx_uint_t    has_audience;
    ngx_uint_t    has_sending;       /* channel, from, content, variants */
    ngx_uint_t    has_vars;
    ngx_uint_t    has_rate;
    ngx_uint_t    has_quiet;
    ngx_uint_t    has_schedule;
    ngx_uint_t    has_never;
    ngx_uint_t    has_steps;
    char         *name;              /* malloc'd */
    char         *audience;          /* malloc'd JSON */
    long long     audience_limit;    /* 0: none */
    char         *vars;              /* malloc'd JSON object or NULL */
    char         *quiet;             /* malloc'd JSON or NULL */
    char          quiet_tz[65];      /* its timezone, "" none */
    char          channel[16];
    long long     template_id;       /* the campaign's, 0: none */
    ngx_int_t     never_repeat;
    ngx_int_t     rate;
    char          schedule_at[80];   /* DATETIME text, "" for null */

    ngx_uint_t    nvariants;
    ngx_http_broadcast_camp_variant_t
                  variants[NGX_HTTP_BROADCAST_CAMP_VARIANTS_MAX];

    ngx_uint_t    nsteps;
    ngx_http_broadcast_camp_step_t
                  steps[NGX_HTTP_BROADCAST_CAMP_STEPS_MAX];

    /* audience and check-duplicates: ids the thread looks up */
    long long    *group_ids;         /* malloc'd */
    ngx_uint_t    ngroups;
    json_t       *items;             /* check-duplicates: owned */
    char         *tname;             /* check-duplicates: template_name */
} ngx_http_broadcast_camp_t;


/* campaigns.c, thread: POST and PATCH */
json_t *ngx_http_broadcast_camp_str(const char *s);
int ngx_http_broadcast_camp_lock_in(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp,
    ngx_http_broadcast_sql_t *sql, const char **allowed, const char *who,
    const char *what);
void ngx_http_broadcast_camp_write(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp);
/* campaigns.c: a 422 invalid_request "<field> <rule>"; always -1 */
int ngx_http_broadcast_camp_invalid(ngx_http_broadcast_api_ctx_t *ctx,
    const char *field, const char *rule);

static ngx_inline ngx_uint_t
ngx_http_broadcast_camp_given(json_t *v)
{
    return v != NULL && !json_is_null(v);
}

/* campaigns.c: content (or v->template_id) of channel through that
   channel's send handler into v's batch; 0, or -1 with ctx's 422 naming
   field */
int ngx_http_broadcast_camp_content(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_camp_t *cp,
    const char *channel, json_t *content, json_t *from,
    ngx_http_broadcast_camp_variant_t *v, const char *field);
/* campaigns_write.c, thread: v's batch into v->proto (a template rendered
   into it, the sender checked when check_sender); 1, 0 with ctx's
   answer, -1 out of memory */
int ngx_http_broadcast_camp_proto(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp,
    ngx_http_broadcast_camp_variant_t *v, ngx_uint_t check_sender);

/* campaigns_steps.c: "steps" of POST/PATCH into cp (loop); 0 or -1 with
   ctx's 422 */
int ngx_http_broadcast_camp_steps(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, json_t *json,
    ngx_http_broadcast_camp_t *cp);
/* thread: the steps' protos; 1, 0 with ctx's answer, -1 */
int ngx_http_broadcast_camp_steps_protos(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp);
/* thread: the INSERT of the steps' rows into sql (nothing without steps) */
void ngx_http_broadcast_camp_step_rows(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_camp_t *cp, ngx_http_broadcast_sql_t *sql);
void ngx_http_broadcast_camp_steps_free(ngx_http_broadcast_camp_t *cp);

/* campaigns_audience.c: an array of at most max positive ids; its size,
   or -1 with ctx's 422 naming field */
ngx_int_t ngx_http_broadcast_camp_ids(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *list, const char *field, ngx_uint_t max);
/* campaigns_audience.c: "audience" into cp; 0, or -1 with ctx's 422 */
int ngx_http_broadcast_camp_audience(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, json_t *a,
    ngx_http_broadcast_camp_t *cp);
/* campaigns.c: checks of "schedule_at" into cp; 0 or -1 with ctx's 422 */
int ngx_http_broadcast_camp_schedule(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *v, ngx_http_broadcast_camp_t *cp);

/* campaigns_list.c, thread */
void ngx_http_broadcast_camp_list(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp);
/* the campaign cp->id as JSON (with stats when asked); NULL with ctx's
   error set (404 when there is none) */
json_t *ngx_http_broadcast_camp_one(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id, ngx_uint_t stats);
/* the status of campaign id into out; 1, 0 with a 404 set, -1 on error */
int ngx_http_broadcast_camp_status(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id, char *out, size_t size);
/* a 409 invalid_transition naming the status of campaign id */
void ngx_http_broadcast_camp_refused(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id, const char *what);

/* campaigns_state.c, thread: the transitions and DELETE */
void ngx_http_broadcast_camp_move(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp);
void ngx_http_broadcast_camp_delete(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp);

/* campaigns_recipients.c */
/* campaigns_audience.c: POST /api/campaigns/estimate, the loop's body
   check and the thread's count of the eligible recipients */
int ngx_http_broadcast_camp_estimate_args(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, json_t *json,
    ngx_http_broadcast_camp_t *cp);
void ngx_http_broadcast_camp_estimate(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp);
int ngx_http_broadcast_camp_dup_args(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, json_t *json,
    ngx_http_broadcast_camp_t *cp);
void ngx_http_broadcast_camp_recipients(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp);
void ngx_http_broadcast_camp_retry(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp);
void ngx_http_broadcast_camp_duplicates(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp);
void ngx_http_broadcast_camp_history(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp);


#endif /* _NGX_HTTP_BROADCAST_CAMPAIGNS_H_INCLUDED_ */

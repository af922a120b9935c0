/*
 * Message templates (sql/008_templates.sql), shared by the three files of
 * the area: msgtpl.c (the loop: requests checked, placeholders found and
 * filled), msgtpl_db.c (the thread: the table's rows) and
 * msgtpl_preview.c (the thread: a template rendered for a contact or
 * for a send by template_id, declared in send.h).
 * Not the provider's template listing: that is templates.c.
 */

#ifndef _NGX_HTTP_BROADCAST_MSGTPL_H_INCLUDED_
#define _NGX_HTTP_BROADCAST_MSGTPL_H_INCLUDED_


#include "ngx_http_broadcast_api.h"
#include "bc_template.h"


/* what a request does (the variant and the method decide it) */
#define NGX_HTTP_BROADCAST_MSGTPL_LIST      0
#define NGX_HTTP_BROADCAST_MSGTPL_CREATE    1
#define NGX_HTTP_BROADCAST_MSGTPL_GET       2
#define NGX_HTTP_BROADCAST_MSGTPL_PATCH     3
#define NGX_HTTP_BROADCAST_MSGTPL_DELETE    4
#define NGX_HTTP_BROADCAST_MSGTPL_PREVIEW   5

/* the fields of a template: JSON keys and columns, in the SQL's order */
#define NGX_HTTP_BROADCAST_MSGTPL_CHANNEL   0
#define NGX_HTTP_BROADCAST_MSGTPL_NAME      1
#define NGX_HTTP_BROADCAST_MSGTPL_LANGUAGE  2
#define NGX_HTTP_BROADCAST_MSGTPL_SUBJECT   3
#define NGX_HTTP_BROADCAST_MSGTPL_BODY      4
#define NGX_HTTP_BROADCAST_MSGTPL_HTML      5
#define NGX_HTTP_BROADCAST_MSGTPL_SID       6
#define NGX_HTTP_BROADCAST_MSGTPL_PNAME     7
#define NGX_HTTP_BROADCAST_MSGTPL_NFIELDS   8

/* the columns the thread reads: id, the fields, created_at, updated_at */
#define NGX_HTTP_BROADCAST_MSGTPL_TIME(col)                                   \
    "CONCAT(LEFT(DATE_FORMAT(" col ",'%Y-%m-%dT%H:%i:%s.%f'),23),'Z')"

#define NGX_HTTP_BROADCAST_MSGTPL_COLUMNS                                     \
    "id,channel,name,language,subject,body,html,content_sid,provider_name,"  \
    NGX_HTTP_BROADCAST_MSGTPL_TIME("created_at") ","                          \
    NGX_HTTP_BROADCAST_MSGTPL_TIME("updated_at")

#define NGX_HTTP_BROADCAST_MSGTPL_LIMIT      100    /* default page */
#define NGX_HTTP_BROADCAST_MSGTPL_LIMIT_MAX  500
#define NGX_HTTP_BROADCAST_MSGTPL_VAR_MAX    BC_TEMPLATE_VAR_MAX

/* nginx has no name for 422 */
#define NGX_HTTP_BROADCAST_MSGTPL_422        422


typedef struct {
    ngx_uint_t   action;
    long long    id;

    /* GET /api/templates */
    long long    cursor;
    ngx_int_t    limit;
    ngx_int_t    channel;           /* an index of the channels, or -1 */

    /* POST and PATCH: the fields given (set), as null (nulls), values */
    ngx_uint_t   set;
    ngx_uint_t   nulls;
    ngx_str_t    f[NGX_HTTP_BROADCAST_MSGTPL_NFIELDS];   /* malloc'd */

    /* preview */
    long long    contact_id;
    json_t      *vars;              /* an object of strings, owned */
} ngx_http_broadcast_msgtpl_t;


/* "sms", "whatsapp", "email"; the index of name, or -1 */
extern const char  *ngx_http_broadcast_msgtpl_channels[];
ngx_int_t ngx_http_broadcast_msgtpl_channel(const char *s, size_t len);

/* the JSON keys of the fields, by index */
extern const char  *ngx_http_broadcast_msgtpl_keys[];

/*
 * a whole template (v[i].data NULL: null) by the house rules; 0, or -1
 * with *code and why (a sentence for the person) set. Pure: the loop
 * checks POST with it, the thread the result of a PATCH.
 */
int ngx_http_broadcast_msgtpl_check(ngx_str_t *v, const char **code,
    char *why, size_t size);

/* the next {{ name }} placeholder (bc_template_next()) */
int ngx_http_broadcast_msgtpl_next(const char *s, size_t len, size_t from,
    size_t *start, size_t *end, size_t *name, size_t *nlen);

/* the distinct variables of subject, body and html, in order; or NULL */
json_t *ngx_http_broadcast_msgtpl_variables(ngx_str_t *v);

/* s with its placeholders filled from vals (bc_template_render()) */
int ngx_http_broadcast_msgtpl_render(const char *s, size_t len,
    json_t *vals, json_t *missing, char **out, size_t *outlen);

/* msgtpl_db.c and msgtpl_preview.c: the thread's operations */
void ngx_http_broadcast_msgtpl_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);
void ngx_http_broadcast_msgtpl_preview(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);

/* msgtpl_db.c: the row of template id into v (pointing into *res, which
   the caller frees); 1 found, 0 not, -1 with ctx's error set */
int ngx_http_broadcast_msgtpl_fetch(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id, const char *lock,
    MYSQL_RES **res, ngx_str_t *v);


#endif /* _NGX_HTTP_BROADCAST_MSGTPL_H_INCLUDED_ */

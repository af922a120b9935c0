/*
 * The send path's internals shared by its files: the accept path and
 * idempotency (send_accept.c), the queueing MULTI/EXEC and the job JSON
 * (send_queue.c), the Lua fast path (send_fast.c); and what the channels'
 * prepare functions (send.c, whatsapp.c, email.c) share. The channels'
 * entry points are in ngx_http_broadcast_api.h.
 */
#ifndef _NGX_HTTP_BROADCAST_SEND_H_INCLUDED_
#define _NGX_HTTP_BROADCAST_SEND_H_INCLUDED_


#include "ngx_http_broadcast_api.h"


/* send_accept.c: the request's JSON and its checked "recipients" */
json_t *ngx_http_broadcast_send_parse(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_str_t *body, json_t **recipients);
/* send_accept.c: channel, provider, sender and extra JSON; 0 or -1 */
int ngx_http_broadcast_batch_set(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_batch_t *b,
    const char *channel, const char *provider, const char *from,
    json_t *extra);

/* send.c: a Twilio id (MG..., HX...): prefix and 32 hex digits; 1 or 0 */
ngx_uint_t ngx_http_broadcast_twilio_sid(json_t *v, const char *prefix);
/* whatsapp.c: meta:<id> or whatsapp:+E164 into out; 0, or -1 if neither */
int ngx_http_broadcast_wa_sender(const char *s, size_t len, char *out);

/* send_queue.c: the thread op of every send (checks, MULTI ... EXEC) */
void ngx_http_broadcast_send_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);

/* send_queue.c: the job JSON of every message; 0 or -1 (nomem) */
int ngx_http_broadcast_send_jobs(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_batch_t *b, char ***jobs_out, size_t **lens_out);

/* send_queue.c: the 202 body as text, malloc'd; NULL on nomem */
char *ngx_http_broadcast_send_resp_text(ngx_http_broadcast_batch_t *b,
    size_t *len);

void ngx_http_broadcast_send_jobs_free(ngx_http_broadcast_batch_t *b,
    char **jobs);

/* send_fast.c: the thread's fast path (one script); 0: take send_op */
int ngx_http_broadcast_send_fast(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);

/* send_accept.c: the idempotency record; 1 to go on, 0: ctx answers */
int ngx_http_broadcast_send_idem(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_batch_t *b,
    const char *key);
void ngx_http_broadcast_send_idem_del(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *key);

/*
 * msgtpl.c, loop: a send's "template_id" and "template_variables" onto b
 * (the request then takes the thread path); 0, or -1 with ctx's error set
 */
int ngx_http_broadcast_msgtpl_send_args(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, json_t *json,
    ngx_http_broadcast_batch_t *b);
/* msgtpl_preview.c, thread: b's template rendered into its text and
   extra; 1 to go on, 0 when ctx holds the answer */
int ngx_http_broadcast_msgtpl_send(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_batch_t *b);


#endif /* _NGX_HTTP_BROADCAST_SEND_H_INCLUDED_ */

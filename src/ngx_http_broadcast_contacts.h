/*
 * What the two files of the contacts area share: contacts.c (one contact:
 * create, read, change, delete) and contacts_list.c (the listing and the
 * tag routes). Tables: sql/006_contacts.sql.
 */

#ifndef _NGX_HTTP_BROADCAST_CONTACTS_H_INCLUDED_
#define _NGX_HTTP_BROADCAST_CONTACTS_H_INCLUDED_


#include "ngx_http_broadcast_api.h"


/* a tag: at most 64 characters of UTF-8, so at most 256 bytes */
#define NGX_HTTP_BROADCAST_TAG_CHARS   64
#define NGX_HTTP_BROADCAST_TAG_SIZE    (NGX_HTTP_BROADCAST_TAG_CHARS * 4 + 1)

/* the columns ngx_http_broadcast_contacts_fetch reads, in order */
#define NGX_HTTP_BROADCAST_CONTACT_COLUMNS                                    \
    "c.id,c.name,c.phone,c.whatsapp,c.email,c.attributes,c.locale,"          \
    "c.timezone,DATE_FORMAT(c.created_at,'%Y-%m-%dT%H:%i:%s.%fZ'),"          \
    "DATE_FORMAT(c.updated_at,'%Y-%m-%dT%H:%i:%s.%fZ')"


/* a growing SQL text; failed is set once memory ran out */
typedef struct {
    char        *data;
    size_t       len;
    size_t       cap;
    ngx_uint_t   failed;
} ngx_http_broadcast_sql_t;


/* appends printf-style text */
void ngx_http_broadcast_sql_cat(ngx_http_broadcast_sql_t *s,
    const char *fmt, ...);
/* appends v as a quoted SQL literal, or NULL when v is NULL */
void ngx_http_broadcast_sql_str(ngx_http_broadcast_sql_t *s, MYSQL *m,
    const char *v, size_t len);

/* loop: a trimmed, checked tag into out; 0, or -1 with *why set */
int ngx_http_broadcast_contact_tag(const char *in, size_t len, char *out,
    const char **why);

/* thread: runs sql; 0, or -1 with ctx's error set (MySQL down) */
int ngx_http_broadcast_contacts_exec(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_sql_t *sql);

/*
 * thread: the contacts sql selects (NGX_HTTP_BROADCAST_CONTACT_COLUMNS,
 * ordered by id) as a JSON array, each with its tags; NULL with ctx's
 * error set
 */
json_t *ngx_http_broadcast_contacts_fetch(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_sql_t *sql);


#endif /* _NGX_HTTP_BROADCAST_CONTACTS_H_INCLUDED_ */

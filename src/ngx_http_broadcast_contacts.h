/*
 * What the two files of the contacts area share: contacts.c (one contact:
 * create, read, change, delete) and contacts_list.c (the listing and the
 * tag routes). Tables: sql/006_contacts.sql.
 */

#ifndef _NGX_HTTP_BROADCAST_CONTACTS_H_INCLUDED_
#define _NGX_HTTP_BROADCAST_CONTACTS_H_INCLUDED_


#include "ngx_http_broadcast_api.h"

#include "bc_phone.h"


/* a tag: at most 64 characters of UTF-8, so at most 256 bytes */
#define NGX_HTTP_BROADCAST_TAG_CHARS   64
#define NGX_HTTP_BROADCAST_TAG_SIZE    (NGX_HTTP_BROADCAST_TAG_CHARS * 4 + 1)

/* one contact's request, checked in the loop (contacts.c) */
#define NGX_HTTP_BROADCAST_CONTACT_CREATE  0
#define NGX_HTTP_BROADCAST_CONTACT_GET     1
#define NGX_HTTP_BROADCAST_CONTACT_PATCH   2
#define NGX_HTTP_BROADCAST_CONTACT_DELETE  3

#define NGX_HTTP_BROADCAST_CF_NAME      0x01
#define NGX_HTTP_BROADCAST_CF_PHONE     0x02
#define NGX_HTTP_BROADCAST_CF_WHATSAPP  0x04
#define NGX_HTTP_BROADCAST_CF_EMAIL     0x08
#define NGX_HTTP_BROADCAST_CF_LOCALE    0x10
#define NGX_HTTP_BROADCAST_CF_TIMEZONE  0x20
#define NGX_HTTP_BROADCAST_CF_ATTRS     0x40
#define NGX_HTTP_BROADCAST_CF_TAGS      0x80

#define NGX_HTTP_BROADCAST_CF_ADDRS                                           \
    (NGX_HTTP_BROADCAST_CF_PHONE|NGX_HTTP_BROADCAST_CF_WHATSAPP              \
     |NGX_HTTP_BROADCAST_CF_EMAIL)

#define NGX_HTTP_BROADCAST_CONTACT_TAGS_MAX   100
#define NGX_HTTP_BROADCAST_CONTACT_NAME_MAX   255
#define NGX_HTTP_BROADCAST_CONTACT_ATTRS_MAX  65536

/* nginx has no name for 422 */
#define NGX_HTTP_BROADCAST_UNPROCESSABLE      422


typedef struct {
    ngx_uint_t   action;
    long long    id;
    ngx_uint_t   set;       /* CF_ bits given in the body */
    ngx_uint_t   nulls;     /* CF_ bits given as null (or "") */
    char         name[NGX_HTTP_BROADCAST_CONTACT_NAME_MAX * 4 + 1];
    char         phone[BC_PHONE_MAX];
    char         whatsapp[BC_PHONE_MAX];
    char         email[BC_EMAIL_MAX + 1];
    char         locale[36];
    char         timezone[65];
    char        *attrs;     /* malloc'd compact JSON */
    ngx_uint_t   ntags;
    char         tags[NGX_HTTP_BROADCAST_CONTACT_TAGS_MAX]
                     [NGX_HTTP_BROADCAST_TAG_SIZE];
    char         country[8];
} ngx_http_broadcast_contact_t;


/* loop: one field's value (not null) into ct; 0, or -1 with *why set */
typedef int (*ngx_http_broadcast_cfield_pt)(ngx_http_broadcast_contact_t *ct,
    json_t *v, char *out, size_t size, const char **why);

typedef struct {
    const char                    *key;       /* JSON and column name */
    ngx_uint_t                     bit;
    ngx_http_broadcast_cfield_pt   parse;
    size_t                         offset;    /* char[] in the contact, */
    size_t                         size;      /* or 0: not a plain column */
} ngx_http_broadcast_cfield_t;


/* the body's fields, in the order of the SQL (contacts.c) */
extern const ngx_http_broadcast_cfield_t  ngx_http_broadcast_cfields[];
extern const ngx_uint_t                   ngx_http_broadcast_ncfields;

/* contacts_write.c: the thread's operation of a contact request */
void ngx_http_broadcast_contact_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);


/* the columns ngx_http_broadcast_contacts_fetch reads, in order */
#define NGX_HTTP_BROADCAST_CONTACT_COLUMNS                                    \
    "c.id,c.name,c.phone,c.whatsapp,c.email,c.attributes,c.locale,"          \
    "c.timezone,DATE_FORMAT(c.created_at,'%Y-%m-%dT%H:%i:%s.%fZ'),"          \
    "DATE_FORMAT(c.updated_at,'%Y-%m-%dT%H:%i:%s.%fZ')"


/*
 * A growing SQL text; failed is set once memory ran out. tx: a statement
 * of an open transaction, never retried on a new connection (it would run
 * there in autocommit, half of the transaction lost without an error).
 */
typedef struct {
    char        *data;
    size_t       len;
    size_t       cap;
    ngx_uint_t   failed;
    ngx_uint_t   tx;
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

/* thread: a MySQL connection, to quote with before the first query (the
   old name of sql.c's ngx_http_broadcast_sql_connect, msgtpl*.c use it) */
#define ngx_http_broadcast_contacts_connect  ngx_http_broadcast_sql_connect

/* thread: runs sql; 0, or -1 with ctx's error set (MySQL down) */
int ngx_http_broadcast_contacts_exec(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_sql_t *sql);
/* thread: START TRANSACTION, then sql (emptied) runs in it (tx); 0, or -1
   with ctx's error set and sql's text freed */
int ngx_http_broadcast_contacts_begin(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_sql_t *sql);
/* thread: runs sql, its result set; NULL with ctx's error set */
MYSQL_RES *ngx_http_broadcast_contacts_select(
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_sql_t *sql);

/*
 * thread: the contacts sql selects (NGX_HTTP_BROADCAST_CONTACT_COLUMNS,
 * ordered by id) as a JSON array, each with its tags; NULL with ctx's
 * error set
 */
json_t *ngx_http_broadcast_contacts_fetch(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_sql_t *sql);
/* thread: the same for the contact id: an array of it, or empty */
json_t *ngx_http_broadcast_contacts_by_id(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id);


#endif /* _NGX_HTTP_BROADCAST_CONTACTS_H_INCLUDED_ */

/*
 * The CSV import's parse state, shared by csv_import.c (the parse, in a
 * pool thread of its own) and csv_write.c (the batches into MySQL).
 */

#ifndef _NGX_HTTP_BROADCAST_CSV_IMPORT_H_INCLUDED_
#define _NGX_HTTP_BROADCAST_CSV_IMPORT_H_INCLUDED_


#include "ngx_http_broadcast_csv.h"


#define NGX_HTTP_BROADCAST_IMPORT_BATCH      1000
#define NGX_HTTP_BROADCAST_IMPORT_ERRORS     1000
#define NGX_HTTP_BROADCAST_IMPORT_COLS       256
#define NGX_HTTP_BROADCAST_IMPORT_FIELD_MAX  65536

enum {
    BC_COL_ATTR = 0, BC_COL_NAME, BC_COL_PHONE, BC_COL_WHATSAPP,
    BC_COL_EMAIL, BC_COL_TAGS, BC_COL_LOCALE, BC_COL_TIMEZONE, BC_COL_ATTRS,
    BC_COL_SKIP
};


typedef struct {
    char         name[NGX_HTTP_BROADCAST_CONTACT_NAME_MAX * 4 + 1];
    char         phone[BC_PHONE_MAX];
    char         whatsapp[BC_PHONE_MAX];
    char         email[BC_EMAIL_MAX + 1];
    char         locale[36];
    char         timezone[65];
    char        *attrs;                    /* malloc'd JSON or NULL */
    json_t      *tags;                     /* array of strings */
    long long    line;
    long long    id;                       /* the contact, once written */
} ngx_http_broadcast_csv_row_t;


typedef struct {
    ngx_http_broadcast_import_job_t  *job;
    ngx_http_broadcast_conn_t        *conn;

    /* the record being read */
    char                             *fields[NGX_HTTP_BROADCAST_IMPORT_COLS];
    size_t                            lens[NGX_HTTP_BROADCAST_IMPORT_COLS];
    ngx_uint_t                        nfields;
    ngx_uint_t                        too_long;
    long long                         line;        /* physical, 1-based */
    long long                         record_line;
    int                               last_end;    /* cb2's last c */

    /* the header */
    ngx_uint_t                        header_done;
    ngx_uint_t                        headerless;  /* line 1 was a row */
    ngx_uint_t                        ncols;
    int                               cols[NGX_HTTP_BROADCAST_IMPORT_COLS];
    char                             *names[NGX_HTTP_BROADCAST_IMPORT_COLS];

    /* the batch */
    ngx_http_broadcast_csv_row_t      batch[NGX_HTTP_BROADCAST_IMPORT_BATCH];
    ngx_uint_t                        nbatch;

    long long                         rows, created, updated, rejected;
    json_t                           *errors;
    ngx_uint_t                        failed;
    char                              message[256];
} ngx_http_broadcast_csv_state_t;


/* csv_write.c: the batch in one transaction with the counters */
void ngx_http_broadcast_csv_flush(ngx_http_broadcast_csv_state_t *st);
/* the imports row's counters, errors and message; 0 or -1 */
int ngx_http_broadcast_csv_progress(ngx_http_broadcast_csv_state_t *st,
    const char *status);
void ngx_http_broadcast_csv_free_batch(ngx_http_broadcast_csv_state_t *st);
/* csv_import.c: a row refused, counted with its line and why */
void ngx_http_broadcast_csv_reject(ngx_http_broadcast_csv_state_t *st,
    const char *why);


#endif /* _NGX_HTTP_BROADCAST_CSV_IMPORT_H_INCLUDED_ */

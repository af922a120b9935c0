/*
 * The CSV import's parse state, shared by csv_import.c (the parse, in a
 * pool thread of its own) and csv_write.c (the batches into MySQL).
 */

#ifndef _NGX_HTTP_BROADCAST_CSV_IMPORT_H_INCLUDED_
#define _NGX_HTTP_BROADCAST_CSV_IMPORT_H_INCLUDED_


#include "ngx_http_broadcast_csv.h"

#include <pthread.h>


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

    /* the batch the parse fills: one of two, the writer has the other */
    ngx_http_broadcast_csv_row_t     *batch;
    ngx_uint_t                        nbatch;
    ngx_http_broadcast_csv_row_t      batches[2]
                                          [NGX_HTTP_BROADCAST_IMPORT_BATCH];
    ngx_uint_t                        fill;        /* batch's index */
    ngx_uint_t                        failed;      /* the parse's */
    char                              message[256];

    /*
     * The writer (csv_write.c): a thread of the import's own writes one
     * batch into MySQL while the parse fills the next, on the task's
     * connection (the parse never uses it). It owns wbatch while busy.
     */
    pthread_t                         writer;
    pthread_mutex_t                   mu;
    pthread_cond_t                    cv;
    ngx_uint_t                        writer_started;
    ngx_uint_t                        busy;        /* under mu */
    ngx_uint_t                        stop;        /* under mu */
    ngx_uint_t                        wfailed;     /* under mu */
    ngx_http_broadcast_csv_row_t     *wbatch;
    ngx_uint_t                        nwbatch;
    long long                         created, updated;   /* writer's */
    char                              wmessage[256];      /* writer's */

    /* both threads count rows and refusals: under mu */
    long long                         rows, rejected;
    json_t                           *errors;
} ngx_http_broadcast_csv_state_t;


/* csv_write.c, the parse's side: the writer started (or not: then each
   batch is written in the parse's thread), a full batch handed over, and
   at the end the writer stopped and the last batch and counters written */
void ngx_http_broadcast_csv_writer_start(ngx_http_broadcast_csv_state_t *st);
void ngx_http_broadcast_csv_hand_over(ngx_http_broadcast_csv_state_t *st);
void ngx_http_broadcast_csv_finish(ngx_http_broadcast_csv_state_t *st);
void ngx_http_broadcast_csv_free_rows(ngx_http_broadcast_csv_row_t *rows,
    ngx_uint_t n);

/* a row counted (parse), or refused with its line and why; counted: it
   was counted as a row already (the writer's refusals) */
void ngx_http_broadcast_csv_count(ngx_http_broadcast_csv_state_t *st);
void ngx_http_broadcast_csv_reject(ngx_http_broadcast_csv_state_t *st,
    long long line, const char *why, ngx_uint_t counted);


#endif /* _NGX_HTTP_BROADCAST_CSV_IMPORT_H_INCLUDED_ */

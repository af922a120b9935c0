/*
 * CSV import of contacts: csv.c (the routes, in the loop and the API
 * thread) hands a job to csv_import.c (the parser, in a pool thread of its
 * own, after the 202 was answered). The job owns copies of everything: the
 * request is gone by the time it runs.
 */

#ifndef _NGX_HTTP_BROADCAST_CSV_H_INCLUDED_
#define _NGX_HTTP_BROADCAST_CSV_H_INCLUDED_


#include "ngx_http_broadcast_contacts.h"


/* ?tags= of an import: at most this many */
#define NGX_HTTP_BROADCAST_IMPORT_TAGS_MAX  16


typedef struct {
    ngx_http_broadcast_main_conf_t  *mcf;
    long long                        import_id;
    long long                        group_id;     /* 0: none */
    char                             path[NGX_MAX_PATH];  /* our link */
    char                             country[8];
    /* the predecessor's route: a file whose line 1 names no address
       column is read as phone,name,tags by position, with no header */
    ngx_uint_t                       by_position;
    ngx_uint_t                       ntags;
    char                             tags[NGX_HTTP_BROADCAST_IMPORT_TAGS_MAX]
                                         [NGX_HTTP_BROADCAST_TAG_SIZE];
} ngx_http_broadcast_import_job_t;


/* pool thread: parses job->path into contacts, updates the imports row,
   deletes the file */
void ngx_http_broadcast_import_run(ngx_http_broadcast_import_job_t *job,
    ngx_http_broadcast_conn_t *conn);


/* csv_export.c: GET /api/contacts/export in the loop (ctx's op or error);
   sms: the predecessor's GET /api/sms/contacts/export (phone,name,tags) */
void ngx_http_broadcast_csv_export_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_uint_t sms);


#endif /* _NGX_HTTP_BROADCAST_CSV_H_INCLUDED_ */

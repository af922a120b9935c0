/*
 * The send job: what the module queues and the sender consumes.
 */
#ifndef BC_JOB_H
#define BC_JOB_H

#include <jansson.h>

typedef struct {
    char        id[27];
    char        batch_id[27];
    char        channel[16];        /* "sms" */
    char        provider[16];       /* "twilio" */
    char        to[256];
    char        from[256];
    char        messaging_service_sid[64];
    char       *body;               /* owned: malloc'd */
    char       *extra;              /* owned: compact JSON object text of
                                       the channel's extra fields, or NULL
                                       (docs/DESIGN.md "Channels") */
    long long   api_key_id;         /* 0 if none */
    long long   created_ms;
    int         attempt;
    long long   campaign_id;        /* 0: not a campaign's (then neither
                                       field is written) */
    long long   queue_seq;          /* the recipient row's fencing token */
} bc_job_t;

/* the JSON of docs/DESIGN.md ("status":"queued" included); NULL on OOM */
json_t *bc_job_to_json(const bc_job_t *job);

/* compact JSON text, malloc'd (caller frees) */
char *bc_job_dump(const bc_job_t *job);

/* parses job JSON; returns 0, -1 on a missing/mistyped field (err set) */
int bc_job_parse(const char *json, size_t len, bc_job_t *job, char *err,
    size_t errlen);

void bc_job_free(bc_job_t *job);

#endif /* BC_JOB_H */

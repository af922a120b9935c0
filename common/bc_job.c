/*
 * The send job: what the module queues and the sender consumes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "bc_job.h"


json_t *
bc_job_to_json(const bc_job_t *job)
{
    json_t  *obj, *extra;

    obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I,"
                    " s:i, s:s}",
                    "id", job->id,
                    "batch_id", job->batch_id,
                    "channel", job->channel,
                    "provider", job->provider,
                    "to", job->to,
                    "from", job->from,
                    "messaging_service_sid", job->messaging_service_sid,
                    "body", job->body ? job->body : "",
                    "api_key_id", (json_int_t) job->api_key_id,
                    "created_ms", (json_int_t) job->created_ms,
                    "attempt", job->attempt,
                    "status", "queued");

    /* written only for a campaign's job: every other job keeps its
       shape (and the module's Lua fast path its bytes) */
    if (obj != NULL && job->campaign_id != 0
        && (json_object_set_new(obj, "campaign_id",
                                json_integer(job->campaign_id)) != 0
            || json_object_set_new(obj, "queue_seq",
                                   json_integer(job->queue_seq)) != 0))
    {
        json_decref(obj);
        return NULL;
    }

    if (obj != NULL && job->extra != NULL) {
        extra = json_loads(job->extra, JSON_REJECT_DUPLICATES, NULL);

        if (!json_is_object(extra)
            || json_object_set_new(obj, "extra", extra) != 0)
        {
            /* an extra that is not an object must not be queued silently */
            json_decref(extra);
            json_decref(obj);
            return NULL;
        }
    }

    return obj;
}


char *
bc_job_dump(const bc_job_t *job)
{
    json_t  *obj;
    char    *text;

    obj = bc_job_to_json(job);
    if (obj == NULL) {
        return NULL;
    }

    text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);

    return text;
}


/*
 * The value of a field of JSON type type (named by what, "a string"): 1 if
 * it is there, 0 if it is missing or null and not required, -1 (with err)
 * if it is missing and required or of another type.
 */
static int
bc_job_field(json_t *obj, const char *key, int required, json_type type,
    const char *what, json_t **v, char *err, size_t errlen)
{
    *v = json_object_get(obj, key);

    if (*v == NULL || json_is_null(*v)) {
        if (required) {
            snprintf(err, errlen, "job: missing \"%s\"", key);
            return -1;
        }

        return 0;
    }

    if (json_typeof(*v) != type) {
        snprintf(err, errlen, "job: \"%s\" is not %s", key, what);
        return -1;
    }

    return 1;
}


/*
 * Copies a string field into a fixed buffer. required: a missing field is an
 * error; otherwise it leaves "".
 */
static int
bc_job_string(json_t *obj, const char *key, char *out, size_t outlen,
    int required, char *err, size_t errlen)
{
    int      rc;
    json_t  *v;
    size_t   len;

    out[0] = '\0';

    rc = bc_job_field(obj, key, required, JSON_STRING, "a string", &v, err,
                      errlen);
    if (rc <= 0) {
        return rc;
    }

    len = json_string_length(v);
    if (len >= outlen || memchr(json_string_value(v), '\0', len) != NULL) {
        snprintf(err, errlen, "job: \"%s\" is too long", key);
        return -1;
    }

    memcpy(out, json_string_value(v), len + 1);

    return 0;
}


static int
bc_job_integer(json_t *obj, const char *key, long long *out, int required,
    char *err, size_t errlen)
{
    int      rc;
    json_t  *v;

    *out = 0;

    rc = bc_job_field(obj, key, required, JSON_INTEGER, "an integer", &v,
                      err, errlen);
    if (rc <= 0) {
        return rc;
    }

    *out = (long long) json_integer_value(v);

    return 0;
}


/*
 * The sender parses every job it sends, and a jansson tree of one cost
 * more than the rest of its handling. This streaming pass (yajl) fills the
 * job directly for the plain shape the module writes; anything else it
 * declines (0), and the tree parser below, the reference, decides: an
 * "extra" object, a duplicate or unknown-type member, a value that does
 * not fit, a NUL inside a string, a number that is not an integer.
 */

#define BC_JOB_KEYS_MAX  512        /* bytes of member names remembered */

typedef struct {
    bc_job_t   *job;
    int         depth;
    int         declined;
    int         target;             /* the member the next value fills */
    unsigned    seen;               /* known members met (bits) */
    char        keys[BC_JOB_KEYS_MAX];
    size_t      keys_len;
    long long   attempt;
} bc_job_walk_t;

enum {
    BC_JOB_F_NONE = -1,
    BC_JOB_F_ID, BC_JOB_F_BATCH, BC_JOB_F_CHANNEL, BC_JOB_F_PROVIDER,
    BC_JOB_F_TO, BC_JOB_F_FROM, BC_JOB_F_MSS, BC_JOB_F_BODY,
    BC_JOB_F_KEY, BC_JOB_F_CREATED, BC_JOB_F_ATTEMPT, BC_JOB_F_EXTRA,
    BC_JOB_F_CAMPAIGN, BC_JOB_F_SEQ,
    BC_JOB_F_OTHER
};

static const char *const  bc_job_names[] = {
    "id", "batch_id", "channel", "provider", "to", "from",
    "messaging_service_sid", "body", "api_key_id", "created_ms", "attempt",
    "extra", "campaign_id", "queue_seq"
};


static int
bc_job_decline(bc_job_walk_t *w)
{
    w->declined = 1;
    return 0;                       /* stops yajl */
}


static char *
bc_job_buf(bc_job_walk_t *w, size_t *size)
{
    bc_job_t  *j = w->job;

    switch (w->target) {
    case BC_JOB_F_ID:       *size = sizeof(j->id); return j->id;
    case BC_JOB_F_BATCH:    *size = sizeof(j->batch_id); return j->batch_id;
    case BC_JOB_F_CHANNEL:  *size = sizeof(j->channel); return j->channel;
    case BC_JOB_F_PROVIDER: *size = sizeof(j->provider); return j->provider;
    case BC_JOB_F_TO:       *size = sizeof(j->to); return j->to;
    case BC_JOB_F_FROM:     *size = sizeof(j->from); return j->from;
    case BC_JOB_F_MSS:
        *size = sizeof(j->messaging_service_sid);
        return j->messaging_service_sid;
    default:                return NULL;
    }
}


static int
bc_job_on_string(void *ctx, const unsigned char *v, size_t len)
{
    bc_job_walk_t  *w = ctx;
    char           *out;
    size_t          size;

    if (w->depth > 1) {
        return 1;
    }

    if (w->depth == 0 || memchr(v, '\0', len) != NULL) {
        return bc_job_decline(w);
    }

    if (w->target == BC_JOB_F_BODY) {
        w->job->body = strndup((const char *) v, len);
        return w->job->body != NULL ? 1 : bc_job_decline(w);
    }

    out = bc_job_buf(w, &size);

    if (out == NULL) {
        /* a number or "extra" as a string: the tree parser's error */
        return w->target == BC_JOB_F_OTHER ? 1 : bc_job_decline(w);
    }

    if (len >= size) {
        return bc_job_decline(w);
    }

    memcpy(out, v, len);
    out[len] = '\0';

    return 1;
}


static int
bc_job_on_integer(void *ctx, long long v)
{
    bc_job_walk_t  *w = ctx;

    if (w->depth > 1) {
        return 1;
    }

    switch (w->target) {
    case BC_JOB_F_KEY:      w->job->api_key_id = v; return 1;
    case BC_JOB_F_CREATED:  w->job->created_ms = v; return 1;
    case BC_JOB_F_ATTEMPT:  w->attempt = v; return 1;
    case BC_JOB_F_CAMPAIGN: w->job->campaign_id = v; return 1;
    case BC_JOB_F_SEQ:      w->job->queue_seq = v; return 1;
    case BC_JOB_F_OTHER:    return 1;
    default:                return bc_job_decline(w);
    }
}


static int
bc_job_on_double(void *ctx, double v)
{
    bc_job_walk_t  *w = ctx;

    (void) v;

    return w->depth > 1 || w->target == BC_JOB_F_OTHER
           ? 1 : bc_job_decline(w);
}


static int
bc_job_on_null(void *ctx)
{
    bc_job_walk_t  *w = ctx;

    /* null is "absent" for every member but body */
    return w->depth > 1 || w->target != BC_JOB_F_BODY
           ? 1 : bc_job_decline(w);
}


static int
bc_job_on_boolean(void *ctx, int v)
{
    (void) v;
    return bc_job_on_double(ctx, 0);
}


static int
bc_job_on_key(void *ctx, const unsigned char *key, size_t len)
{
    bc_job_walk_t  *w = ctx;
    size_t          i, n;
    const char     *k;

    if (w->depth > 1) {
        return 1;
    }

    /* a duplicate member: the tree parser rejects the job */
    for (i = 0; i < w->keys_len; i += n + 1) {
        k = w->keys + i;
        n = strlen(k);
        if (n == len && memcmp(k, key, len) == 0) {
            return bc_job_decline(w);
        }
    }

    if (memchr(key, '\0', len) != NULL
        || w->keys_len + len + 1 > sizeof(w->keys))
    {
        return bc_job_decline(w);
    }

    memcpy(w->keys + w->keys_len, key, len);
    w->keys_len += len;
    w->keys[w->keys_len++] = '\0';

    w->target = BC_JOB_F_OTHER;

    for (i = 0; i < sizeof(bc_job_names) / sizeof(bc_job_names[0]); i++) {
        if (strlen(bc_job_names[i]) == len
            && memcmp(bc_job_names[i], key, len) == 0)
        {
            w->target = (int) i;
            w->seen |= 1u << i;
            break;
        }
    }

    return 1;
}


static int
bc_job_on_open(void *ctx)
{
    bc_job_walk_t  *w = ctx;

    if (w->depth == 1 && w->target != BC_JOB_F_OTHER) {
        /* an "extra" object, or a container where a scalar belongs */
        return bc_job_decline(w);
    }

    w->depth++;

    return 1;
}


static int
bc_job_on_open_array(void *ctx)
{
    bc_job_walk_t  *w = ctx;

    return w->depth == 0 ? bc_job_decline(w) : bc_job_on_open(ctx);
}


static int
bc_job_on_close(void *ctx)
{
    bc_job_walk_t  *w = ctx;

    w->depth--;

    return 1;
}


static const yajl_callbacks  bc_job_callbacks = {
    bc_job_on_null,
    bc_job_on_boolean,
    bc_job_on_integer,
    bc_job_on_double,
    NULL,
    bc_job_on_string,
    bc_job_on_open,
    bc_job_on_key,
    bc_job_on_close,
    bc_job_on_open_array,
    bc_job_on_close
};


/* 1 parsed (job filled), 0 declined (job cleared: use the tree parser) */
static int
bc_job_parse_fast(const char *json, size_t len, bc_job_t *job)
{
    yajl_handle     h;
    yajl_status     st;
    bc_job_walk_t   w;
    const unsigned  required = (1u << BC_JOB_F_ID) | (1u << BC_JOB_F_CHANNEL)
                               | (1u << BC_JOB_F_PROVIDER)
                               | (1u << BC_JOB_F_TO) | (1u << BC_JOB_F_BODY);

    memset(&w, 0, sizeof(w));
    w.job = job;
    w.target = BC_JOB_F_NONE;

    h = yajl_alloc(&bc_job_callbacks, NULL, &w);
    if (h == NULL) {
        return 0;
    }

    st = yajl_parse(h, (const unsigned char *) json, len);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    yajl_free(h);

    if (st != yajl_status_ok || w.declined || w.depth != 0
        || (w.seen & required) != required || job->body == NULL
        || job->id[0] == '\0' || job->channel[0] == '\0'
        || job->provider[0] == '\0' || job->to[0] == '\0'
        || w.attempt < 0 || w.attempt > 1000000)
    {
        bc_job_free(job);
        memset(job, 0, sizeof(*job));
        return 0;
    }

    job->attempt = (int) w.attempt;

    return 1;
}


int
bc_job_parse(const char *json, size_t len, bc_job_t *job, char *err,
    size_t errlen)
{
    json_t        *obj, *body, *extra;
    json_error_t   jerr;
    long long      attempt;

    memset(job, 0, sizeof(*job));

    if (bc_job_parse_fast(json, len, job)) {
        return 0;
    }

    obj = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (obj == NULL) {
        snprintf(err, errlen, "job: invalid JSON: %s", jerr.text);
        return -1;
    }

    if (!json_is_object(obj)) {
        snprintf(err, errlen, "job: not a JSON object");
        goto failed;
    }

    if (bc_job_string(obj, "id", job->id, sizeof(job->id), 1, err, errlen)
        || bc_job_string(obj, "batch_id", job->batch_id,
                         sizeof(job->batch_id), 0, err, errlen)
        || bc_job_string(obj, "channel", job->channel, sizeof(job->channel),
                         1, err, errlen)
        || bc_job_string(obj, "provider", job->provider,
                         sizeof(job->provider), 1, err, errlen)
        || bc_job_string(obj, "to", job->to, sizeof(job->to), 1, err, errlen)
        || bc_job_string(obj, "from", job->from, sizeof(job->from), 0, err,
                         errlen)
        || bc_job_string(obj, "messaging_service_sid",
                         job->messaging_service_sid,
                         sizeof(job->messaging_service_sid), 0, err, errlen)
        || bc_job_integer(obj, "api_key_id", &job->api_key_id, 0, err,
                          errlen)
        || bc_job_integer(obj, "created_ms", &job->created_ms, 0, err,
                          errlen)
        || bc_job_integer(obj, "attempt", &attempt, 0, err, errlen)
        || bc_job_integer(obj, "campaign_id", &job->campaign_id, 0, err,
                          errlen)
        || bc_job_integer(obj, "queue_seq", &job->queue_seq, 0, err,
                          errlen))
    {
        goto failed;
    }

    if (attempt < 0 || attempt > 1000000) {
        snprintf(err, errlen, "job: \"attempt\" is out of range");
        goto failed;
    }

    job->attempt = (int) attempt;

    body = json_object_get(obj, "body");
    if (!json_is_string(body)) {
        snprintf(err, errlen, "job: \"body\" is %s",
                 body ? "not a string" : "missing");
        goto failed;
    }

    job->body = strndup(json_string_value(body), json_string_length(body));
    if (job->body == NULL) {
        snprintf(err, errlen, "job: out of memory");
        goto failed;
    }

    extra = json_object_get(obj, "extra");
    if (extra != NULL && !json_is_null(extra)) {
        if (!json_is_object(extra)) {
            snprintf(err, errlen, "job: \"extra\" is not an object");
            goto failed;
        }

        job->extra = json_dumps(extra, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (job->extra == NULL) {
            snprintf(err, errlen, "job: out of memory");
            goto failed;
        }
    }

    json_decref(obj);

    return 0;

failed:

    json_decref(obj);
    bc_job_free(job);

    return -1;
}


void
bc_job_free(bc_job_t *job)
{
    free(job->body);
    job->body = NULL;
    free(job->extra);
    job->extra = NULL;
}

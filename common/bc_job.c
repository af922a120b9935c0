/*
 * The send job: what the module queues and the sender consumes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
 * Copies a string field into a fixed buffer. required: a missing field is an
 * error; otherwise it leaves "".
 */
static int
bc_job_string(json_t *obj, const char *key, char *out, size_t outlen,
    int required, char *err, size_t errlen)
{
    json_t  *v;
    size_t   len;

    out[0] = '\0';

    v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v)) {
        if (required) {
            snprintf(err, errlen, "job: missing \"%s\"", key);
            return -1;
        }

        return 0;
    }

    if (!json_is_string(v)) {
        snprintf(err, errlen, "job: \"%s\" is not a string", key);
        return -1;
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
    json_t  *v;

    *out = 0;

    v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v)) {
        if (required) {
            snprintf(err, errlen, "job: missing \"%s\"", key);
            return -1;
        }

        return 0;
    }

    if (!json_is_integer(v)) {
        snprintf(err, errlen, "job: \"%s\" is not an integer", key);
        return -1;
    }

    *out = (long long) json_integer_value(v);

    return 0;
}


int
bc_job_parse(const char *json, size_t len, bc_job_t *job, char *err,
    size_t errlen)
{
    json_t        *obj, *body, *extra;
    json_error_t   jerr;
    long long      attempt;

    memset(job, 0, sizeof(*job));

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
        || bc_job_integer(obj, "attempt", &attempt, 0, err, errlen))
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

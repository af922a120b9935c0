/*
 * Meta WhatsApp Cloud API: POST <meta_graph_base>/<phone-number-id>/messages
 * with a Bearer token; the job's extra.message is the Graph message object.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sender.h"

/*
 * Meta's error classes, in one place (DESIGN "Provider error classes"):
 * throttle (no attempt spent): HTTP 429, 130429 (throughput), 4 and 80007
 * (app / WABA call rate) pause the phone number; 131056 (pair rate) delays
 * that recipient 6 s; retry later: 5xx; never retry: 131047 (free-form
 * outside the 24 h window), 132001 (unknown template), 131026
 * (undeliverable), 100 (bad parameter), 190 (token) and everything else.
 */
#define SND_META_PAIR_WAIT_MS  6000

static int
snd_meta_retryable(long status, long code)
{
    switch (code) {
    case 130429: case 131056: case 4: case 80007:
        return 1;
    case 131047: case 132001: case 131026: case 100: case 190:
        return 0;
    }
    return status == 429 || status >= 500;
}

static void
snd_meta_fail_now(snd_t *s, snd_item_t *it, const char *code,
    const char *msg)
{
    snprintf(it->error_code, sizeof(it->error_code), "%s", code);
    snprintf(it->error_message, sizeof(it->error_message), "%s", msg);
    it->outcome = SND_OUT_FAILED;
    s->m[it->prov][SND_M_FAILED]++;
    snd_list_push(&s->finished, it);
}

static int
snd_meta_send(snd_t *s, snd_item_t *it, snd_item_t **wait, long long now)
{
    json_t        *req, *x = NULL, *msg, *v;
    json_error_t   jerr;
    const char    *key, *pid;
    char           url[1024], digits[32];
    size_t         i, n = 0;
    char          *post;

    (void) wait;
    (void) now;
    if (s->conf.meta_access_token == NULL) {
        snd_meta_fail_now(s, it, "provider_not_configured",
            "meta_access_token_file is not configured");
        return 0;
    }
    if (strncmp(it->job.from, "meta:", 5) != 0 || it->job.from[5] == '\0') {
        snd_meta_fail_now(s, it, "invalid_from",
            "the from address is not meta:<phone-number-id>");
        return 0;
    }
    pid = it->job.from + 5;
    for (i = 0; it->job.to[i] != '\0' && n + 1 < sizeof(digits); i++) {
        if (it->job.to[i] >= '0' && it->job.to[i] <= '9') {
            digits[n++] = it->job.to[i];
        }
    }
    digits[n] = '\0';

    req = json_object();
    if (req == NULL) {
        return -1;
    }
    json_object_set_new(req, "messaging_product", json_string("whatsapp"));
    json_object_set_new(req, "recipient_type", json_string("individual"));
    json_object_set_new(req, "to", json_string(digits));
    if (it->job.extra != NULL) {
        x = json_loads(it->job.extra, 0, &jerr);
    }
    msg = json_object_get(x, "message");
    if (json_is_object(msg)) {
        json_object_foreach(msg, key, v) {
            if (strcmp(key, "messaging_product") != 0
                && strcmp(key, "to") != 0
                && strcmp(key, "recipient_type") != 0)
            {
                json_object_set(req, key, v);
            }
        }
    } else {
        /* no message object: the body as free-form text */
        json_object_set_new(req, "type", json_string("text"));
        json_object_set_new(req, "text", json_pack("{ss}", "body",
            it->job.body ? it->job.body : ""));
    }
    json_decref(x);
    post = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (post == NULL) {
        return -1;
    }

    if (snd_http_json_bearer(it, s->conf.meta_access_token) != 0) {
        free(post);
        return -1;
    }
    snprintf(url, sizeof(url), "%s/%s/messages", s->conf.meta_graph_base,
        pid);
    free(it->post);
    it->post = post;
    it->xfer = SND_XFER_SEND;
    return snd_http_start(s, it, url, it->post);
}

static void
snd_meta_error(snd_t *s, snd_item_t *it, long status)
{
    json_t        *root = NULL, *e;
    json_error_t   jerr;
    long           code = 0;

    if (it->resp != NULL) {
        root = json_loadb(it->resp, it->resp_len, 0, &jerr);
    }
    e = json_object_get(root, "error");
    if (json_is_object(e)) {
        json_t *c = json_object_get(e, "code");
        if (json_is_integer(c)) {
            code = (long) json_integer_value(c);
        }
        snd_copy_json_str(e, "message", it->error_message,
            sizeof(it->error_message));
    }
    json_decref(root);
    snd_error_fill(it, code, status);
    if (code == 131056) {
        /* the pair rate (about one message per 6 s from a business number
           to one user): only this recipient waits */
        snd_log(SND_LOG_INFO, "message %s: meta pair rate, waiting",
            it->job.id);
        snd_retry_throttled(s, it, snd_now_ms() + SND_META_PAIR_WAIT_MS);
    } else if (status == 429 || code == 130429 || code == 4
               || code == 80007)
    {
        snd_log(SND_LOG_INFO, "message %s: meta throttle %s, waiting",
            it->job.id, it->error_code);
        snd_throttle_hit(s, it, 0, snd_now_ms());
    } else if (snd_meta_retryable(status, code)) {
        snd_log(SND_LOG_INFO, "message %s: meta error %s, retrying",
            it->job.id, it->error_code);
        snd_retry_or_fail(s, it);
    } else {
        it->outcome = SND_OUT_FAILED;
        s->m[it->prov][SND_M_FAILED]++;
    }
}

static void
snd_meta_done(snd_t *s, snd_item_t *it, CURLcode rc, long status,
    int request_sent)
{
    json_t        *root;
    json_error_t   jerr;
    const char    *id;

    if (rc != CURLE_OK) {
        s->m[it->prov][SND_M_ERROR]++;
        if (!request_sent) {
            snd_connect_failed(s, it, rc);
        } else {
            snd_log(SND_LOG_WARN, "message %s: %s after the request was "
                "sent; outcome unknown", it->job.id, curl_easy_strerror(rc));
            it->outcome = SND_OUT_UNKNOWN;
        }
    } else if (status == 200) {
        root = json_loadb(it->resp ? it->resp : "", it->resp_len, 0, &jerr);
        id = json_string_value(json_object_get(json_array_get(
            json_object_get(root, "messages"), 0), "id"));
        if (id != NULL && strlen(id) < sizeof(it->sid)) {
            snprintf(it->sid, sizeof(it->sid), "%s", id);
            snprintf(it->status, sizeof(it->status), "accepted");
            it->outcome = SND_OUT_ACCEPTED;
            s->m[it->prov][SND_M_ACCEPTED]++;
            snd_throttle_clear(s, it);
        } else {
            snd_log(SND_LOG_WARN, "message %s: meta 200 without "
                "messages[0].id; outcome unknown", it->job.id);
            it->outcome = SND_OUT_UNKNOWN;
            s->m[it->prov][SND_M_ERROR]++;
        }
        json_decref(root);
    } else {
        snd_meta_error(s, it, status);
    }
    snd_list_push(&s->finished, it);
}

/* the phone number id (meta:<id>) is the sender Meta paces and throttles */
static const char *
snd_meta_sender_key(const snd_item_t *it)
{
    return it->job.from;
}

static double
snd_meta_rate(const snd_conf_t *conf)
{
    return conf->meta_rate_per_sender;
}

/* the Bearer token travels in each transfer's header list */
const snd_provider_t  snd_provider_meta = {
    .name = "meta",
    .send = snd_meta_send,
    .reconcile = NULL,
    .done = snd_meta_done,
    .http_setup = NULL,
    .reads_headers = 0,
    .sender_key = snd_meta_sender_key,
    .rate = snd_meta_rate,
    .callbacks_name_our_id = 0,
};

/*
 * SendGrid v3 mail/send. Email jobs of one batch with identical content
 * (from, body, extra) travel in one call of up to sendgrid_batch_max
 * personalizations, one per recipient, each carrying custom_args
 * bc_message_id/bc_batch_id (flattened into every Event Webhook event, so
 * the recorder finds the row). The leader item owns the transfer; the other
 * items ride in it->group and share its result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "sender.h"

static int
snd_streq(const char *a, const char *b)
{
    return (a == NULL && b == NULL)
           || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int
snd_sg_same(const snd_item_t *a, const snd_item_t *b)
{
    return b->prov == a->prov && !b->reconcile
           && strcmp(a->job.batch_id, b->job.batch_id) == 0
           && strcmp(a->job.from, b->job.from) == 0
           && snd_streq(a->job.body, b->job.body)
           && snd_streq(a->job.extra, b->job.extra);
}

/*
 * SendGrid's error classes, in one place (DESIGN "Provider error classes"):
 * HTTP 429 pauses the account until X-RateLimit-Reset and retries the whole
 * call then without spending an attempt; 5xx are retried (the whole call)
 * with backoff; any other 4xx fails every
 * message of the call with errors[0].message. Opt-outs come from the Event
 * Webhook (recorder.c), never from this response.
 */
static int
snd_sg_retryable(long status)
{
    return status == 429 || status >= 500;
}

static void
snd_sg_fail_all(snd_t *s, snd_item_t *it, const char *code, const char *msg)
{
    snd_item_t  *g;

    for (g = it; g != NULL; g = g == it ? it->group : g->next) {
        snprintf(g->error_code, sizeof(g->error_code), "%s", code);
        snprintf(g->error_message, sizeof(g->error_message), "%s", msg);
        g->outcome = SND_OUT_FAILED;
        s->m[g->prov][SND_M_FAILED]++;
    }
}

/* the leader and its group onto the finished list */
static void
snd_sg_finish(snd_t *s, snd_item_t *it)
{
    snd_item_t  *g, *next;

    g = it->group;
    it->group = NULL;
    snd_list_push(&s->finished, it);
    for ( ; g != NULL; g = next) {
        next = g->next;
        snd_list_push(&s->finished, g);
    }
}

/* SendGrid: X-Message-Id and the X-RateLimit-* of the mail/send response */
static size_t
snd_sg_header(char *data, size_t size, size_t nmemb, void *ud)
{
    snd_item_t  *it = ud;
    size_t       n = size * nmemb, l;
    char         num[24];

    if (n > 22 && n - 22 < sizeof(num)
        && strncasecmp(data, "X-RateLimit-Remaining:", 22) == 0)
    {
        memcpy(num, data + 22, n - 22);
        num[n - 22] = '\0';
        it->rl_remaining = strtol(num, NULL, 10);
        return n;
    }
    if (n > 18 && n - 18 < sizeof(num)
        && strncasecmp(data, "X-RateLimit-Reset:", 18) == 0)
    {
        memcpy(num, data + 18, n - 18);
        num[n - 18] = '\0';
        /* epoch seconds */
        it->rl_reset_ms = strtoll(num, NULL, 10) * 1000;
        return n;
    }
    if (n > 13 && strncasecmp(data, "X-Message-Id:", 13) == 0) {
        data += 13;
        l = n - 13;
        while (l > 0 && (*data == ' ' || *data == '\t')) {
            data++;
            l--;
        }
        while (l > 0 && (data[l - 1] == '\r' || data[l - 1] == '\n'
                         || data[l - 1] == ' '))
        {
            l--;
        }
        if (l < sizeof(it->req_id)) {
            memcpy(it->req_id, data, l);
            it->req_id[l] = '\0';
        }
    }
    return n;
}

static char *
snd_sg_request(snd_t *s, snd_item_t *it)
{
    json_t        *req, *x = NULL, *pers, *p, *content, *from, *v;
    json_error_t   jerr;
    snd_item_t    *g;
    const char    *text = NULL, *html = NULL, *subject = NULL;
    char          *out;

    (void) s;
    if (it->job.extra != NULL) {
        x = json_loads(it->job.extra, 0, &jerr);
    }
    req = json_object();
    pers = json_array();
    content = json_array();
    from = json_object();
    if (req == NULL || pers == NULL || content == NULL || from == NULL) {
        json_decref(req);
        json_decref(pers);
        json_decref(content);
        json_decref(from);
        json_decref(x);
        return NULL;
    }
    for (g = it; g != NULL; g = g == it ? it->group : g->next) {
        p = json_pack("{s[{ss}]s{ssss}}", "to", "email", g->job.to,
            "custom_args", "bc_message_id", g->job.id, "bc_batch_id",
            g->job.batch_id);
        if (p != NULL) {
            json_array_append_new(pers, p);
        }
    }
    json_object_set_new(req, "personalizations", pers);
    json_object_set_new(from, "email", json_string(it->job.from));
    v = json_object_get(x, "from_name");
    if (json_is_string(v) && json_string_length(v) > 0) {
        json_object_set(from, "name", v);
    }
    json_object_set_new(req, "from", from);
    v = json_object_get(x, "reply_to");
    if (json_is_string(v) && json_string_length(v) > 0) {
        json_object_set_new(req, "reply_to", json_pack("{sO}", "email", v));
    }
    subject = json_string_value(json_object_get(x, "subject"));
    json_object_set_new(req, "subject", json_string(subject ? subject : ""));
    text = json_string_value(json_object_get(x, "text"));
    html = json_string_value(json_object_get(x, "html"));
    if ((text == NULL || *text == '\0') && (html == NULL || *html == '\0')) {
        text = it->job.body;            /* no extra: the body as text */
    }
    /* text/plain must come before text/html */
    if (text != NULL && *text != '\0') {
        json_array_append_new(content, json_pack("{ssss}", "type",
            "text/plain", "value", text));
    }
    if (html != NULL && *html != '\0') {
        json_array_append_new(content, json_pack("{ssss}", "type",
            "text/html", "value", html));
    }
    json_object_set_new(req, "content", content);
    if (json_is_true(json_object_get(x, "sandbox"))) {
        json_object_set_new(req, "mail_settings",
            json_pack("{s{sb}}", "sandbox_mode", "enable", 1));
    }
    out = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    json_decref(x);
    return out;
}

static int
snd_sendgrid_send(snd_t *s, snd_item_t *it, snd_item_t **wait,
    long long now)
{
    snd_item_t   **p, *c, *g, *tail = NULL;
    int            n = 1;
    char           url[1024];
    char          *post;

    if (s->conf.sendgrid_api_key == NULL) {
        snprintf(it->error_code, sizeof(it->error_code),
            "provider_not_configured");
        snprintf(it->error_message, sizeof(it->error_message),
            "sendgrid_api_key_file is not configured");
        it->outcome = SND_OUT_FAILED;
        s->m[it->prov][SND_M_FAILED]++;
        snd_list_push(&s->finished, it);
        return 0;
    }

    /* gather the call: same batch, same content, due, distinct recipients
       (SendGrid rejects an address twice in one request) */
    it->group = NULL;
    for (p = wait; (c = *p) != NULL && n < s->conf.sendgrid_batch_max; ) {
        int dup = 0;
        if (c->not_before_ms > now || !snd_sg_same(it, c)) {
            p = &c->next;
            continue;
        }
        for (g = it; g != NULL && !dup; g = g == it ? it->group : g->next) {
            dup = strcmp(g->job.to, c->job.to) == 0;
        }
        if (dup) {
            p = &c->next;
            continue;
        }
        *p = c->next;
        c->next = NULL;
        if (tail == NULL) {
            it->group = c;
        } else {
            tail->next = c;
        }
        tail = c;
        n++;
    }

    post = snd_sg_request(s, it);
    if (snd_http_json_bearer(it, s->conf.sendgrid_api_key) != 0) {
        free(post);
        post = NULL;
    }
    snprintf(url, sizeof(url), "%s/v3/mail/send", s->conf.sendgrid_api_base);
    free(it->post);
    it->post = post;
    it->xfer = SND_XFER_SEND;
    it->req_id[0] = '\0';
    if (post == NULL || it->hdrs == NULL
        || snd_http_start(s, it, url, it->post) != 0)
    {
        /* the group goes back to the wait list; the caller retries it */
        while ((g = it->group) != NULL) {
            it->group = g->next;
            snd_list_push(wait, g);
        }
        return -1;
    }
    snd_log(SND_LOG_DEBUG, "sendgrid: message %s leads a call of %d", 
        it->job.id, n);
    return 0;
}

static void
snd_sendgrid_done(snd_t *s, snd_item_t *it, CURLcode rc, long status,
    int request_sent)
{
    snd_item_t    *g;
    json_t        *root;
    json_error_t   jerr;
    char           code[32], msg[256];

    if (rc != CURLE_OK) {
        s->m[it->prov][SND_M_ERROR]++;
        for (g = it; g != NULL; g = g == it ? it->group : g->next) {
            if (!request_sent) {
                snd_connect_failed(s, g, rc);
            } else {
                g->outcome = SND_OUT_UNKNOWN;
            }
        }
        if (request_sent) {
            snd_log(SND_LOG_WARN, "message %s (+group): %s after the "
                "request was sent; outcome unknown", it->job.id,
                curl_easy_strerror(rc));
        }
    } else if (status == 202 || status == 200) {
        /*
         * 202: queued for delivery. 200 is SendGrid's answer in sandbox
         * mode (extra.sandbox): the request was valid and nothing will be
         * delivered. Such rows stay 'accepted' (no event will ever move
         * them) with error_code 'sandbox' and error_message 'sandbox: not
         * delivered', so they are told apart from real sends without a
         * status of their own.
         */
        for (g = it; g != NULL; g = g == it ? it->group : g->next) {
            if (g != it) {
                memcpy(g->req_id, it->req_id, sizeof(g->req_id));
            }
            snprintf(g->status, sizeof(g->status), "accepted");
            if (status == 200) {
                snprintf(g->error_code, sizeof(g->error_code), "sandbox");
                snprintf(g->error_message, sizeof(g->error_message),
                    "sandbox: not delivered");
            }
            g->outcome = SND_OUT_ACCEPTED;
            s->m[g->prov][SND_M_ACCEPTED]++;
        }
        snd_throttle_clear(s, it);
        if (it->rl_remaining == 0 && it->rl_reset_ms > 0) {
            /* the window's last call: the next one would be a 429 */
            snd_throttle_pause(s, it, it->rl_reset_ms, snd_now_ms());
        }
    } else {
        msg[0] = '\0';
        root = json_loadb(it->resp ? it->resp : "", it->resp_len, 0, &jerr);
        snd_copy_json_str(json_array_get(json_object_get(root, "errors"), 0),
            "message", msg, sizeof(msg));
        json_decref(root);
        if (msg[0] == '\0') {
            snprintf(msg, sizeof(msg), "provider answered HTTP %ld", status);
        }
        snprintf(code, sizeof(code), "http_%ld", status);
        if (snd_sg_retryable(status)) {
            snd_log(SND_LOG_INFO, "message %s (+group): sendgrid HTTP %ld, "
                "retrying", it->job.id, status);
            for (g = it; g != NULL; g = g == it ? it->group : g->next) {
                snprintf(g->error_code, sizeof(g->error_code), "%s", code);
                snprintf(g->error_message, sizeof(g->error_message), "%s",
                    msg);
                if (status != 429) {
                    snd_retry_or_fail(s, g);
                }
            }
            if (status == 429) {
                /* one throttle for the call: until the window SendGrid
                   names, else adaptive; the whole group waits it out */
                long long until = snd_throttle_hit(s, it, it->rl_reset_ms,
                                                   snd_now_ms());
                for (g = it->group; g != NULL; g = g->next) {
                    snd_retry_throttled(s, g, until);
                }
            }
        } else {
            snd_sg_fail_all(s, it, code, msg);
        }
    }
    snd_sg_finish(s, it);
}

/* the answer's headers carry the message id and the rate-limit window */
static void
snd_sg_http_setup(snd_t *s, CURL *e)
{
    (void) s;
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, snd_sg_header);
}

/* SendGrid throttles the whole account */
static const char *
snd_sg_sender_key(const snd_item_t *it)
{
    (void) it;
    return "";
}

/* mail/send calls per second for the account (0 unlimited) */
static double
snd_sg_rate(const snd_conf_t *conf)
{
    return conf->sendgrid_rate;
}

const snd_provider_t  snd_provider_sendgrid = {
    .name = "sendgrid",
    .send = snd_sendgrid_send,
    .reconcile = NULL,
    .done = snd_sendgrid_done,
    .http_setup = snd_sg_http_setup,
    .reads_headers = 1,
    .sender_key = snd_sg_sender_key,
    .rate = snd_sg_rate,
    .batches = 1,
    .callbacks_name_our_id = 0,
};

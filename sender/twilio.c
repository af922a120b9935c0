/*
 * Twilio Programmable Messaging: the create call, its classification, and
 * the message list used to reconcile ambiguous sends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "bc_form.h"
#include "bc_json.h"
#include "bc_status.h"
#include "bc_segments.h"
#include "sender.h"

static int
snd_twilio_prepare(snd_item_t *it)
{
    free(it->resp);
    it->resp = NULL;
    it->resp_len = it->resp_cap = 0;
    if (it->hdrs == NULL) {
        it->hdrs = curl_slist_append(NULL, "Accept: application/json");
        if (it->hdrs == NULL) {
            return -1;
        }
    }
    return 0;
}

/* WhatsApp extras (DESIGN "Job JSON additions"): MediaUrl repeated (at
   most 10), ContentSid, ContentVariables (already the JSON string) */
static int
snd_twilio_extra(snd_item_t *it, char **buf, size_t *len, size_t *cap)
{
    json_t        *x, *v, *m;
    json_error_t   jerr;
    size_t         i;
    int            rc = 0;

    if (it->job.extra == NULL) {
        return 0;
    }
    x = json_loads(it->job.extra, 0, &jerr);
    if (!json_is_object(x)) {
        json_decref(x);
        return 0;
    }
    json_array_foreach(json_object_get(x, "media_urls"), i, m) {
        if (i >= 10) {
            break;
        }
        if (json_is_string(m) && rc == 0) {
            rc = bc_form_append(buf, len, cap, "MediaUrl",
                json_string_value(m), json_string_length(m));
        }
    }
    v = json_object_get(x, "content_sid");
    if (rc == 0 && json_is_string(v) && json_string_length(v) > 0) {
        rc = bc_form_append(buf, len, cap, "ContentSid",
            json_string_value(v), json_string_length(v));
    }
    v = json_object_get(x, "content_variables");
    if (rc == 0 && json_is_object(v)) {
        /* tolerated: an object instead of its JSON text */
        char *t = json_dumps(v, JSON_COMPACT);
        rc = t == NULL ? -1
           : bc_form_append(buf, len, cap, "ContentVariables", t, strlen(t));
        free(t);
    } else if (rc == 0 && json_is_string(v) && json_string_length(v) > 0) {
        rc = bc_form_append(buf, len, cap, "ContentVariables",
            json_string_value(v), json_string_length(v));
    }
    json_decref(x);
    return rc;
}

static int
snd_is_whatsapp(const bc_job_t *j)
{
    return strcmp(j->channel, "whatsapp") == 0 || bc_wa_strip(j->to) != j->to;
}

static int
snd_twilio_send(snd_t *s, snd_item_t *it, snd_item_t **wait, long long now)
{
    char    url[1024], cb[1024];
    char   *buf = NULL;
    size_t  len = 0, cap = 0;
    int     rc, wa = snd_is_whatsapp(&it->job);
    const char *b = it->job.body ? it->job.body : "";

    (void) wait;
    (void) now;
    if (snd_twilio_prepare(it) != 0) {
        return -1;
    }
    snprintf(url, sizeof(url), "%s/2010-04-01/Accounts/%s/Messages.json",
        s->conf.twilio_api_base, s->conf.twilio_account_sid);
    snprintf(cb, sizeof(cb), "%s/webhooks/twilio/%s?mid=%s",
        s->conf.public_url, wa ? "whatsapp" : "sms/status", it->job.id);

    rc = bc_form_append(&buf, &len, &cap, "To", it->job.to,
        strlen(it->job.to));
    if (rc == 0 && it->job.messaging_service_sid[0] != '\0') {
        rc = bc_form_append(&buf, &len, &cap, "MessagingServiceSid",
            it->job.messaging_service_sid,
            strlen(it->job.messaging_service_sid));
    } else if (rc == 0) {
        rc = bc_form_append(&buf, &len, &cap, "From", it->job.from,
            strlen(it->job.from));
    }
    /* a WhatsApp template (ContentSid) or media message may have no Body */
    if (rc == 0 && (!wa || b[0] != '\0')) {
        rc = bc_form_append(&buf, &len, &cap, "Body", b, strlen(b));
    }
    if (rc == 0 && wa) {
        rc = snd_twilio_extra(it, &buf, &len, &cap);
    }
    if (rc == 0) {
        rc = bc_form_append(&buf, &len, &cap, "StatusCallback", cb,
            strlen(cb));
    }
    if (rc != 0 || buf == NULL) {
        free(buf);
        return -1;
    }
    free(it->post);
    it->post = buf;          /* libcurl does not copy POSTFIELDS */
    it->xfer = SND_XFER_SEND;
    return snd_http_start(s, it, url, it->post);
}

static int
snd_twilio_list(snd_t *s, snd_item_t *it)
{
    char   url[2048], *to, *from = NULL;
    CURL  *tmp;

    if (snd_twilio_prepare(it) != 0) {
        return -1;
    }
    tmp = curl_easy_init();
    if (tmp == NULL) {
        return -1;
    }
    to = curl_easy_escape(tmp, it->job.to, 0);
    if (it->job.messaging_service_sid[0] == '\0') {
        from = curl_easy_escape(tmp, it->job.from, 0);
    }
    if (to == NULL || (from == NULL
                       && it->job.messaging_service_sid[0] == '\0'))
    {
        curl_free(to);
        curl_free(from);
        curl_easy_cleanup(tmp);
        return -1;
    }
    snprintf(url, sizeof(url),
        "%s/2010-04-01/Accounts/%s/Messages.json?To=%s%s%s&PageSize=%ld",
        s->conf.twilio_api_base, s->conf.twilio_account_sid, to,
        from ? "&From=" : "", from ? from : "",
        s->conf.twilio_list_page_size);
    curl_free(to);
    curl_free(from);
    curl_easy_cleanup(tmp);
    it->xfer = SND_XFER_LIST;
    return snd_http_start(s, it, url, NULL);
}

/*
 * Twilio's error classes, in one place (DESIGN "Provider error classes"):
 * throttle (the sender pauses, no attempt spent): HTTP 429, 20429
 * (concurrency), 63017 (account MPS), 21611 (sender queue full); retry
 * later: 5xx; opt-out: 21610 (recipient replied STOP: the
 * peer goes to opt_outs); never retry: 21211, 21614, 63016 (WhatsApp
 * free-form outside the 24 h window) and every other 4xx.
 */
enum { SND_CLASS_FAIL = 0, SND_CLASS_RETRY, SND_CLASS_THROTTLE,
       SND_CLASS_OPTOUT };

static int
snd_twilio_classify(long status, long code)
{
    if (code == 21610) {
        return SND_CLASS_OPTOUT;
    }
    if (code == 20429 || code == 63017 || code == 21611 || status == 429) {
        return SND_CLASS_THROTTLE;
    }
    if (code == 21211 || code == 21614 || code == 63016) {
        return SND_CLASS_FAIL;
    }
    if (status >= 500) {
        return SND_CLASS_RETRY;
    }
    return SND_CLASS_FAIL;
}

/* a 21610, 429-like or other error JSON from Twilio */
static void
snd_twilio_error(snd_t *s, snd_item_t *it, long status)
{
    json_t        *root = NULL;
    json_error_t   jerr;
    long           code = 0;

    if (it->resp != NULL) {
        root = json_loadb(it->resp, it->resp_len, 0, &jerr);
    }
    if (json_is_object(root)) {
        json_t *c = json_object_get(root, "code");
        if (json_is_integer(c)) {
            code = (long) json_integer_value(c);
        } else if (json_is_string(c)) {
            code = atol(json_string_value(c));
        }
        snd_copy_json_str(root, "message", it->error_message,
            sizeof(it->error_message));
    }
    json_decref(root);
    snd_error_fill(it, code, status);

    switch (snd_twilio_classify(status, code)) {
    case SND_CLASS_OPTOUT:
        it->outcome = SND_OUT_FAILED;
        it->optout = 1;
        s->m[it->prov][SND_M_FAILED]++;
        break;
    case SND_CLASS_THROTTLE:
        snd_log(SND_LOG_INFO, "message %s: provider throttle %s, waiting",
            it->job.id, it->error_code);
        snd_throttle_hit(s, it, 0, snd_now_ms());
        break;
    case SND_CLASS_RETRY:
        snd_log(SND_LOG_INFO, "message %s: provider error %s, retrying",
            it->job.id, it->error_code);
        snd_retry_or_fail(s, it);
        break;
    default:
        it->outcome = SND_OUT_FAILED;
        s->m[it->prov][SND_M_FAILED]++;
    }
}

static void
snd_twilio_created(snd_t *s, snd_item_t *it)
{
    const char       *st;
    char              tw[32], segs[32];
    bc_json_field_t   f[] = {
        { "sid", it->sid, sizeof(it->sid) },
        { "status", tw, sizeof(tw) },
        { "num_segments", segs, sizeof(segs) },
        { "price", it->price, sizeof(it->price) },
        { "price_unit", it->price_unit, sizeof(it->price_unit) },
    };

    /* streamed, not a jansson tree: this runs once per message sent */
    if (bc_json_fields(it->resp ? it->resp : "", it->resp_len, f,
                       sizeof(f) / sizeof(f[0]))
        != 0)
    {
        /* 2xx but unreadable: the provider has it, we lack the sid */
        snd_log(SND_LOG_WARN, "message %s: unreadable 2xx body; treating "
            "as unknown", it->job.id);
        it->outcome = SND_OUT_UNKNOWN;
        s->m[it->prov][SND_M_ERROR]++;
        return;
    }

    st = bc_status_from_twilio(tw);
    snprintf(it->status, sizeof(it->status), "%s",
        bc_status_provider_has(st) ? st : "accepted");
    it->segments = snd_segments_ok(segs) ? atoi(segs) : -1;
    if (it->segments == 0) {
        it->segments = -1;     /* Messaging Service: not known yet */
    }
    it->outcome = SND_OUT_ACCEPTED;
    s->m[it->prov][SND_M_ACCEPTED]++;
    snd_throttle_clear(s, it);
}

/* RFC 2822 date of Twilio -> epoch ms, -1 if unreadable */
static long long
snd_rfc2822_ms(const char *s)
{
    struct tm   tm;
    const char *end;

    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%a, %d %b %Y %H:%M:%S", &tm);
    if (end == NULL) {
        return -1;
    }
    /* Twilio dates are +0000 */
    return (long long) timegm(&tm) * 1000;
}

/*
 * A reconcile list page: collects the messages that could be this one
 * (recipient, sender, body, created no earlier than a minute before the
 * job) as candidates; the ledger then takes the first one no other row
 * holds. Twilio lists newest first, so paging goes on while the page's
 * oldest message is still inside that window: a recipient who got many
 * messages lately must not have the match on an unread page, or it would
 * be sent again. Returns 1 when the next page's request is under way.
 */
#define SND_LIST_MAX_PAGES  20

static int
snd_twilio_listed(snd_t *s, snd_item_t *it)
{
    json_t        *root, *msgs, *m, *last;
    json_error_t   jerr;
    size_t         i, n = 2 * it->ncands;
    char         **cands;
    const char    *body = it->job.body ? it->job.body : "",
                  *next, *ds;
    long long      window = it->job.created_ms - 60000, oldest;
    char           url[2048];
    /* a ContentSid send: Twilio stores the rendered template as the body,
       so only recipient, sender and time can match */
    int            tpl = it->job.extra != NULL
                         && strstr(it->job.extra, "\"content_sid\"") != NULL;

    root = json_loadb(it->resp ? it->resp : "", it->resp_len, 0, &jerr);
    msgs = json_object_get(root, "messages");
    if (!json_is_array(msgs)) {
        json_decref(root);
        it->outcome = SND_OUT_UNKNOWN;   /* try the list again later */
        return 0;
    }
    cands = realloc(it->cands,
                    (n + 2 * json_array_size(msgs) + 1) * sizeof(char *));
    if (cands == NULL) {
        json_decref(root);
        it->outcome = SND_OUT_UNKNOWN;
        return 0;
    }
    it->cands = cands;
    json_array_foreach(msgs, i, m) {
        const char *to = json_string_value(json_object_get(m, "to"));
        const char *from = json_string_value(json_object_get(m, "from"));
        const char *mss = json_string_value(
            json_object_get(m, "messaging_service_sid"));
        const char *b = json_string_value(json_object_get(m, "body"));
        const char *sid = json_string_value(json_object_get(m, "sid"));
        const char *st = json_string_value(json_object_get(m, "status"));
        const char *dc = json_string_value(
            json_object_get(m, "date_created"));
        const char *ours;
        long long   created;

        if (to == NULL || b == NULL || sid == NULL || dc == NULL
            || strcmp(to, it->job.to) != 0
            || (!tpl && strcmp(b, body) != 0))
        {
            continue;
        }
        if (it->job.messaging_service_sid[0] != '\0') {
            if (mss == NULL
                || strcmp(mss, it->job.messaging_service_sid) != 0)
            {
                continue;
            }
        } else if (from == NULL || strcmp(from, it->job.from) != 0) {
            continue;
        }
        created = snd_rfc2822_ms(dc);
        if (created < 0 || created < window) {
            continue;
        }
        /* our status for it: the provider has it, so at least accepted */
        ours = bc_status_from_twilio(st);
        it->cands[n] = strdup(sid);
        it->cands[n + 1] = strdup(bc_status_provider_has(ours) ? ours
                                                               : "accepted");
        if (it->cands[n] == NULL || it->cands[n + 1] == NULL) {
            free(it->cands[n]);
            free(it->cands[n + 1]);
            break;
        }
        n += 2;
    }
    it->ncands = n / 2;
    it->list_pages++;
    it->outcome = SND_OUT_NONE;   /* ledger resolves the candidates */

    /* the oldest message of the page, by the date Twilio sorts on (sent,
       or created while unsent) */
    next = json_string_value(json_object_get(root, "next_page_uri"));
    last = json_array_get(msgs, json_array_size(msgs) - 1);
    ds = json_string_value(json_object_get(last, "date_sent"));
    if (ds == NULL) {
        ds = json_string_value(json_object_get(last, "date_created"));
    }
    oldest = ds != NULL ? snd_rfc2822_ms(ds) : -1;
    if (next == NULL || next[0] != '/' || last == NULL
        || (oldest >= 0 && oldest < window))
    {
        json_decref(root);
        return 0;
    }
    if (it->list_pages >= SND_LIST_MAX_PAGES) {
        /* too many recent messages to this recipient to be sure: failed
           unknown_after_crash (ledger.c) rather than maybe sent twice */
        snd_log(SND_LOG_WARN, "message %s: no answer in %d list pages",
            it->job.id, it->list_pages);
        json_decref(root);
        snd_item_give_up(s, it);
        return 0;
    }
    n = (size_t) snprintf(url, sizeof(url), "%s%s",
                          s->conf.twilio_api_base, next);
    json_decref(root);
    if (n >= sizeof(url) || snd_http_start(s, it, url, NULL) != 0) {
        it->outcome = SND_OUT_UNKNOWN;   /* the whole list again later */
        return 0;
    }
    return 1;
}

static void
snd_twilio_done(snd_t *s, snd_item_t *it, CURLcode rc, long status,
    int request_sent)
{
    if (it->xfer == SND_XFER_LIST) {
        if (rc == CURLE_OK && status == 200) {
            if (snd_twilio_listed(s, it) == 1) {
                return;   /* the next page */
            }
        } else {
            snd_log(SND_LOG_WARN, "message %s: reconcile list failed (%s, "
                "HTTP %ld)", it->job.id, curl_easy_strerror(rc), status);
            it->outcome = SND_OUT_UNKNOWN;
            s->m[it->prov][SND_M_ERROR]++;
        }
        snd_list_push(&s->finished, it);
        return;
    }

    if (rc != CURLE_OK) {
        if (!request_sent) {
            snd_log(SND_LOG_WARN, "message %s: %s before the request was "
                "sent; retrying", it->job.id, curl_easy_strerror(rc));
            s->m[it->prov][SND_M_ERROR]++;
            snd_connect_failed(s, it, rc);
        } else {
            snd_log(SND_LOG_WARN, "message %s: %s after the request was "
                "sent; outcome unknown, reconciling", it->job.id,
                curl_easy_strerror(rc));
            it->outcome = SND_OUT_UNKNOWN;
            s->m[it->prov][SND_M_ERROR]++;
        }
    } else if (status >= 200 && status < 300) {
        snd_twilio_created(s, it);
    } else {
        snd_twilio_error(s, it, status);
    }
    snd_list_push(&s->finished, it);
}

/* Basic auth with the account's credentials on every pooled handle */
static void
snd_twilio_http_setup(snd_t *s, CURL *e)
{
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
    curl_easy_setopt(e, CURLOPT_USERNAME, s->conf.twilio_account_sid);
    curl_easy_setopt(e, CURLOPT_PASSWORD, s->conf.twilio_auth_token);
}

/* Twilio paces (and throttles) a Messaging Service as one sender */
static const char *
snd_twilio_sender_key(const snd_item_t *it)
{
    return it->job.messaging_service_sid[0] != '\0'
           ? it->job.messaging_service_sid : it->job.from;
}

static double
snd_twilio_rate(const snd_conf_t *conf)
{
    return conf->rate_per_sender;
}

/* Twilio's MPS counts segments: a 2-part SMS takes two of the sender's
   tokens (a WhatsApp message is one) */
static int
snd_twilio_cost(const snd_item_t *it)
{
    bc_segments_t  seg;

    if (strcmp(it->job.channel, "sms") != 0 || it->job.body == NULL
        || bc_segments_count(it->job.body, strlen(it->job.body), &seg) != 0
        || seg.segments < 1)
    {
        return 1;
    }
    return seg.segments > 1000 ? 1000 : (int) seg.segments;
}

const snd_provider_t  snd_provider_twilio = {
    .name = "twilio",
    .send = snd_twilio_send,
    .reconcile = snd_twilio_list,
    .done = snd_twilio_done,
    .http_setup = snd_twilio_http_setup,
    .reads_headers = 0,
    .sender_key = snd_twilio_sender_key,
    .rate = snd_twilio_rate,
    .cost = snd_twilio_cost,
    .callbacks_name_our_id = 1,
};

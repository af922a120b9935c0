/*
 * broadcast-sim: SendGrid's v3 mail/send (Bearer key, SendGrid's checks
 * and errors, rate-limit headers), the signed and batched Event Webhook
 * of what it accepted, Inbound Parse posts on demand, and the SendGrid
 * provider row.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "bc_sig.h"
#include "sim_http.h"

/* an event waiting for its time; the queue is flushed in batches */
typedef struct {
    int64_t  due;
    json_t  *ev;                 /* without "timestamp" */
    char     sid[SIM_ID_MAX];
    const char *status;
} sg_pend_t;

static pthread_mutex_t sg_lock = PTHREAD_MUTEX_INITIALIZER;
static sg_pend_t      *sg_q;
static size_t          sg_n, sg_cap;
static int             sg_flush_scheduled;
static int64_t         sg_rl_window;
static long            sg_rl_used;

static void sg_flush(void);

static int
sg_error(struct MHD_Connection *c, sim_req_t *r, unsigned status,
    const char *message, const char *field, const char *help)
{
    json_t *e = json_object();

    json_object_set_new(e, "message", json_string(message));
    json_object_set_new(e, "field", field ? json_string(field) : json_null());
    json_object_set_new(e, "help", help ? json_string(help) : json_null());
    return sim_reply_json(c, r, status, json_pack("{s[o]}", "errors", e),
        NULL);
}

#define SG_HELP "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/" \
    "errors.html#message."

static int
valid_email(const char *s)
{
    const char *at = strchr(s, '@');

    return at != NULL && at != s && at[1] != '\0' && strchr(at + 1, '.')
           && strchr(at + 1, '@') == NULL && strpbrk(s, " <>\r\n") == NULL;
}

/* queues an event (stolen); under no lock */
static int
sg_enqueue(sg_pend_t *items, size_t n)
{
    int64_t now = sim_now_ms(), first = INT64_MAX;
    int     sched = 0;
    size_t  i;

    pthread_mutex_lock(&sg_lock);
    if (sg_n + n > sg_cap) {
        size_t     ncap = sg_cap ? sg_cap : 1024;
        sg_pend_t *nq;
        while (ncap < sg_n + n) {
            ncap *= 2;
        }
        nq = realloc(sg_q, ncap * sizeof(*nq));
        if (nq == NULL) {
            pthread_mutex_unlock(&sg_lock);
            return -1;
        }
        sg_q = nq;
        sg_cap = ncap;
    }
    for (i = 0; i < n; i++) {
        sg_q[sg_n++] = items[i];
        if (items[i].due < first) {
            first = items[i].due;
        }
    }
    if (!sg_flush_scheduled) {
        sg_flush_scheduled = 1;
        sched = 1;
    }
    pthread_mutex_unlock(&sg_lock);
    if (sched && sim_cb_schedule_fn(sg_flush, (long) (first - now)) != 0) {
        pthread_mutex_lock(&sg_lock);
        sg_flush_scheduled = 0;
        pthread_mutex_unlock(&sg_lock);
    }
    return 0;
}

/* on the callback thread: POST the due events, up to sg_batch per request */
static void
sg_flush(void)
{
    sim_opts_t  o;
    int64_t     now = sim_now_ms(), next = INT64_MAX;
    sg_pend_t  *take = NULL;
    size_t      nt = 0, i, w = 0;
    char       *buf = NULL, ts[24], sig[128], h1[200], h2[80];
    size_t      len = 0;
    struct curl_slist *l;

    sim_opts_get(&o);
    pthread_mutex_lock(&sg_lock);
    take = malloc((size_t) o.sg_batch * sizeof(*take));
    for (i = 0; i < sg_n; i++) {
        if (take != NULL && nt < (size_t) o.sg_batch && sg_q[i].due <= now) {
            take[nt++] = sg_q[i];
        } else {
            if (sg_q[i].due < next) {
                next = sg_q[i].due;
            }
            sg_q[w++] = sg_q[i];
        }
    }
    sg_n = w;
    if (sg_n == 0) {
        sg_flush_scheduled = 0;
    }
    pthread_mutex_unlock(&sg_lock);
    if (w > 0) {
        long d = next <= now ? 0 : (long) (next - now);
        if (sim_cb_schedule_fn(sg_flush, d) != 0) {
            pthread_mutex_lock(&sg_lock);
            sg_flush_scheduled = 0;
            pthread_mutex_unlock(&sg_lock);
        }
    }
    if (nt == 0) {
        free(take);
        return;
    }
    snprintf(ts, sizeof(ts), "%lld", (long long) (now / 1000));
    /* compact, sorted keys, the array followed by CRLF, as SendGrid sends */
    {
        size_t cap = 4096;
        buf = malloc(cap);
        if (buf != NULL) {
            buf[len++] = '[';
        }
        for (i = 0; i < nt; i++) {
            char  *s;
            size_t sl;
            json_object_set_new(take[i].ev, "timestamp",
                json_integer(now / 1000));
            sim_store_set_status(take[i].sid, take[i].status, 0, NULL);
            s = json_dumps(take[i].ev, JSON_COMPACT | JSON_SORT_KEYS);
            json_decref(take[i].ev);
            if (s == NULL || buf == NULL) {
                free(s);
                continue;
            }
            sl = strlen(s);
            if (len + sl + 8 > cap
                && sim_grow(&buf, &cap, len + sl + 8, cap) != 0)
            {
                free(buf);
                buf = NULL;
                free(s);
                continue;
            }
            if (len > 1) {
                buf[len++] = ',';
            }
            memcpy(buf + len, s, sl);
            len += sl;
            free(s);
        }
    }
    free(take);
    if (buf == NULL) {
        sim_log("SendGrid events: out of memory");
        return;
    }
    memcpy(buf + len, "]\r\n", 3);
    len += 3;
    buf[len] = '\0';
    if (sim_sendgrid_webhook_url[0] == '\0') {
        free(buf);
        return;
    }
    if (bc_sendgrid_sign(sim_sg_key, ts, strlen(ts), buf, len, sig,
            sizeof(sig)) != 0)
    {
        sim_log("SendGrid events: signing failed");
        free(buf);
        return;
    }
    snprintf(h1, sizeof(h1), "X-Twilio-Email-Event-Webhook-Signature: %s",
        sig);
    snprintf(h2, sizeof(h2), "X-Twilio-Email-Event-Webhook-Timestamp: %s",
        ts);
    l = sim_headers("Content-Type: application/json",
        "User-Agent: SendGrid Event API", "Expect:", h1, h2, (char *) NULL);
    if (l == NULL) {
        free(buf);
        return;
    }
    {
        sim_post_t *p = sim_post_new(sim_sendgrid_webhook_url, buf, len, l);
        if (p == NULL || sim_post_schedule(p, 0) != 0) {
            sim_log("cannot schedule SendGrid events");
        }
    }
}

static json_t *
sg_event(const char *email, const char *event, const char *sg_msg_id,
    const char *smtp_id, json_t *categories, json_t *args)
{
    json_t     *e = json_object(), *v;
    char        eid[80];
    const char *k;

    /* custom_args first, so the reserved fields win */
    json_object_foreach(args, k, v) {
        json_object_set(e, k, v);
    }
    sim_rand_b64url(eid, sizeof(eid), 36);
    json_object_set_new(e, "email", json_string(email));
    json_object_set_new(e, "event", json_string(event));
    json_object_set_new(e, "sg_event_id", json_string(eid));
    json_object_set_new(e, "sg_message_id", json_string(sg_msg_id));
    json_object_set_new(e, "smtp-id", json_string(smtp_id));
    if (json_array_size(categories) == 1) {
        json_object_set(e, "category", json_array_get(categories, 0));
    } else if (json_array_size(categories) > 1) {
        json_object_set(e, "category", categories);
    }
    return e;
}

/* validates one to/cc/bcc list; 0, or -1 with the error in msg and field */
static int
sg_check_list(json_t *list, int pi, const char *kind, const char ***seen,
    size_t *nseen, size_t *cap, char *msg, size_t msglen, char *field,
    size_t fieldlen)
{
    size_t  i;
    json_t *x;

    if (list == NULL) {
        return 0;
    }
    if (!json_is_array(list)) {
        snprintf(msg, msglen, "Invalid type. Expected: array, given: %s.",
            json_is_object(list) ? "object" : "string");
        snprintf(field, fieldlen, "personalizations.%d.%s", pi, kind);
        return -1;
    }
    json_array_foreach(list, i, x) {
        const char *em = sim_jstr(x, "email");
        size_t      k;
        if (em == NULL || !valid_email(em)) {
            snprintf(msg, msglen, "Does not contain a valid address.");
            snprintf(field, fieldlen, "personalizations.%d.%s.%zu.email", pi,
                kind, i);
            return -1;
        }
        for (k = 0; k < *nseen; k++) {
            if (strcasecmp((*seen)[k], em) == 0) {
                snprintf(msg, msglen, "Each email address in the "
                    "personalization block should be unique between to, cc, "
                    "and bcc. We found the first duplicate instance of "
                    "[%.200s] in the personalizations.%d.%s field.", em, pi,
                    kind);
                snprintf(field, fieldlen, "personalizations.%d.%s", pi, kind);
                return -1;
            }
        }
        if (*nseen == *cap) {
            const char **ns;
            *cap = *cap ? *cap * 2 : 64;
            ns = realloc(*seen, *cap * sizeof(*ns));
            if (ns == NULL) {
                snprintf(msg, msglen, "out of memory");
                field[0] = '\0';
                return -1;
            }
            *seen = ns;
        }
        (*seen)[(*nseen)++] = em;
        if (*nseen > 1000) {
            snprintf(msg, msglen, "The total number of recipients must be "
                "less than 1000. This includes all recipients defined within "
                "the to, cc, and bcc parameters, across each object that you "
                "include in the personalizations array.");
            snprintf(field, fieldlen, "personalizations");
            return -1;
        }
    }
    return 0;
}

/*
 * Checks a mail/send body as SendGrid does. 0 with the recipients counted
 * in *nrec and the text of the first (or text/plain) content in *text, or
 * -1 with the error answered in *ret.
 */
static int
sg_check(struct MHD_Connection *c, sim_req_t *r, json_t *j, size_t *nrec,
    const char **text, int *ret)
{
    json_t      *pers, *p, *content, *to;
    const char  *subject, *tid, *fromemail, **seen = NULL, *ty, *va;
    size_t       nseen = 0, seencap = 0, i, np;
    char         msg[512], field[128];

    pers = json_object_get(j, "personalizations");
    np = json_array_size(pers);
    if (np == 0) {
        *ret = sg_error(c, r, 400, "The personalizations field is "
            "required and must have at least one personalization.",
            "personalizations", SG_HELP "personalizations");
        return -1;
    }
    if (np > 1000) {
        *ret = sg_error(c, r, 400, "The personalizations field must "
            "not have more than 1000 personalizations.", "personalizations",
            SG_HELP "personalizations");
        return -1;
    }
    fromemail = sim_jstr(json_object_get(j, "from"), "email");
    if (fromemail == NULL) {
        *ret = sg_error(c, r, 400, "The from object must be provided "
            "for every email send. It is an object that requires the email "
            "parameter, but may also contain a name parameter.  e.g. "
            "{\"email\" : \"example@example.com\"}  or {\"email\" : "
            "\"example@example.com\", \"name\" : \"Example Recipient\"}.",
            "from.email", SG_HELP "from");
        return -1;
    }
    if (!valid_email(fromemail)) {
        *ret = sg_error(c, r, 400, "The from email does not contain "
            "a valid address.", "from.email", SG_HELP "from");
        return -1;
    }
    tid = sim_jstr(j, "template_id");
    content = json_object_get(j, "content");
    if (tid == NULL && json_array_size(content) == 0) {
        *ret = sg_error(c, r, 400, "Unless a valid template_id is "
            "provided, the content parameter is required. There must be at "
            "least one defined content block. We typically suggest both "
            "text/plain and text/html blocks are included, but only one "
            "block is required.", "content", SG_HELP "content");
        return -1;
    }
    json_array_foreach(content, i, p) {
        ty = sim_jstr(p, "type");
        va = sim_jstr(p, "value");
        if (ty == NULL || va == NULL || *va == '\0') {
            snprintf(field, sizeof(field), "content.%zu.value", i);
            *ret = sg_error(c, r, 400, "The content value must be a "
                "string at least one character in length.", field,
                SG_HELP "content.value");
            return -1;
        }
        if (i == 0 || strcmp(ty, "text/plain") == 0) {
            *text = va;
        }
    }
    subject = sim_jstr(j, "subject");
    json_array_foreach(pers, i, p) {
        to = json_object_get(p, "to");
        if (!json_is_object(p) || json_array_size(to) == 0) {
            snprintf(field, sizeof(field), "personalizations.%zu.to", i);
            free(seen);
            *ret = sg_error(c, r, 400, "The to array is required for "
                "all personalization objects, and must have at least one "
                "email object with a valid email address.", field,
                SG_HELP "personalizations.to");
            return -1;
        }
        if (subject == NULL && tid == NULL && sim_jstr(p, "subject") == NULL) {
            free(seen);
            *ret = sg_error(c, r, 400, "The subject is required. You "
                "can get around this requirement if you use a template with "
                "a subject defined or if every personalization has a subject "
                "defined.", "subject", SG_HELP "subject");
            return -1;
        }
        if (sg_check_list(to, (int) i, "to", &seen, &nseen, &seencap, msg,
                sizeof(msg), field, sizeof(field)) != 0
            || sg_check_list(json_object_get(p, "cc"), (int) i, "cc", &seen,
                &nseen, &seencap, msg, sizeof(msg), field, sizeof(field)) != 0
            || sg_check_list(json_object_get(p, "bcc"), (int) i, "bcc",
                &seen, &nseen, &seencap, msg, sizeof(msg), field,
                sizeof(field)) != 0)
        {
            free(seen);
            *ret = sg_error(c, r, 400, msg, field[0] ? field : NULL,
                SG_HELP "personalizations");
            return -1;
        }
    }
    free(seen);
    *nrec = nseen;
    return 0;
}

/* one recipient of an accepted send, as its events name it */
typedef struct {
    const char *email;
    char        sgid[SIM_ID_MAX];
    const char *smtp;
    json_t     *categories;
    json_t     *args;
} sg_rcpt_t;

/* the next queue item, an event of rc due at due; the event to fill in */
static json_t *
sg_item(sg_pend_t *item, const sg_rcpt_t *rc, int64_t due, const char *name,
    const char *status)
{
    json_t *e = sg_event(rc->email, name, rc->sgid, rc->smtp, rc->categories,
        rc->args);

    item->due = due;
    item->ev = e;
    snprintf(item->sid, sizeof(item->sid), "%s", rc->sgid);
    item->status = status;
    return e;
}

/*
 * The events of one recipient, by the configured ratios (rr a draw in
 * [0, 1)): dropped; or processed, then bounce or (deferred and) delivered.
 * Returns how many went into items (three at most).
 */
static size_t
sg_recipient_events(sg_pend_t *items, const sg_rcpt_t *rc, double rr,
    int64_t now, const sim_opts_t *o)
{
    int64_t  d1 = now + o->callback_delay_ms,
             d2 = now + 2 * o->callback_delay_ms, dd;
    size_t   n = 0;
    json_t  *e;

    if (rr < o->sg_dropped_ratio) {
        e = sg_item(&items[n++], rc, d1, "dropped", "dropped");
        json_object_set_new(e, "reason", json_string("Bounced Address"));
        json_object_set_new(e, "status", json_string("5.0.0"));
        return n;
    }
    sg_item(&items[n++], rc, d1, "processed", "processed");
    rr -= o->sg_dropped_ratio;
    if (rr < o->sg_bounce_ratio) {
        e = sg_item(&items[n++], rc, d2, "bounce", "bounce");
        json_object_set_new(e, "type", json_string("bounce"));
        json_object_set_new(e, "status", json_string("5.1.1"));
        json_object_set_new(e, "reason", json_string("550 5.1.1 The email "
            "account that you tried to reach does not exist."));
        json_object_set_new(e, "bounce_classification",
            json_string("Invalid Address"));
        return n;
    }
    dd = d2;
    if (rr - o->sg_bounce_ratio < o->sg_deferred_ratio) {
        e = sg_item(&items[n++], rc, d2, "deferred", "deferred");
        json_object_set_new(e, "response",
            json_string("450 4.2.1 try again later"));
        json_object_set_new(e, "attempt", json_string("1"));
        dd = now + 3 * o->callback_delay_ms;
    }
    e = sg_item(&items[n++], rc, dd, "delivered", "delivered");
    json_object_set_new(e, "response", json_string("250 OK"));
    json_object_set_new(e, "ip", json_string("127.0.0.1"));
    json_object_set_new(e, "tls", json_integer(1));
    return n;
}

/*
 * Stores a message per recipient (to, cc and bcc of every
 * personalization) and queues their events.
 */
static void
sg_accept(json_t *j, const char *xmid, const char *text, size_t nrec,
    int64_t now)
{
    static const char *const  kinds[] = {"to", "cc", "bcc"};
    json_t      *pers, *p, *rootargs, *list, *x;
    const char  *subject, *fromemail, *subj;
    char         smtp[96], hex[9];
    sim_opts_t   o;
    sg_pend_t   *items;
    sg_rcpt_t    rc;
    sim_msg_t   *m;
    size_t       ni = 0, i, kk, li, idx = 0;
    double       rr;

    snprintf(smtp, sizeof(smtp), "<%s@ismtpd0001p1iad1.sendgrid.net>", xmid);
    sim_opts_get(&o);
    items = calloc(nrec * 3 + 1, sizeof(*items));
    pers = json_object_get(j, "personalizations");
    subject = sim_jstr(j, "subject");
    fromemail = sim_jstr(json_object_get(j, "from"), "email");
    rootargs = json_object_get(j, "custom_args");
    rc.smtp = smtp;
    rc.categories = json_object_get(j, "categories");
    json_array_foreach(pers, i, p) {
        subj = sim_jstr(p, "subject");
        rc.args = json_object();
        if (json_is_object(rootargs)) {
            json_object_update(rc.args, rootargs);
        }
        if (json_is_object(json_object_get(p, "custom_args"))) {
            json_object_update(rc.args, json_object_get(p, "custom_args"));
        }
        if (subj == NULL) {
            subj = subject ? subject : "";
        }
        for (kk = 0; kk < SIM_NELTS(kinds); kk++) {
            list = json_object_get(p, kinds[kk]);
            json_array_foreach(list, li, x) {
                rc.email = sim_jstr(x, "email");
                rr = sim_rand01();
                sim_id_hex(hex, 8);
                snprintf(rc.sgid, sizeof(rc.sgid),
                    "%s.filterdrecv-sim-%s-%zu-%08llX-%zu.0", xmid, hex,
                    idx, (long long) (now / 1000), idx);
                m = sim_msg_new(rc.email, fromemail, xmid, text, "", subj);
                if (m != NULL) {
                    snprintf(m->sid, sizeof(m->sid), "%s", rc.sgid);
                    m->provider = &sim_provider_sendgrid;
                    m->channel = "email";
                    m->status = "accepted";
                    m->created_ms = m->updated_ms = now;
                    sim_store_add(m);
                }
                if (items != NULL) {
                    ni += sg_recipient_events(items + ni, &rc, rr, now, &o);
                }
                idx++;
            }
        }
        json_decref(rc.args);
    }
    if (items != NULL && ni > 0 && sg_enqueue(items, ni) != 0) {
        for (i = 0; i < ni; i++) {
            json_decref(items[i].ev);
        }
        sim_log("cannot queue SendGrid events");
    }
    free(items);
}

/* POST /v3/mail/send */
static int
sg_send(struct MHD_Connection *c, sim_req_t *r)
{
    json_t      *j;
    json_error_t err;
    const char  *text = "";
    char         xmid[32], lim[24], rem[24], rst[24];
    sim_opts_t   o;
    int64_t      now = sim_now_ms();
    size_t       nrec = 0;
    long         remaining;
    int          ret;

    j = json_loadb(sim_req_body(r), r->len, 0, &err);
    if (!json_is_object(j)) {
        json_decref(j);
        return sg_error(c, r, 400, "Bad Request", NULL, NULL);
    }
    if (sg_check(c, r, j, &nrec, &text, &ret) != 0) {
        json_decref(j);
        return ret;
    }

    /* rate-limit headers (a per-second window of o.sg_rate calls) */
    sim_opts_get(&o);
    pthread_mutex_lock(&sg_lock);
    if (now / 1000 != sg_rl_window) {
        sg_rl_window = now / 1000;
        sg_rl_used = 0;
    }
    sg_rl_used++;
    remaining = o.sg_rate - sg_rl_used;
    pthread_mutex_unlock(&sg_lock);
    snprintf(lim, sizeof(lim), "%ld", o.sg_rate);
    snprintf(rem, sizeof(rem), "%ld", remaining < 0 ? 0 : remaining);
    snprintf(rst, sizeof(rst), "%lld", (long long) (now / 1000 + 1));
    if (remaining < 0) {
        const char *h[] = {"X-RateLimit-Limit", lim, "X-RateLimit-Remaining",
            rem, "X-RateLimit-Reset", rst, NULL};
        json_decref(j);
        sim_throttle_note();
        return sim_reply_json(c, r, 429, json_pack("{s[{sn,ss}]}",
            "errors", "field", "message", "too many requests"), h);
    }
    if (json_is_true(json_object_get(json_object_get(json_object_get(j,
            "mail_settings"), "sandbox_mode"), "enable")))
    {
        const char *h[] = {"X-RateLimit-Limit", lim, "X-RateLimit-Remaining",
            rem, "X-RateLimit-Reset", rst, NULL};
        json_decref(j);
        return sim_reply(c, r, 200, NULL, 0, h);
    }

    sim_rand_b64url(xmid, sizeof(xmid), 16);
    sg_accept(j, xmid, text, nrec, now);
    json_decref(j);
    {
        const char *h[] = {"X-Message-Id", xmid, "X-RateLimit-Limit", lim,
            "X-RateLimit-Remaining", rem, "X-RateLimit-Reset", rst,
            "Content-Type", "text/plain", NULL};
        return sim_reply(c, r, 202, NULL, 0, h);
    }
}

static int
sg_route(struct MHD_Connection *c, sim_req_t *r, const char *url,
    const char *method)
{
    (void) url;
    if (!sim_bearer_ok(c, sim_sendgrid_api_key)) {
        return sg_error(c, r, 401, "The provided authorization "
            "grant is invalid, expired, or revoked", NULL, NULL);
    }
    if (strcmp(method, "POST") != 0) {
        return sg_error(c, r, 405, "method not allowed", NULL, NULL);
    }
    return sg_send(c, r);
}

/* ---- POST /sim/inbound, channel email ---- */

static void
mp_part(char **buf, size_t *len, size_t *cap, const char *name,
    const char *value)
{
    size_t need = strlen(name) + strlen(value) + 128;

    if (*buf == NULL) {
        return;
    }
    if (*len + need > *cap && sim_grow(buf, cap, *len + need, *cap) != 0) {
        free(*buf);
        *buf = NULL;
        return;
    }
    *len += (size_t) sprintf(*buf + *len, "--xYzZY\r\nContent-Disposition: "
        "form-data; name=\"%s\"\r\n\r\n%s\r\n", name, value);
}

static int
inbound_email(struct MHD_Connection *c, json_t *root)
{
    const char *url = sim_jstr(root, "url"), *from = sim_jstr(root, "from"),
               *to = sim_jstr(root, "to"), *subject = sim_jstr(root, "subject"),
               *text = sim_jstr(root, "body"), *html = sim_jstr(root, "html");
    char        dflt[600], *buf, *env, *headers, mid[40], hl[64], ah[300];
    const char *auth;
    size_t      len = 0, cap = 4096, hlen;
    json_t     *e;
    struct curl_slist *l;
    sim_post_t *p;

    if (from == NULL) {
        return sim_reply_error(c, 400, "from is required");
    }
    url = sim_inbound_url(url, "/webhooks/sendgrid/inbound", dflt,
        sizeof(dflt));
    if (url == NULL) {
        return sim_reply_error(c, 400, "url (or --webhook-base) is "
            "required");
    }
    if (to == NULL) {
        to = sim_sendgrid_from;
    }
    if (subject == NULL) {
        subject = "";
    }
    if (text == NULL) {
        text = "";
    }
    sim_rand_b64url(mid, sizeof(mid), 12);
    hlen = strlen(from) + strlen(to) + strlen(subject) + 400;
    headers = malloc(hlen);
    e = json_pack("{s[s],ss}", "to", to, "from", from);
    env = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    buf = malloc(cap);
    if (headers == NULL || env == NULL || buf == NULL) {
        free(headers);
        free(env);
        free(buf);
        return sim_reply_error(c, 500, "out of memory");
    }
    {
        char date[40];
        sim_rfc2822(sim_now_ms(), date);
        snprintf(headers, hlen, "Received: from mail.example.net by "
            "mx.sendgrid.net with SMTP\nDate: %s\nFrom: %s\nTo: %s\n"
            "Subject: %s\nMessage-ID: <%s@mail.example.net>\n"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n",
            date, from, to, subject, mid);
    }
    mp_part(&buf, &len, &cap, "headers", headers);
    mp_part(&buf, &len, &cap, "dkim", "{@example.net : pass}");
    mp_part(&buf, &len, &cap, "to", to);
    if (html != NULL) {
        mp_part(&buf, &len, &cap, "html", html);
    }
    mp_part(&buf, &len, &cap, "from", from);
    mp_part(&buf, &len, &cap, "text", text);
    mp_part(&buf, &len, &cap, "sender_ip", "127.0.0.1");
    mp_part(&buf, &len, &cap, "envelope", env);
    mp_part(&buf, &len, &cap, "attachments", "0");
    mp_part(&buf, &len, &cap, "subject", subject);
    mp_part(&buf, &len, &cap, "charsets", html != NULL
        ? "{\"to\":\"UTF-8\",\"html\":\"UTF-8\",\"subject\":\"UTF-8\","
          "\"from\":\"UTF-8\",\"text\":\"UTF-8\"}"
        : "{\"to\":\"UTF-8\",\"subject\":\"UTF-8\",\"from\":\"UTF-8\","
          "\"text\":\"UTF-8\"}");
    mp_part(&buf, &len, &cap, "SPF", "pass");
    free(headers);
    free(env);
    if (buf == NULL || len + 16 > cap) {
        char *nb = buf ? realloc(buf, len + 16) : NULL;
        if (nb == NULL) {
            free(buf);
            return sim_reply_error(c, 500, "out of memory");
        }
        buf = nb;
    }
    memcpy(buf + len, "--xYzZY--\r\n", 11);
    len += 11;
    snprintf(hl, sizeof(hl), "X-Sim-Inbound: %s", mid);
    /* the credentials of the Parse URL as basic auth, as SendGrid sends
       them; "auth" in the request overrides them ("" sends none) */
    auth = sim_jstr(root, "auth");
    if (auth == NULL) {
        auth = sim_sendgrid_inbound_auth;
    }
    ah[0] = '\0';
    if (auth[0]) {
        char b64[256];
        bc_base64_encode((const unsigned char *) auth, strlen(auth), b64,
            sizeof(b64));
        snprintf(ah, sizeof(ah), "Authorization: Basic %s", b64);
    }
    l = sim_headers("Content-Type: multipart/form-data; boundary=xYzZY",
        "User-Agent: Sendlib/1.0 inbound.sendgrid.net", "Expect:", hl,
        ah[0] ? ah : (char *) NULL, (char *) NULL);
    if (l == NULL) {
        free(buf);
        return sim_reply_error(c, 500, "out of memory");
    }
    p = sim_post_new(url, buf, len, l);
    if (p == NULL || sim_post_schedule(p, 0) != 0) {
        return sim_reply_error(c, 500, "cannot schedule");
    }
    sim_log("inbound email from %s to %s scheduled", from, url);
    return sim_reply_json(c, NULL, 200, json_pack("{ss,ss}", "id", mid,
        "url", url), NULL);
}

/* ---- the provider ---- */

static void
sg_reset(void)
{
    size_t i;

    pthread_mutex_lock(&sg_lock);
    for (i = 0; i < sg_n; i++) {
        json_decref(sg_q[i].ev);
    }
    sg_n = 0;
    pthread_mutex_unlock(&sg_lock);
}

static void
sg_free(void)
{
    sg_reset();
    pthread_mutex_lock(&sg_lock);
    free(sg_q);
    sg_q = NULL;
    sg_cap = 0;
    sg_flush_scheduled = 0;
    pthread_mutex_unlock(&sg_lock);
}

/* GET /sim/messages members after "channel" */
static void
sg_list_ids(jb_t *b, const sim_msg_t *m)
{
    jb_kstr(b, "subject", m->extra);
    jb_kstr(b, "x_message_id", m->mss);
}

static const sim_route_t sg_routes[] = {
    SIM_ROUTE("/v3/mail/send", 0, sg_route),
};

static const sim_inbound_t sg_inbound[] = {
    { "email", inbound_email },
};

const sim_provider_t sim_provider_sendgrid = {
    "sendgrid",
    sg_routes, SIM_NELTS(sg_routes),
    sg_inbound, SIM_NELTS(sg_inbound),
    sg_list_ids, NULL,
    sg_reset, sg_free,
};

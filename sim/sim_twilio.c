/*
 * broadcast-sim: Twilio's Messages API (create, list, fetch; Basic auth;
 * Twilio's error shape), inbound SMS webhooks on demand, and the Twilio
 * provider row. The Content API and WhatsApp inbound are in
 * sim_twilio_wa.c; the status callbacks are sent by sim_cb.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bc_form.h"
#include "bc_sig.h"
#include "sim_http.h"
#include "sim_twilio.h"

#define API_PREFIX     "/2010-04-01/Accounts/"

int
sim_twilio_error(struct MHD_Connection *c, sim_req_t *r, unsigned status,
    int code, const char *message)
{
    jb_t b = {0};
    char more[80];

    snprintf(more, sizeof(more), "https://www.twilio.com/docs/errors/%d",
        code);
    jb_s(&b, "{");
    jb_knum(&b, "code", code);
    jb_kstr(&b, "message", message);
    jb_kstr(&b, "more_info", more);
    jb_knum(&b, "status", status);
    jb_s(&b, "}");
    if (status == 401 && !b.oom) {
        static const char *const h[] = {"WWW-Authenticate",
            "Basic realm=\"Twilio API\"", NULL};
        return sim_reply(c, r, status, b.p, b.len, h);
    }
    return sim_reply_jb(c, r, status, &b);
}

/* ---- Twilio message JSON ---- */

static void
msg_json(jb_t *b, const sim_msg_t *m)
{
    char uri[260], media[260], fb[260], dc[40], du[40], ds[40], n[16],
         price[24];
    int  final = strcmp(m->status, "delivered") == 0
                 || strcmp(m->status, "undelivered") == 0;

    snprintf(uri, sizeof(uri), "/2010-04-01/Accounts/%s/Messages/%s.json",
        sim_account_sid, m->sid);
    snprintf(media, sizeof(media),
        "/2010-04-01/Accounts/%s/Messages/%s/Media.json",
        sim_account_sid, m->sid);
    snprintf(fb, sizeof(fb),
        "/2010-04-01/Accounts/%s/Messages/%s/Feedback.json",
        sim_account_sid, m->sid);
    sim_rfc2822(m->created_ms, dc);
    sim_rfc2822(m->updated_ms, du);
    if (m->sent_ms) {
        sim_rfc2822(m->sent_ms, ds);
    }
    jb_s(b, "{");
    jb_kstr(b, "account_sid", sim_account_sid);
    jb_kstr(b, "api_version", "2010-04-01");
    jb_kstr(b, "body", m->body);
    jb_kstr(b, "date_created", dc);
    jb_kstr(b, "date_sent", m->sent_ms ? ds : NULL);
    jb_kstr(b, "date_updated", du);
    jb_kstr(b, "direction", "outbound-api");
    if (m->error_code) {
        jb_knum(b, "error_code", m->error_code);
    } else {
        jb_kstr(b, "error_code", NULL);
    }
    jb_kstr(b, "error_message", m->error_message);
    jb_kstr(b, "from", m->from[0] ? m->from
        : (m->sent_ms ? SIM_DEFAULT_FROM : NULL));
    jb_kstr(b, "messaging_service_sid", m->mss[0] ? m->mss : NULL);
    snprintf(n, sizeof(n), "%d", m->num_media);
    jb_kstr(b, "num_media", n);
    snprintf(n, sizeof(n), "%d",
        (m->mss[0] && !m->sent_ms) ? 0 : m->num_segments);
    jb_kstr(b, "num_segments", n);
    if (final) {
        snprintf(price, sizeof(price), "-%d.%05d",
            (m->num_segments * 790) / 100000,
            (m->num_segments * 790) % 100000);
        jb_kstr(b, "price", price);
    } else {
        jb_kstr(b, "price", NULL);
    }
    jb_kstr(b, "price_unit", "USD");
    jb_kstr(b, "sid", m->sid);
    jb_kstr(b, "status", m->status);
    jb_key(b, "subresource_uris");
    jb_s(b, "{");
    jb_kstr(b, "media", media);
    jb_kstr(b, "feedback", fb);
    jb_s(b, "}");
    jb_kstr(b, "to", m->to);
    jb_kstr(b, "uri", uri);
    jb_s(b, "}");
}

/* HTTP Basic auth with the Twilio account sid and auth token */
int
sim_twilio_basic_ok(struct MHD_Connection *c)
{
    char *pass = NULL;
    char *user = MHD_basic_auth_get_username_password(c, &pass);
    int   ok = 0;

    if (user != NULL && pass != NULL) {
        ok = bc_ct_equal(user, strlen(user), sim_account_sid,
                 strlen(sim_account_sid))
             & bc_ct_equal(pass, strlen(pass), sim_auth_token,
                 strlen(sim_auth_token));
    }
    if (user) {
        MHD_free(user);
    }
    if (pass) {
        MHD_free(pass);
    }
    return ok;
}

static int
valid_e164(const char *s)
{
    size_t n = 0;

    s = bc_wa_strip(s);
    if (*s++ != '+') {
        return 0;
    }
    if (*s == '0') {
        return 0;
    }
    for (; *s; s++, n++) {
        if (*s < '0' || *s > '9') {
            return 0;
        }
    }
    return n >= 8 && n <= 15;
}

static const char *
nz(const char *s)
{
    return s ? s : "";
}

/* YYYY-MM-DD[THH:MM:SS[Z]] → ms, -1 if malformed */
static int64_t
parse_date(const char *s)
{
    struct tm tm;
    int       y, mo, d, h = 0, mi = 0, se = 0, n;

    memset(&tm, 0, sizeof(tm));
    n = sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se);
    if (n != 3 && n != 6) {
        return -1;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    return (int64_t) timegm(&tm) * 1000;
}

/* MHD turns '+' into ' ' in query strings; restore a leading '+' */
static const char *
query_phone(struct MHD_Connection *c, const char *name, char *buf,
    size_t len)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
        name);

    if (v == NULL || *v == '\0') {
        return NULL;
    }
    if (v[0] == ' ') {
        snprintf(buf, len, "+%s", v + 1);
        return buf;
    }
    return v;
}

/* ---- the Messages API ---- */

static int
api_create(struct MHD_Connection *c, sim_req_t *r)
{
    bc_form_t   f;
    const char *to, *from, *mss, *body, *cb, *content, *vars;
    size_t      i, nmedia = 0;
    int         wa, ecode, fail = 0;
    sim_msg_t  *m, *snap;
    sim_opts_t  o;
    int64_t     now;
    jb_t        b = {0};
    char        msg[256];

    if (bc_form_parse(r->body ? r->body : "", r->len, &f) != 0) {
        return sim_twilio_error(c, r, 400, 20001, "Invalid form body");
    }
    to = nz(bc_form_get(&f, "To"));
    from = nz(bc_form_get(&f, "From"));
    mss = nz(bc_form_get(&f, "MessagingServiceSid"));
    body = nz(bc_form_get(&f, "Body"));
    cb = nz(bc_form_get(&f, "StatusCallback"));
    content = nz(bc_form_get(&f, "ContentSid"));
    vars = nz(bc_form_get(&f, "ContentVariables"));
    for (i = 0; i < f.n; i++) {
        if (f.items[i].name_len == 8
            && memcmp(f.items[i].name, "MediaUrl", 8) == 0)
        {
            nmedia++;
        }
    }

    if (*to == '\0') {
        bc_form_free(&f);
        return sim_twilio_error(c, r, 400, 21604,
            "A 'To' phone number is required.");
    }
    if (*from == '\0' && *mss == '\0') {
        bc_form_free(&f);
        return sim_twilio_error(c, r, 400, 21603,
            "A 'From' phone number is required.");
    }
    if (*body == '\0' && nmedia == 0 && *content == '\0') {
        bc_form_free(&f);
        return sim_twilio_error(c, r, 400, 21602, "Message body is required.");
    }
    if (!valid_e164(to) || strcmp(to, "+15005550001") == 0) {
        snprintf(msg, sizeof(msg),
            "The 'To' number %.200s is not a valid phone number.", to);
        bc_form_free(&f);
        return sim_twilio_error(c, r, 400, 21211, msg);
    }
    wa = sim_wa_prefixed(to);
    if (wa && *from != '\0' && !sim_wa_prefixed(from)) {
        bc_form_free(&f);
        return sim_twilio_error(c, r, 400, 63007, "Twilio could not find a "
            "Channel with the specified From address");
    }
    if (nmedia > 10) {
        bc_form_free(&f);
        return sim_twilio_error(c, r, 400, 21623,
            "Number of media files exceeds allowed limit of 10");
    }
    if (*content != '\0' || *vars != '\0') {
        unsigned st = (unsigned) sim_twilio_content_check(content, vars,
            &ecode, msg, sizeof(msg));
        if (st != 0) {
            bc_form_free(&f);
            return sim_twilio_error(c, r, st, ecode, msg);
        }
    }
    if (strlen(body) > 1600 * 4 || (strlen(body) > 1600
        && sim_segments(body, strlen(body)) > 1600 / 67 + 1))
    {
        bc_form_free(&f);
        return sim_twilio_error(c, r, 400, 21617,
            "The concatenated message body exceeds the 1600 character "
            "limit.");
    }
    if (strcmp(to, "+15005550009") == 0) {
        bc_form_free(&f);
        return sim_twilio_error(c, r, 400, 21610,
            "Attempt to send to unsubscribed recipient");
    }
    if (strcmp(to, "+15005550010") == 0 && sim_magic_first_seen()) {
        bc_form_free(&f);
        sim_log("429 for magic recipient +15005550010");
        return sim_twilio_error(c, r, 429, 20429, "Too Many Requests");
    }
    sim_opts_get(&o);
    now = sim_now_ms();
    if (o.rate_per_sender > 0
        && !sim_rate_allow(*mss ? mss : from, o.rate_per_sender, now))
    {
        bc_form_free(&f);
        return sim_twilio_error(c, r, 429, 20429, "Too Many Requests");
    }

    if (wa && *content == '\0' && o.whatsapp_window) {
        char key[256];
        snprintf(key, sizeof(key), "twilio|%s|%s",
            *from ? from : sim_whatsapp_from, to);
        fail = !sim_window_open(key, now);
    }
    m = sim_msg_new(to, *mss ? "" : from, mss, body, cb, content);
    if (m == NULL) {
        bc_form_free(&f);
        return sim_twilio_error(c, r, 500, 20500, "Internal Server Error");
    }
    bc_form_free(&f);
    if (wa) {
        m->channel = "whatsapp";
        if (fail) {
            m->fail_code = 63016;
            m->fail_message = "Failed to send freeform message because you "
                "are outside the allowed window. Please use a Template.";
        }
    }
    m->sid[0] = 'S';
    m->sid[1] = 'M';
    sim_id_hex(m->sid + 2, 32);
    m->status = m->mss[0] ? "accepted" : "queued";
    m->num_segments = sim_segments(m->body, strlen(m->body));
    m->num_media = (int) nmedia;
    m->created_ms = now;
    m->updated_ms = now;
    msg_json(&b, m);
    snap = sim_msg_dup(m);
    /* the store owns m from here; the callback event owns the snapshot */
    sim_store_add(m);
    if (snap == NULL || sim_cb_schedule_message(snap, o.callback_delay_ms)
        != 0)
    {
        sim_log("cannot schedule status progression");
    }
    return sim_reply_jb(c, r, 201, &b);
}

typedef struct {
    jb_t       *b;
    const char *to, *from;
    int64_t     ge, lt, day;   /* -1 = no filter */
    long        max, count;
    long        skip;          /* matches on earlier pages */
    int         more;          /* a match beyond this page exists */
    char        last_sid[SIM_ID_MAX];
} list_ctx_t;

static int
list_one(const sim_msg_t *m, void *arg)
{
    list_ctx_t *x = arg;
    int64_t     t = m->sent_ms ? m->sent_ms : m->created_ms;
    const char *from = m->from[0] ? m->from : SIM_DEFAULT_FROM;

    if (m->provider != &sim_provider_twilio) {
        return 0;
    }
    if (x->to && strcmp(x->to, m->to) != 0) {
        return 0;
    }
    if (x->from && strcmp(x->from, from) != 0 && strcmp(x->from, m->mss)) {
        return 0;
    }
    if ((x->ge >= 0 && t < x->ge) || (x->lt >= 0 && t >= x->lt)
        || (x->day >= 0 && (t < x->day || t >= x->day + 86400000)))
    {
        return 0;
    }
    if (x->skip > 0) {
        x->skip--;
        return 0;
    }
    if (x->count == x->max) {
        x->more = 1;
        return 1;
    }
    if (x->count > 0) {
        jb_s(x->b, ",");
    }
    msg_json(x->b, m);
    snprintf(x->last_sid, sizeof(x->last_sid), "%s", m->sid);
    x->count++;
    return 0;
}

static int
api_list(struct MHD_Connection *c, sim_req_t *r)
{
    list_ctx_t  x;
    jb_t        b = {0};
    char        tb[64], fb[64], uri[512], next[640];
    const char *v;
    long        page;
    size_t      flen = 0, fcap = 0;
    char       *filt = NULL;

    memset(&x, 0, sizeof(x));
    x.b = &b;
    x.to = query_phone(c, "To", tb, sizeof(tb));
    x.from = query_phone(c, "From", fb, sizeof(fb));
    x.ge = x.lt = x.day = -1;
    v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "DateSent>");
    if (v != NULL) {
        x.ge = parse_date(v);
    }
    v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "DateSent<");
    if (v != NULL) {
        x.lt = parse_date(v);
    }
    v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "DateSent");
    if (v != NULL) {
        x.day = parse_date(v);
    }
    v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "PageSize");
    x.max = v ? strtol(v, NULL, 10) : 50;
    if (x.max <= 0) {
        x.max = 50;
    }
    if (x.max > 1000) {
        x.max = 1000;
    }
    /* Twilio pages newest first; Page=N&PageToken=PA<last sid> from the
       previous page's next_page_uri (the token is not needed here) */
    v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "Page");
    page = v ? strtol(v, NULL, 10) : 0;
    if (page < 0 || page > 1000000) {
        page = 0;
    }
    x.skip = page * x.max;
    jb_s(&b, "{\"messages\":[");
    sim_store_foreach(1, list_one, &x);
    jb_s(&b, "]");
    /* the filters, form-encoded, repeated in every page's uri */
    if ((x.to && bc_form_append(&filt, &flen, &fcap, "To", x.to,
                                strlen(x.to)) != 0)
        || (x.from && bc_form_append(&filt, &flen, &fcap, "From", x.from,
                                     strlen(x.from)) != 0))
    {
        free(filt);
        free(b.p);
        return sim_twilio_error(c, r, 500, 20500, "Internal Server Error");
    }
    if (flen == 0 || strlen(filt) > 200) {
        flen = 0;
    }
    snprintf(uri, sizeof(uri),
        "/2010-04-01/Accounts/%s/Messages.json?%s%sPageSize=%ld&Page=%ld",
        sim_account_sid, flen ? filt : "", flen ? "&" : "", x.max, page);
    jb_knum(&b, "end", x.skip + (x.count > 0 ? x.count - 1 : 0));
    snprintf(next, sizeof(next),
        "/2010-04-01/Accounts/%s/Messages.json?%s%sPageSize=%ld&Page=0",
        sim_account_sid, flen ? filt : "", flen ? "&" : "", x.max);
    jb_kstr(&b, "first_page_uri", next);
    snprintf(next, sizeof(next),
        "/2010-04-01/Accounts/%s/Messages.json?%s%sPageSize=%ld&Page=%ld"
        "&PageToken=PA%s", sim_account_sid, flen ? filt : "",
        flen ? "&" : "", x.max, page + 1, x.last_sid);
    free(filt);
    jb_kstr(&b, "next_page_uri", x.more ? next : NULL);
    jb_knum(&b, "page", page);
    jb_knum(&b, "page_size", x.max);
    jb_kstr(&b, "previous_page_uri", NULL);
    jb_knum(&b, "start", page * x.max);
    jb_kstr(&b, "uri", uri);
    jb_s(&b, "}");
    return sim_reply_jb(c, r, 200, &b);
}

static int
api_fetch(struct MHD_Connection *c, sim_req_t *r, const char *sid, size_t len)
{
    char       buf[SIM_SID_LEN + 1];
    sim_msg_t *m;
    jb_t       b = {0};

    if (len != SIM_SID_LEN) {
        return sim_twilio_error(c, r, 404, 20404,
            "The requested resource was not found");
    }
    memcpy(buf, sid, len);
    buf[len] = '\0';
    m = sim_store_get_copy(buf);
    if (m != NULL && m->provider != &sim_provider_twilio) {
        free(m);
        m = NULL;
    }
    if (m == NULL) {
        char msg[200];
        snprintf(msg, sizeof(msg), "The requested resource /2010-04-01/"
            "Accounts/%s/Messages/%s.json was not found", sim_account_sid,
            buf);
        return sim_twilio_error(c, r, 404, 20404, msg);
    }
    msg_json(&b, m);
    free(m);
    return sim_reply_jb(c, r, 200, &b);
}

static int
route_api(struct MHD_Connection *c, sim_req_t *r, const char *url,
    const char *method)
{
    const char *acct = url + sizeof(API_PREFIX) - 1, *slash, *rest;
    int         is_get = strcmp(method, "GET") == 0,
                is_post = strcmp(method, "POST") == 0;
    sim_opts_t  o;

    if (!sim_twilio_basic_ok(c)) {
        sim_log("401 %s %s", method, url);
        return sim_twilio_error(c, r, 401, 20003, "Authenticate");
    }
    slash = strchr(acct, '/');
    if (slash == NULL || (size_t) (slash - acct) != strlen(sim_account_sid)
        || memcmp(acct, sim_account_sid, (size_t) (slash - acct)) != 0)
    {
        return sim_twilio_error(c, r, 404, 20404,
            "The requested resource was not found");
    }
    sim_opts_get(&o);
    if (o.error_ratio > 0 && sim_rand01() < o.error_ratio) {
        return sim_twilio_error(c, r, 500, 20500, "Internal Server Error");
    }
    rest = slash + 1;
    if (strcmp(rest, "Messages.json") == 0) {
        if (is_post) {
            return api_create(c, r);
        }
        if (is_get) {
            return api_list(c, r);
        }
        return sim_twilio_error(c, r, 405, 20004, "Method not allowed");
    }
    if (strncmp(rest, "Messages/", 9) == 0) {
        const char *sid = rest + 9;
        size_t      l = strlen(sid);
        if (l > 5 && strcmp(sid + l - 5, ".json") == 0
            && memchr(sid, '/', l) == NULL)
        {
            if (is_get) {
                return api_fetch(c, r, sid, l - 5);
            }
            return sim_twilio_error(c, r, 405, 20004, "Method not allowed");
        }
    }
    return sim_twilio_error(c, r, 404, 20404,
        "The requested resource was not found");
}

/* ---- POST /sim/inbound, channel sms ---- */

void
sim_twilio_kv_params(bc_kv_t *kv, size_t *n, size_t cap, json_t *root)
{
    json_t      *params, *v;
    const char  *k;

    params = json_object_get(root, "params");
    if (json_is_object(params)) {
        json_object_foreach(params, k, v) {
            if (json_is_string(v) && *n < cap) {
                sim_kv_add(kv, n, k, json_string_value(v));
            }
        }
    }
}

/* POST /sim/inbound {url, from, to, body, params:{...}}: a signed inbound
 * SMS webhook, as Twilio would send it */
static int
inbound_sms(struct MHD_Connection *c, json_t *root)
{
    const char  *url, *from, *to, *body;
    char         sid[SIM_SID_LEN + 1], segs[16], resp[128], dflt[600];
    bc_kv_t      kv[64];
    size_t       n = 0;
    int          rc;

    url = json_string_value(json_object_get(root, "url"));
    from = json_string_value(json_object_get(root, "from"));
    to = json_string_value(json_object_get(root, "to"));
    body = json_string_value(json_object_get(root, "body"));
    url = sim_inbound_url(url, "/webhooks/twilio/sms/inbound", dflt,
        sizeof(dflt));
    if (url == NULL || from == NULL) {
        return sim_reply_str(c, 400, "{\"error\":\"url (or --webhook-base) "
            "and from are required\"}");
    }
    if (to == NULL) {
        to = SIM_DEFAULT_FROM;
    }
    if (body == NULL) {
        body = "";
    }
    sid[0] = 'S';
    sid[1] = 'M';
    sim_id_hex(sid + 2, 32);
    snprintf(segs, sizeof(segs), "%d", sim_segments(body, strlen(body)));
#define KV(nm, val)  sim_kv_add(kv, &n, nm, val)
    KV("AccountSid", sim_account_sid);
    KV("ApiVersion", "2010-04-01");
    KV("Body", body);
    KV("From", from);
    KV("MessageSid", sid);
    KV("NumMedia", "0");
    KV("NumSegments", segs);
    KV("SmsMessageSid", sid);
    KV("SmsSid", sid);
    KV("SmsStatus", "received");
    KV("To", to);
#undef KV
    sim_twilio_kv_params(kv, &n, sizeof(kv) / sizeof(kv[0]), root);
    rc = sim_cb_schedule_post(url, kv, n, 0);
    if (rc == 0) {
        sim_log("inbound %s from %s to %s scheduled", sid, from, url);
    }
    if (rc != 0) {
        return sim_reply_str(c, 500, "{\"error\":\"cannot schedule\"}");
    }
    snprintf(resp, sizeof(resp), "{\"sid\":\"%s\"}", sid);
    return sim_reply_str(c, 200, resp);
}

/* ---- the provider ---- */

/* GET /sim/messages members: after "channel" ... */
static void
twilio_list_ids(jb_t *b, const sim_msg_t *m)
{
    if (m->extra[0]) {
        jb_kstr(b, "content_sid", m->extra);
    }
}

/* ... and after "from" */
static void
twilio_list_sender(jb_t *b, const sim_msg_t *m)
{
    jb_kstr(b, "messaging_service_sid", m->mss[0] ? m->mss : NULL);
}

static const sim_route_t twilio_routes[] = {
    SIM_ROUTE(API_PREFIX, 1, route_api),
    SIM_ROUTE("/v1/Content", 0, sim_twilio_content_route),
};

static const sim_inbound_t twilio_inbound[] = {
    { "sms", inbound_sms },
    { "whatsapp", sim_twilio_inbound_whatsapp },
};

const sim_provider_t sim_provider_twilio = {
    "twilio",
    twilio_routes, SIM_NELTS(twilio_routes),
    twilio_inbound, SIM_NELTS(twilio_inbound),
    twilio_list_ids, twilio_list_sender,
    NULL, NULL,
};

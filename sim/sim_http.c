/*
 * broadcast-sim: the HTTP side (libmicrohttpd): Twilio's Messages API and
 * the /sim/... control routes.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <jansson.h>
#include <microhttpd.h>

#include "bc_form.h"
#include "bc_sig.h"
#include "sim.h"

#define SIM_MAX_BODY   (1024 * 1024)
#define API_PREFIX     "/2010-04-01/Accounts/"

static struct MHD_Daemon *daemon_h;
static _Atomic int        http_stopping;

typedef struct {
    char                *body;
    size_t               len, cap;
    int                  too_big;
    struct MHD_Response *resp;       /* prepared while suspended */
    unsigned             status;
} req_t;

/* ---- a tiny JSON writer ---- */

typedef struct {
    char   *p;
    size_t  len, cap;
    int     oom;
} jb_t;

static void
jb_raw(jb_t *b, const char *s, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 1024;
        char  *np;
        while (ncap < b->len + n + 1) {
            ncap *= 2;
        }
        np = realloc(b->p, ncap);
        if (np == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
jb_s(jb_t *b, const char *s)
{
    jb_raw(b, s, strlen(s));
}

static void
jb_str(jb_t *b, const char *s)
{
    const char *start = s;

    jb_raw(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        char          esc[8];
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        jb_raw(b, start, (size_t) (s - start));
        start = s + 1;
        switch (c) {
        case '"': jb_raw(b, "\\\"", 2); break;
        case '\\': jb_raw(b, "\\\\", 2); break;
        case '\n': jb_raw(b, "\\n", 2); break;
        case '\r': jb_raw(b, "\\r", 2); break;
        case '\t': jb_raw(b, "\\t", 2); break;
        default:
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            jb_raw(b, esc, 6);
        }
    }
    jb_raw(b, start, (size_t) (s - start));
    jb_raw(b, "\"", 1);
}

/* "key": */
static void
jb_key(jb_t *b, const char *k)
{
    if (b->len > 0 && b->p[b->len - 1] != '{' && b->p[b->len - 1] != '[') {
        jb_raw(b, ",", 1);
    }
    jb_str(b, k);
    jb_raw(b, ":", 1);
}

static void
jb_kstr(jb_t *b, const char *k, const char *v)
{
    jb_key(b, k);
    if (v == NULL) {
        jb_raw(b, "null", 4);
    } else {
        jb_str(b, v);
    }
}

static void
jb_knum(jb_t *b, const char *k, long long v)
{
    char n[32];

    jb_key(b, k);
    snprintf(n, sizeof(n), "%lld", v);
    jb_s(b, n);
}

/* ---- responses ---- */

static enum MHD_Result
queue_h(struct MHD_Connection *c, req_t *r, unsigned status, char *body,
    size_t len, const char *const *headers)
{
    struct MHD_Response *resp;
    enum MHD_Result      ret;
    int                  ct = 0;
    size_t               i;

    resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    for (i = 0; headers != NULL && headers[i] != NULL; i += 2) {
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
        if (strcasecmp(headers[i], "Content-Type") == 0) {
            ct = 1;
        }
    }
    if (!ct) {
        MHD_add_response_header(resp, "Content-Type", "application/json");
    }
    if (r != NULL && !atomic_load(&http_stopping)) {
        sim_opts_t o;
        sim_opts_get(&o);
        if (o.latency_ms > 0) {
            r->resp = resp;
            r->status = status;
            MHD_suspend_connection(c);
            if (sim_cb_schedule_resume(c, o.latency_ms) == 0) {
                return MHD_YES;
            }
            MHD_resume_connection(c);
            r->resp = NULL;
        }
    }
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result
queue(struct MHD_Connection *c, req_t *r, unsigned status, char *body,
    size_t len, const char *extra_name, const char *extra_value)
{
    const char *h[3] = {extra_name, extra_value, NULL};

    return queue_h(c, r, status, body, len, extra_name ? h : NULL);
}

/* for sim_prov.c: body is malloc'd (or NULL when len is 0) */
static enum MHD_Result
sim_reply(struct MHD_Connection *c, void *r, unsigned status, char *body,
    size_t len, const char *const *headers)
{
    if (body == NULL) {
        body = strdup("");
        if (body == NULL) {
            return MHD_NO;
        }
    }
    return queue_h(c, r, status, body, len, headers);
}

static enum MHD_Result
queue_jb(struct MHD_Connection *c, req_t *r, unsigned status, jb_t *b)
{
    if (b->oom || b->p == NULL) {
        free(b->p);
        b->p = strdup("{}");
        if (b->p == NULL) {
            return MHD_NO;
        }
        b->len = 2;
        status = 500;
    }
    return queue(c, r, status, b->p, b->len, NULL, NULL);
}

static enum MHD_Result
twilio_error(struct MHD_Connection *c, req_t *r, unsigned status, int code,
    const char *message)
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
        return queue(c, r, status, b.p, b.len, "WWW-Authenticate",
            "Basic realm=\"Twilio API\"");
    }
    return queue_jb(c, r, status, &b);
}

static enum MHD_Result
sim_json(struct MHD_Connection *c, unsigned status, const char *s)
{
    char *p = strdup(s);

    if (p == NULL) {
        return MHD_NO;
    }
    return queue(c, NULL, status, p, strlen(p), NULL, NULL);
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
        : (m->sent_ms ? "+15005550006" : NULL));
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

/* ---- helpers ---- */

/* "Authorization: Bearer <token>" with the expected token (Meta, SendGrid) */
int
sim_bearer_ok(struct MHD_Connection *c, const char *token)
{
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
        "Authorization");

    if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0) {
        return 0;
    }
    a += 7;
    return bc_ct_equal(a, strlen(a), token, strlen(token));
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

    if (strncmp(s, "whatsapp:", 9) == 0) {
        s += 9;
    }
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

/* ---- Twilio routes ---- */

static enum MHD_Result
api_create(struct MHD_Connection *c, req_t *r)
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
        return twilio_error(c, r, 400, 20001, "Invalid form body");
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
        return twilio_error(c, r, 400, 21604,
            "A 'To' phone number is required.");
    }
    if (*from == '\0' && *mss == '\0') {
        bc_form_free(&f);
        return twilio_error(c, r, 400, 21603,
            "A 'From' phone number is required.");
    }
    if (*body == '\0' && nmedia == 0 && *content == '\0') {
        bc_form_free(&f);
        return twilio_error(c, r, 400, 21602, "Message body is required.");
    }
    if (!valid_e164(to) || strcmp(to, "+15005550001") == 0) {
        snprintf(msg, sizeof(msg),
            "The 'To' number %.200s is not a valid phone number.", to);
        bc_form_free(&f);
        return twilio_error(c, r, 400, 21211, msg);
    }
    wa = strncmp(to, "whatsapp:", 9) == 0;
    if (wa && *from != '\0' && strncmp(from, "whatsapp:", 9) != 0) {
        bc_form_free(&f);
        return twilio_error(c, r, 400, 63007, "Twilio could not find a "
            "Channel with the specified From address");
    }
    if (nmedia > 10) {
        bc_form_free(&f);
        return twilio_error(c, r, 400, 21623,
            "Number of media files exceeds allowed limit of 10");
    }
    if (*content != '\0' || *vars != '\0') {
        unsigned st = (unsigned) sim_twilio_content_check(content, vars,
            &ecode, msg, sizeof(msg));
        if (st != 0) {
            bc_form_free(&f);
            return twilio_error(c, r, st, ecode, msg);
        }
    }
    if (strlen(body) > 1600 * 4 || (strlen(body) > 1600
        && sim_segments(body, strlen(body)) > 1600 / 67 + 1))
    {
        bc_form_free(&f);
        return twilio_error(c, r, 400, 21617,
            "The concatenated message body exceeds the 1600 character "
            "limit.");
    }
    if (strcmp(to, "+15005550009") == 0) {
        bc_form_free(&f);
        return twilio_error(c, r, 400, 21610,
            "Attempt to send to unsubscribed recipient");
    }
    if (strcmp(to, "+15005550010") == 0 && sim_magic_first_seen()) {
        bc_form_free(&f);
        sim_log("429 for magic recipient +15005550010");
        return twilio_error(c, r, 429, 20429, "Too Many Requests");
    }
    sim_opts_get(&o);
    now = sim_now_ms();
    if (o.rate_per_sender > 0
        && !sim_rate_allow(*mss ? mss : from, o.rate_per_sender, now))
    {
        bc_form_free(&f);
        return twilio_error(c, r, 429, 20429, "Too Many Requests");
    }

    if (wa && *content == '\0' && o.whatsapp_window) {
        char key[256];
        snprintf(key, sizeof(key), "twilio|%s|%s",
            *from ? from : sim_whatsapp_from, to);
        fail = !sim_window_open(key, now);
    }
    m = sim_msg_new_ex(to, *mss ? "" : from, mss, body, cb, content);
    if (m == NULL) {
        bc_form_free(&f);
        return twilio_error(c, r, 500, 20500, "Internal Server Error");
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
    return queue_jb(c, r, 201, &b);
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
    const char *from = m->from[0] ? m->from : "+15005550006";

    if (strcmp(m->provider, "twilio") != 0) {
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

static enum MHD_Result
api_list(struct MHD_Connection *c, req_t *r)
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
        return twilio_error(c, r, 500, 20500, "Internal Server Error");
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
    return queue_jb(c, r, 200, &b);
}

static enum MHD_Result
api_fetch(struct MHD_Connection *c, req_t *r, const char *sid, size_t len)
{
    char       buf[SIM_SID_LEN + 1];
    sim_msg_t *m;
    jb_t       b = {0};

    if (len != SIM_SID_LEN) {
        return twilio_error(c, r, 404, 20404,
            "The requested resource was not found");
    }
    memcpy(buf, sid, len);
    buf[len] = '\0';
    m = sim_store_get_copy(buf);
    if (m != NULL && strcmp(m->provider, "twilio") != 0) {
        free(m);
        m = NULL;
    }
    if (m == NULL) {
        char msg[200];
        snprintf(msg, sizeof(msg), "The requested resource /2010-04-01/"
            "Accounts/%s/Messages/%s.json was not found", sim_account_sid,
            buf);
        return twilio_error(c, r, 404, 20404, msg);
    }
    msg_json(&b, m);
    free(m);
    return queue_jb(c, r, 200, &b);
}

static enum MHD_Result
route_api(struct MHD_Connection *c, req_t *r, const char *url,
    const char *method)
{
    const char *acct = url + sizeof(API_PREFIX) - 1, *slash, *rest;
    int         is_get = strcmp(method, "GET") == 0,
                is_post = strcmp(method, "POST") == 0;
    sim_opts_t  o;

    if (!sim_twilio_basic_ok(c)) {
        sim_log("401 %s %s", method, url);
        return twilio_error(c, r, 401, 20003, "Authenticate");
    }
    slash = strchr(acct, '/');
    if (slash == NULL || (size_t) (slash - acct) != strlen(sim_account_sid)
        || memcmp(acct, sim_account_sid, (size_t) (slash - acct)) != 0)
    {
        return twilio_error(c, r, 404, 20404,
            "The requested resource was not found");
    }
    sim_opts_get(&o);
    if (o.error_ratio > 0 && sim_rand01() < o.error_ratio) {
        return twilio_error(c, r, 500, 20500, "Internal Server Error");
    }
    rest = slash + 1;
    if (strcmp(rest, "Messages.json") == 0) {
        if (is_post) {
            return api_create(c, r);
        }
        if (is_get) {
            return api_list(c, r);
        }
        return twilio_error(c, r, 405, 20004, "Method not allowed");
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
            return twilio_error(c, r, 405, 20004, "Method not allowed");
        }
    }
    return twilio_error(c, r, 404, 20404,
        "The requested resource was not found");
}

/* ---- /sim routes ---- */

static int
sim_list_one(const sim_msg_t *m, void *arg)
{
    jb_t *b = arg;
    char  t[80];

    if (b->p[b->len - 1] != '[') {
        jb_s(b, ",");
    }
    sim_iso8601(m->created_ms, t);
    jb_s(b, "{");
    jb_kstr(b, "sid", m->sid);
    jb_kstr(b, "id", m->sid);
    jb_kstr(b, "provider", m->provider);
    jb_kstr(b, "channel", m->channel);
    if (strcmp(m->provider, "sendgrid") == 0) {
        jb_kstr(b, "subject", m->extra);
        jb_kstr(b, "x_message_id", m->mss);
    } else if (strcmp(m->provider, "meta") == 0) {
        jb_kstr(b, "template", m->extra[0] ? m->extra : NULL);
        jb_kstr(b, "phone_number_id", m->mss);
    } else if (m->extra[0]) {
        jb_kstr(b, "content_sid", m->extra);
    }
    if (m->error_code) {
        jb_knum(b, "error_code", m->error_code);
    }
    jb_kstr(b, "to", m->to);
    jb_kstr(b, "from", m->from[0] ? m->from : NULL);
    if (strcmp(m->provider, "twilio") == 0) {
        jb_kstr(b, "messaging_service_sid", m->mss[0] ? m->mss : NULL);
    }
    jb_kstr(b, "body", m->body);
    jb_kstr(b, "status", m->status);
    jb_kstr(b, "status_callback", m->status_callback[0]
        ? m->status_callback : NULL);
    jb_knum(b, "created_ms", m->created_ms);
    jb_kstr(b, "time", t);
    jb_s(b, "}");
    return b->oom;
}

static void
opts_json(jb_t *b, const sim_opts_t *o)
{
    char d[32];

    jb_s(b, "{");
    jb_knum(b, "callback_delay_ms", o->callback_delay_ms);
    snprintf(d, sizeof(d), "%g", o->fail_ratio);
    jb_key(b, "fail_ratio");
    jb_s(b, d);
    snprintf(d, sizeof(d), "%g", o->undelivered_ratio);
    jb_key(b, "undelivered_ratio");
    jb_s(b, d);
    jb_knum(b, "rate_per_sender", o->rate_per_sender);
    jb_knum(b, "latency_ms", o->latency_ms);
    snprintf(d, sizeof(d), "%g", o->error_ratio);
    jb_key(b, "error_ratio");
    jb_s(b, d);
    jb_knum(b, "callback_retries", o->callback_retries);
    jb_key(b, "whatsapp_window");
    jb_s(b, o->whatsapp_window ? "true" : "false");
    jb_key(b, "whatsapp_read");
    jb_s(b, o->whatsapp_read ? "true" : "false");
    jb_knum(b, "meta_rate", o->meta_rate);
    jb_knum(b, "sendgrid_rate", o->sg_rate);
    snprintf(d, sizeof(d), "%g", o->sg_bounce_ratio);
    jb_key(b, "sendgrid_bounce_ratio");
    jb_s(b, d);
    snprintf(d, sizeof(d), "%g", o->sg_dropped_ratio);
    jb_key(b, "sendgrid_dropped_ratio");
    jb_s(b, d);
    snprintf(d, sizeof(d), "%g", o->sg_deferred_ratio);
    jb_key(b, "sendgrid_deferred_ratio");
    jb_s(b, d);
    jb_knum(b, "sendgrid_batch", o->sg_batch);
    jb_s(b, "}");
}

static int
json_num(json_t *root, const char *key, double *out)
{
    json_t *v = json_object_get(root, key);

    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (!json_is_number(v)) {
        return -1;
    }
    *out = json_number_value(v);
    return 1;
}

static enum MHD_Result
sim_config(struct MHD_Connection *c, req_t *r, int is_post)
{
    sim_opts_t   o;
    json_t      *root;
    json_error_t err;
    double       v;
    jb_t         b = {0};
    int          bad = 0;

    sim_opts_get(&o);
    if (is_post) {
        root = json_loadb(r->body ? r->body : "", r->len, 0, &err);
        if (root == NULL || !json_is_object(root)) {
            json_decref(root);
            return sim_json(c, 400, "{\"error\":\"invalid json\"}");
        }
#define NUM(k, field, type, lo, hi) do { \
            int rc = json_num(root, k, &v); \
            if (rc < 0 || (rc > 0 && (v < (lo) || v > (hi)))) bad = 1; \
            else if (rc > 0) o.field = (type) v; \
        } while (0)
        NUM("callback_delay_ms", callback_delay_ms, long, 0, 3600000);
        NUM("fail_ratio", fail_ratio, double, 0, 1);
        NUM("undelivered_ratio", undelivered_ratio, double, 0, 1);
        NUM("rate_per_sender", rate_per_sender, long, 0, 1e9);
        NUM("latency_ms", latency_ms, long, 0, 600000);
        NUM("error_ratio", error_ratio, double, 0, 1);
        NUM("callback_retries", callback_retries, long, 0, 5);
        NUM("meta_rate", meta_rate, long, 0, 1e9);
        NUM("sendgrid_bounce_ratio", sg_bounce_ratio, double, 0, 1);
        NUM("sendgrid_dropped_ratio", sg_dropped_ratio, double, 0, 1);
        NUM("sendgrid_deferred_ratio", sg_deferred_ratio, double, 0, 1);
        NUM("sendgrid_batch", sg_batch, long, 1, 10000);
        NUM("sendgrid_rate", sg_rate, long, 1, 1e9);
#undef NUM
#define BOOL(k, field) do { \
            json_t *bv = json_object_get(root, k); \
            if (bv == NULL || json_is_null(bv)) break; \
            if (json_is_boolean(bv)) o.field = json_is_true(bv); \
            else if (json_is_string(bv) \
                     && strcmp(json_string_value(bv), "on") == 0) \
                o.field = 1; \
            else if (json_is_string(bv) \
                     && strcmp(json_string_value(bv), "off") == 0) \
                o.field = 0; \
            else bad = 1; \
        } while (0)
        BOOL("whatsapp_window", whatsapp_window);
        BOOL("whatsapp_read", whatsapp_read);
#undef BOOL
        json_decref(root);
        if (bad) {
            return sim_json(c, 400, "{\"error\":\"invalid option value\"}");
        }
        sim_opts_set(&o);
        sim_log("config: delay=%ldms fail=%g undelivered=%g rate=%ld "
            "latency=%ldms error=%g retries=%ld", o.callback_delay_ms,
            o.fail_ratio, o.undelivered_ratio, o.rate_per_sender,
            o.latency_ms, o.error_ratio, o.callback_retries);
    }
    opts_json(&b, &o);
    return queue_jb(c, NULL, 200, &b);
}

/* POST /sim/inbound {url, from, to, body, params:{...}}: a signed inbound
 * SMS webhook, as Twilio would send it */
static enum MHD_Result
sim_inbound(struct MHD_Connection *c, req_t *r)
{
    json_t      *root, *params, *v;
    json_error_t err;
    const char  *url, *from, *to, *body, *k;
    char         sid[SIM_SID_LEN + 1], segs[16], resp[128], dflt[600];
    bc_kv_t      kv[64];
    size_t       n = 0;
    int          rc;

    root = json_loadb(r->body ? r->body : "", r->len, 0, &err);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return sim_json(c, 400, "{\"error\":\"invalid json\"}");
    }
    v = json_object_get(root, "channel");
    if (v != NULL && !(json_is_string(v)
            && strcmp(json_string_value(v), "sms") == 0))
    {
        int ret = MHD_NO;
        json_decref(root);
        sim_prov_inbound(c, r, r->body, r->len, sim_reply, &ret);
        return (enum MHD_Result) ret;
    }
    url = json_string_value(json_object_get(root, "url"));
    from = json_string_value(json_object_get(root, "from"));
    to = json_string_value(json_object_get(root, "to"));
    body = json_string_value(json_object_get(root, "body"));
    if (url == NULL && sim_webhook_base[0]) {
        snprintf(dflt, sizeof(dflt), "%s/webhooks/twilio/sms/inbound",
            sim_webhook_base);
        url = dflt;
    }
    if (url == NULL || from == NULL) {
        json_decref(root);
        return sim_json(c, 400, "{\"error\":\"url (or --webhook-base) and "
            "from are required\"}");
    }
    if (to == NULL) {
        to = "+15005550006";
    }
    if (body == NULL) {
        body = "";
    }
    sid[0] = 'S';
    sid[1] = 'M';
    sim_id_hex(sid + 2, 32);
    snprintf(segs, sizeof(segs), "%d", sim_segments(body, strlen(body)));
#define KV(nm, val) do { \
        kv[n].name = (nm); kv[n].name_len = strlen(nm); \
        kv[n].value = (val); kv[n].value_len = strlen(val); n++; \
    } while (0)
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
    params = json_object_get(root, "params");
    if (json_is_object(params)) {
        json_object_foreach(params, k, v) {
            if (json_is_string(v) && n < 64) {
                KV(k, json_string_value(v));
            }
        }
    }
#undef KV
    rc = sim_cb_schedule_post(url, kv, n, 0);
    if (rc == 0) {
        sim_log("inbound %s from %s to %s scheduled", sid, from, url);
    }
    json_decref(root);
    if (rc != 0) {
        return sim_json(c, 500, "{\"error\":\"cannot schedule\"}");
    }
    snprintf(resp, sizeof(resp), "{\"sid\":\"%s\"}", sid);
    return sim_json(c, 200, resp);
}

static enum MHD_Result
route_sim(struct MHD_Connection *c, req_t *r, const char *url,
    const char *method)
{
    int is_get = strcmp(method, "GET") == 0,
        is_post = strcmp(method, "POST") == 0;

    if (strcmp(url, "/sim/health") == 0 && is_get) {
        uint64_t s, f, p, rt;
        char     buf[256];
        sim_cb_stats(&s, &f, &p, &rt);
        snprintf(buf, sizeof(buf), "{\"status\":\"ok\",\"messages\":%zu,"
            "\"callbacks_sent\":%llu,\"callbacks_failed\":%llu,"
            "\"callbacks_retried\":%llu,\"pending\":%llu,"
            "\"throttled\":%llu}",
            sim_store_count(), (unsigned long long) s,
            (unsigned long long) f, (unsigned long long) rt,
            (unsigned long long) p,
            (unsigned long long) sim_throttle_count());
        return sim_json(c, 200, buf);
    }
    if (strcmp(url, "/sim/messages") == 0 && is_get) {
        jb_t b = {0};
        jb_s(&b, "{\"messages\":[");
        sim_store_foreach(0, sim_list_one, &b);
        jb_s(&b, "]}");
        return queue_jb(c, NULL, 200, &b);
    }
    if (strcmp(url, "/sim/reset") == 0 && is_post) {
        sim_cb_clear();
        sim_store_reset();
        sim_rate_reset();
        sim_window_reset();
        sim_prov_reset();
        sim_log("reset");
        return sim_json(c, 200, "{\"status\":\"ok\"}");
    }
    if (strcmp(url, "/sim/config") == 0 && (is_post || is_get)) {
        return sim_config(c, r, is_post);
    }
    if (strcmp(url, "/sim/inbound") == 0 && is_post) {
        return sim_inbound(c, r);
    }
    return sim_json(c, 404, "{\"error\":\"not found\"}");
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
    req_t *r = *con_cls;

    (void) cls;
    (void) version;
    if (r == NULL) {
        r = calloc(1, sizeof(*r));
        if (r == NULL) {
            return MHD_NO;
        }
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        if (!r->too_big) {
            if (r->len + n > SIM_MAX_BODY) {
                r->too_big = 1;
            } else {
                if (r->len + n + 1 > r->cap) {
                    size_t ncap = r->cap ? r->cap : 512;
                    char  *np;
                    while (ncap < r->len + n + 1) {
                        ncap *= 2;
                    }
                    np = realloc(r->body, ncap);
                    if (np == NULL) {
                        return MHD_NO;
                    }
                    r->body = np;
                    r->cap = ncap;
                }
                memcpy(r->body + r->len, upload_data, n);
                r->len += n;
                r->body[r->len] = '\0';
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->resp != NULL) {
        /* resumed after the simulated latency */
        enum MHD_Result ret = MHD_queue_response(c, r->status, r->resp);
        MHD_destroy_response(r->resp);
        r->resp = NULL;
        return ret;
    }
    if (r->too_big) {
        return twilio_error(c, NULL, 413, 20001, "Request body too large");
    }
    if (strncmp(url, API_PREFIX, sizeof(API_PREFIX) - 1) == 0) {
        return route_api(c, r, url, method);
    }
    if (strncmp(url, "/sim/", 5) == 0) {
        return route_sim(c, r, url, method);
    }
    {
        int ret = MHD_NO;
        if (sim_prov_route(c, r, url, method, r->body ? r->body : "",
                r->len, sim_reply, &ret))
        {
            return (enum MHD_Result) ret;
        }
    }
    return twilio_error(c, NULL, 404, 20404,
        "The requested resource was not found");
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
    req_t *r = *con_cls;

    (void) cls;
    (void) c;
    (void) toe;
    if (r != NULL) {
        if (r->resp) {
            MHD_destroy_response(r->resp);
        }
        free(r->body);
        free(r);
        *con_cls = NULL;
    }
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];

    (void) cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    sim_log("mhd: %s", buf);
}

int
sim_http_start(unsigned short port)
{
    struct sockaddr_in sa;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    daemon_h = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD
        | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
        port, NULL, NULL, handler, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int) 2,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 8192,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 120,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int) 1024,
        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
        MHD_OPTION_END);
    return daemon_h ? 0 : -1;
}

/* first half of the shutdown: stop accepting, stop suspending */
void
sim_http_quiesce(void)
{
    atomic_store(&http_stopping, 1);
    if (daemon_h) {
        MHD_socket s = MHD_quiesce_daemon(daemon_h);
        if (s != MHD_INVALID_SOCKET) {
            close(s);
        }
    }
}

void
sim_http_stop(void)
{
    if (daemon_h) {
        MHD_stop_daemon(daemon_h);
        daemon_h = NULL;
    }
}

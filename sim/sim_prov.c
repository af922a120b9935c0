/*
 * broadcast-sim: the other channels. Twilio Content API and WhatsApp checks,
 * Meta WhatsApp Cloud API (send + signed status webhooks), SendGrid v3
 * mail/send (+ signed, batched Event Webhook) and POST /sim/inbound for
 * every channel (signed inbound webhooks of the providers' real shapes).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>

#include "bc_form.h"
#include "bc_sig.h"
#include "sim.h"

#define JS_FLAGS   (JSON_COMPACT | JSON_ENSURE_ASCII)

/* ---- small helpers ---- */

/* base64url (no padding) of n random bytes */
static int
rand_b64url(char *out, size_t outlen, size_t n)
{
    char   hex[130];
    unsigned char raw[64];
    char   b64[100];
    size_t i, l;

    if (n > sizeof(raw) || sim_rand_hex(hex, 2 * n) != 0) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        char h[3] = {hex[2 * i], hex[2 * i + 1], 0};
        raw[i] = (unsigned char) strtoul(h, NULL, 16);
    }
    l = bc_base64_encode(raw, n, b64, sizeof(b64));
    while (l > 0 && b64[l - 1] == '=') {
        l--;
    }
    if (l + 1 > outlen) {
        return -1;
    }
    for (i = 0; i < l; i++) {
        out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    }
    out[l] = '\0';
    return 0;
}

static void
digits_only(const char *in, char *out, size_t outlen)
{
    size_t n = 0;

    for (; *in && n + 1 < outlen; in++) {
        if (*in >= '0' && *in <= '9') {
            out[n++] = *in;
        }
    }
    out[n] = '\0';
}

static const char *
jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* replies with a json_t (stolen) */
static int
reply_json(struct MHD_Connection *c, void *r, sim_reply_fn reply,
    unsigned status, json_t *j, const char *const *headers)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    if (s == NULL) {
        return reply(c, r, 500, strdup("{}"), 2, NULL);
    }
    return reply(c, r, status, s, strlen(s), headers);
}

static struct curl_slist *
hdrs(const char *first, ...)
{
    struct curl_slist *l = NULL, *n;
    va_list            ap;
    const char        *h;

    va_start(ap, first);
    for (h = first; h != NULL; h = va_arg(ap, const char *)) {
        n = curl_slist_append(l, h);
        if (n == NULL) {
            curl_slist_free_all(l);
            va_end(ap);
            return NULL;
        }
        l = n;
    }
    va_end(ap);
    return l;
}

/* ---- Twilio Content API ---- */

typedef struct {
    const char *sid, *name, *lang, *types, *vars;
} tpl_t;

static const tpl_t tpls[] = {
    {"HXcb6b0828c05d7af4d37391699c9c2ea3", "order_update", "en",
     "{\"twilio/text\":{\"body\":\"Hi {{1}}, your order {{2}} has "
     "shipped.\"}}", "{\"1\":\"Ann\",\"2\":\"12345\"}"},
    {"HXadaa17f1e672b19f7997b0bb59c6a11d", "appointment_reminder", "en",
     "{\"twilio/quick-reply\":{\"body\":\"Reminder: {{1}} at {{2}}. Can you "
     "make it?\",\"actions\":[{\"title\":\"Yes\",\"id\":\"yes\"},{\"title\":"
     "\"No\",\"id\":\"no\"}]}}", "{\"1\":\"Dentist\",\"2\":\"10:00\"}"},
    {"HX0c9d8929b21579957a01d3a7dfb8040a", "welcome_media", "en",
     "{\"twilio/media\":{\"body\":\"Welcome {{1}}!\",\"media\":["
     "\"https://example.com/welcome.jpg\"]}}", "{\"1\":\"friend\"}"},
    {"HX379d788fb88317820505798e3af452cb", "promo_offer", "en",
     "{\"twilio/text\":{\"body\":\"{{1}}: {{2}}% off this week. Reply STOP "
     "to opt out.\"}}", "{\"1\":\"Shop\",\"2\":\"10\"}"},
    {"HX02bd780fae9c7c8bbf6f5586df6f2e98", "otp_code", "en",
     "{\"twilio/text\":{\"body\":\"Your code is {{1}}\"}}",
     "{\"1\":\"000000\"}"},
};
#define NTPLS (sizeof(tpls) / sizeof(tpls[0]))
#define TPL_CREATED_MS 1735689600000LL   /* 2025-01-01 */

int
sim_twilio_content_check(const char *content_sid, const char *vars,
    int *code, char *msg, size_t msglen)
{
    size_t       i, known = 0;
    json_t      *j, *v;
    json_error_t err;
    const char  *k;
    int          bad = 0;

    if (*content_sid == '\0') {
        *code = 21656;
        snprintf(msg, msglen, "The ContentVariables Parameter is invalid.");
        return 400;
    }
    if (strlen(content_sid) != 34 || strncmp(content_sid, "HX", 2) != 0
        || strspn(content_sid + 2, "0123456789abcdef") != 32)
    {
        *code = 21655;
        snprintf(msg, msglen, "The ContentSid is Invalid");
        return 400;
    }
    for (i = 0; i < NTPLS; i++) {
        known |= strcmp(tpls[i].sid, content_sid) == 0;
    }
    if (!known) {
        *code = 21655;
        snprintf(msg, msglen, "The ContentSid is Invalid");
        return 400;
    }
    if (*vars == '\0') {
        return 0;
    }
    j = json_loads(vars, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(j) || json_object_size(j) > 100) {
        bad = 1;
    } else {
        json_object_foreach(j, k, v) {
            if (strlen(k) == 0 || strlen(k) > 16
                || !(json_is_string(v) || json_is_number(v)))
            {
                bad = 1;
            }
        }
    }
    json_decref(j);
    if (bad) {
        *code = 21656;
        snprintf(msg, msglen, "The ContentVariables Parameter is invalid.");
        return 400;
    }
    return 0;
}

static int
content_list(struct MHD_Connection *c, void *r, sim_reply_fn reply)
{
    const char *v;
    long        ps = 50, page = 0, off = 0, i;
    json_t     *root, *arr, *meta;
    char        url[700], dc[80];

    if (!sim_twilio_basic_ok(c)) {
        static const char *const h[] = {"WWW-Authenticate",
            "Basic realm=\"Twilio API\"", NULL};
        return reply_json(c, r, reply, 401, json_pack("{si,ss,ss,si}",
            "code", 20003, "message", "Authenticate", "more_info",
            "https://www.twilio.com/docs/errors/20003", "status", 401), h);
    }
    v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "PageSize");
    if (v) {
        ps = strtol(v, NULL, 10);
    }
    if (ps <= 0 || ps > 1000) {
        ps = 50;
    }
    v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "PageToken");
    if (v && strncmp(v, "PT", 2) == 0) {
        off = strtol(v + 2, NULL, 10);
    }
    v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "Page");
    if (v) {
        page = strtol(v, NULL, 10);
    }
    if (off <= 0 && page > 0) {
        off = page * ps;
    }
    if (off < 0) {
        off = 0;
    }
    page = off / ps;
    sim_iso8601(TPL_CREATED_MS, dc);
    dc[19] = 'Z';
    dc[20] = '\0';
    arr = json_array();
    for (i = off; i < (long) NTPLS && i < off + ps; i++) {
        json_t *o = json_object();
        snprintf(url, sizeof(url), "%s/v1/Content/%s", sim_base_url,
            tpls[i].sid);
        json_object_set_new(o, "account_sid", json_string(sim_account_sid));
        json_object_set_new(o, "date_created", json_string(dc));
        json_object_set_new(o, "date_updated", json_string(dc));
        json_object_set_new(o, "friendly_name", json_string(tpls[i].name));
        json_object_set_new(o, "language", json_string(tpls[i].lang));
        json_object_set_new(o, "sid", json_string(tpls[i].sid));
        json_object_set_new(o, "types", json_loads(tpls[i].types, 0, NULL));
        json_object_set_new(o, "url", json_string(url));
        json_object_set_new(o, "variables",
            json_loads(tpls[i].vars, 0, NULL));
        {
            char a1[760], a2[760];
            snprintf(a1, sizeof(a1), "%s/ApprovalRequests", url);
            snprintf(a2, sizeof(a2), "%s/ApprovalRequests/whatsapp", url);
            json_object_set_new(o, "links", json_pack("{ss,ss}",
                "approval_fetch", a1, "approval_create", a2));
        }
        json_array_append_new(arr, o);
    }
    meta = json_object();
    json_object_set_new(meta, "page", json_integer(page));
    json_object_set_new(meta, "page_size", json_integer(ps));
    snprintf(url, sizeof(url), "%s/v1/Content?PageSize=%ld&Page=0",
        sim_base_url, ps);
    json_object_set_new(meta, "first_page_url", json_string(url));
    if (off > 0) {
        long p = off - ps < 0 ? 0 : off - ps;
        snprintf(url, sizeof(url),
            "%s/v1/Content?PageSize=%ld&Page=%ld&PageToken=PT%ld",
            sim_base_url, ps, p / ps, p);
        json_object_set_new(meta, "previous_page_url", json_string(url));
    } else {
        json_object_set_new(meta, "previous_page_url", json_null());
    }
    snprintf(url, sizeof(url),
        "%s/v1/Content?PageSize=%ld&Page=%ld&PageToken=PT%ld",
        sim_base_url, ps, page, off);
    json_object_set_new(meta, "url", json_string(url));
    if (off + ps < (long) NTPLS) {
        snprintf(url, sizeof(url),
            "%s/v1/Content?PageSize=%ld&Page=%ld&PageToken=PT%ld",
            sim_base_url, ps, page + 1, off + ps);
        json_object_set_new(meta, "next_page_url", json_string(url));
    } else {
        json_object_set_new(meta, "next_page_url", json_null());
    }
    json_object_set_new(meta, "key", json_string("contents"));
    root = json_object();
    json_object_set_new(root, "contents", arr);
    json_object_set_new(root, "meta", meta);
    return reply_json(c, r, reply, 200, root, NULL);
}

/* ---- Meta WhatsApp Cloud API ---- */

static int
meta_error(struct MHD_Connection *c, void *r, sim_reply_fn reply,
    unsigned status, int code, const char *type, const char *message,
    const char *details)
{
    char    trace[40];
    json_t *e;

    rand_b64url(trace, sizeof(trace), 17);
    e = json_object();
    json_object_set_new(e, "message", json_string(message));
    json_object_set_new(e, "type", json_string(type));
    json_object_set_new(e, "code", json_integer(code));
    if (details != NULL) {
        json_object_set_new(e, "error_data", json_pack("{ss,ss}",
            "messaging_product", "whatsapp", "details", details));
    }
    json_object_set_new(e, "fbtrace_id", json_string(trace));
    return reply_json(c, r, reply, status, json_pack("{so}", "error", e),
        NULL);
}

/* "wamid." + base64 of a protobuf-ish blob, as Meta's ids look */
static void
make_wamid(const char *wa_id, char *out, size_t outlen)
{
    unsigned char raw[80];
    char          hex[40], b64[80];
    size_t        n = 0, l = strlen(wa_id), i;

    if (l > 20) {
        l = 20;
    }
    raw[n++] = 0x1c;
    raw[n++] = 0x18;
    raw[n++] = (unsigned char) l;
    memcpy(raw + n, wa_id, l);
    n += l;
    raw[n++] = 0x15;
    raw[n++] = 0x02;
    raw[n++] = 0x00;
    raw[n++] = 0x11;
    raw[n++] = 0x18;
    raw[n++] = 0x12;
    sim_id_hex(hex, 18);
    for (i = 0; i < 18; i++) {
        raw[n++] = (unsigned char) toupper((unsigned char) hex[i]);
    }
    raw[n++] = 0x00;
    bc_base64_encode(raw, n, b64, sizeof(b64));
    snprintf(out, outlen, "wamid.%s", b64);
}

static const char *
meta_tpl_category(const char *name, const char *lang)
{
    if (strcmp(name, "hello_world") == 0 && strcmp(lang, "en_US") == 0) {
        return "utility";
    }
    if (strcmp(name, "sim_marketing") == 0 && strcmp(lang, "en_US") == 0) {
        return "marketing";
    }
    return NULL;
}

/* the webhook envelope around one value object */
static json_t *
meta_envelope(json_t *value)
{
    json_t *change = json_pack("{so,ss}", "value", value, "field",
        "messages");
    json_t *entry = json_pack("{ss,s[o]}", "id", sim_meta_waba_id,
        "changes", change);

    return json_pack("{ss,s[o]}", "object", "whatsapp_business_account",
        "entry", entry);
}

static json_t *
meta_value(void)
{
    return json_pack("{ss,s{ss,ss}}", "messaging_product", "whatsapp",
        "metadata", "display_phone_number", sim_meta_display_phone,
        "phone_number_id", sim_meta_phone_number_id);
}

/* a signed JSON POST of j (stolen) to url */
static sim_post_t *
meta_post(const char *url, json_t *j)
{
    char  *body = json_dumps(j, JS_FLAGS);
    char   sig[BC_META_SIG_LEN + 1], h[120];
    size_t len;
    struct curl_slist *l;

    json_decref(j);
    if (body == NULL) {
        return NULL;
    }
    len = strlen(body);
    /* Meta escapes non-ASCII as \u00e4: lowercase hex */
    for (size_t i = 0; i + 1 < len; i++) {
        if (body[i] == '\\') {
            if (body[i + 1] == 'u' && i + 5 < len) {
                for (size_t k = i + 2; k < i + 6; k++) {
                    body[k] = (char) tolower((unsigned char) body[k]);
                }
                i += 5;
            } else {
                i++;
            }
        }
    }
    bc_meta_sign(sim_meta_app_secret, strlen(sim_meta_app_secret), body, len,
        sig);
    snprintf(h, sizeof(h), "X-Hub-Signature-256: %s", sig);
    l = hdrs("Content-Type: application/json",
        "User-Agent: facebookexternalua", "Accept: */*", "Expect:", h,
        (char *) NULL);
    if (l == NULL) {
        free(body);
        return NULL;
    }
    return sim_post_new(url, body, len, l);
}

static sim_post_t *
meta_status_post(const char *wamid, const char *status, const char *wa_id,
    long ts, const char *category, const char *conv_id, int failed_code)
{
    json_t *st = json_object(), *value = meta_value();
    char    t[24];
    sim_post_t *p;

    snprintf(t, sizeof(t), "%ld", ts);
    json_object_set_new(st, "id", json_string(wamid));
    json_object_set_new(st, "status", json_string(status));
    json_object_set_new(st, "timestamp", json_string(t));
    json_object_set_new(st, "recipient_id", json_string(wa_id));
    if (failed_code) {
        json_object_set_new(st, "errors", json_pack("[{si,ss,ss,s{ss},ss}]",
            "code", failed_code, "title", "Re-engagement message",
            "message", "Re-engagement message", "error_data", "details",
            "Message failed to send because more than 24 hours have passed "
            "since the customer last replied to this number.", "href",
            "https://developers.facebook.com/docs/whatsapp/cloud-api/"
            "support/error-codes/"));
    } else {
        json_t *conv = json_pack("{ss,s{ss}}", "id", conv_id, "origin",
            "type", category);
        if (strcmp(status, "sent") == 0) {
            char e[24];
            snprintf(e, sizeof(e), "%ld", ts + 24 * 3600);
            json_object_set_new(conv, "expiration_timestamp", json_string(e));
        }
        json_object_set_new(st, "conversation", conv);
        json_object_set_new(st, "pricing", json_pack("{sb,ss,ss,ss}",
            "billable", strcmp(category, "service") != 0, "pricing_model",
            "PMP", "category", category, "type",
            strcmp(category, "service") == 0 ? "free_customer_service"
                                             : "regular"));
    }
    json_object_set_new(value, "statuses", json_pack("[o]", st));
    p = meta_post(sim_meta_webhook_url, meta_envelope(value));
    if (p != NULL && sim_post_set_status(p, wamid, status,
            failed_code, failed_code ? "Re-engagement message" : NULL) != 0)
    {
        sim_post_free(p);
        p = NULL;
    }
    return p;
}

static int
meta_send(struct MHD_Connection *c, void *r, const char *pid,
    const char *body, size_t len, sim_reply_fn reply)
{
    json_t      *j, *obj, *resp;
    json_error_t err;
    const char  *mp, *to, *type, *tname = "", *category = "service";
    char         wa_id[32], wamid[SIM_ID_MAX], desc[16400], key[128],
                 det[300], conv[40];
    sim_opts_t   o;
    int64_t      now = sim_now_ms();
    int          freeform, fail = 0;
    sim_msg_t   *m;

    j = json_loadb(body, len, 0, &err);
    if (!json_is_object(j)) {
        json_decref(j);
        return meta_error(c, r, reply, 400, 100, "OAuthException",
            "(#100) Invalid parameter", "Request body is not valid JSON");
    }
    mp = jstr(j, "messaging_product");
    if (mp == NULL || strcmp(mp, "whatsapp") != 0) {
        json_decref(j);
        return meta_error(c, r, reply, 400, 100, "OAuthException",
            "(#100) The parameter messaging_product is required.", NULL);
    }
    to = jstr(j, "to");
    if (to == NULL || *to == '\0') {
        json_decref(j);
        return meta_error(c, r, reply, 400, 100, "OAuthException",
            "(#100) The parameter to is required.", NULL);
    }
    digits_only(to, wa_id, sizeof(wa_id));
    if (strlen(wa_id) < 7 || strlen(wa_id) > 15
        || strspn(to, "+0123456789 -()") != strlen(to))
    {
        json_decref(j);
        return meta_error(c, r, reply, 400, 100, "OAuthException",
            "(#100) Invalid parameter", "Invalid recipient phone number");
    }
    type = jstr(j, "type");
    if (type == NULL) {
        type = "text";
    }
    obj = json_object_get(j, type);
    desc[0] = '\0';
    if (strcmp(type, "text") == 0) {
        const char *b = jstr(obj, "body");
        if (b == NULL || *b == '\0') {
            json_decref(j);
            return meta_error(c, r, reply, 400, 100, "OAuthException",
                "(#100) The parameter text['body'] is required.", NULL);
        }
        if (strlen(b) > 4096 * 4) {
            json_decref(j);
            return meta_error(c, r, reply, 400, 100, "OAuthException",
                "(#100) Param text['body'] must be at most 4096 characters "
                "long.", NULL);
        }
        snprintf(desc, sizeof(desc), "%s", b);
    } else if (strcmp(type, "template") == 0) {
        const char *lang = jstr(json_object_get(obj, "language"), "code");
        tname = jstr(obj, "name");
        if (tname == NULL || lang == NULL) {
            json_decref(j);
            return meta_error(c, r, reply, 400, 100, "OAuthException",
                tname == NULL ? "(#100) The parameter template['name'] is "
                "required." : "(#100) The parameter template['language'] is "
                "required.", NULL);
        }
        category = meta_tpl_category(tname, lang);
        if (category == NULL) {
            snprintf(det, sizeof(det), "template name (%.100s) does not "
                "exist in %.20s", tname, lang);
            json_decref(j);
            return meta_error(c, r, reply, 404, 132001, "OAuthException",
                "(#132001) Template name does not exist in the translation",
                det);
        }
        snprintf(desc, sizeof(desc), "template:%s/%s", tname, lang);
    } else if (strcmp(type, "image") == 0 || strcmp(type, "document") == 0
               || strcmp(type, "audio") == 0 || strcmp(type, "video") == 0
               || strcmp(type, "sticker") == 0)
    {
        const char *link = jstr(obj, "link"), *id = jstr(obj, "id"),
                   *cap = jstr(obj, "caption");
        if (!json_is_object(obj) || (link == NULL) == (id == NULL)) {
            snprintf(det, sizeof(det), "Param %s must contain either id or "
                "link", type);
            json_decref(j);
            return meta_error(c, r, reply, 400, 100, "OAuthException",
                "(#100) Invalid parameter", det);
        }
        snprintf(desc, sizeof(desc), "%s%s%s", cap ? cap : "",
            cap ? " " : "", link ? link : id);
    } else if (obj == NULL) {
        snprintf(det, sizeof(det), "(#100) The parameter %.40s is required.",
            type);
        json_decref(j);
        return meta_error(c, r, reply, 400, 100, "OAuthException", det,
            NULL);
    } else {
        snprintf(desc, sizeof(desc), "%s", type);
    }
    sim_opts_get(&o);
    snprintf(key, sizeof(key), "meta|%s", pid);
    if (o.meta_rate > 0 && !sim_rate_allow(key, o.meta_rate, now)) {
        json_decref(j);
        return meta_error(c, r, reply, 429, 130429, "OAuthException",
            "(#130429) Rate limit hit", "Cloud API message throughput has "
            "been reached.");
    }
    freeform = strcmp(type, "template") != 0;
    snprintf(key, sizeof(key), "meta|%s|%s", pid, wa_id);
    if (freeform && o.whatsapp_window && !sim_window_open(key, now)) {
        fail = 1;
    }
    make_wamid(wa_id, wamid, sizeof(wamid));
    m = sim_msg_new_ex(wa_id, sim_meta_display_phone, pid, desc,
        sim_meta_webhook_url, tname ? tname : "");
    if (m == NULL) {
        json_decref(j);
        return meta_error(c, r, reply, 500, 1, "OAuthException",
            "An unknown error occurred", NULL);
    }
    snprintf(m->sid, sizeof(m->sid), "%s", wamid);
    m->provider = "meta";
    m->channel = "whatsapp";
    m->status = "accepted";
    m->created_ms = m->updated_ms = now;
    sim_store_add(m);

    if (sim_meta_webhook_url[0]) {
        long        ts = (long) (now / 1000);
        sim_post_t *p;
        sim_id_hex(conv, 32);
        if (fail) {
            p = meta_status_post(wamid, "failed", wa_id, ts, category, conv,
                131047);
        } else {
            p = meta_status_post(wamid, "sent", wa_id, ts, category, conv, 0);
            if (p != NULL) {
                sim_post_t *d = meta_status_post(wamid, "delivered", wa_id,
                    ts, category, conv, 0);
                if (d != NULL) {
                    sim_post_chain(p, d);
                }
                if (d != NULL && o.whatsapp_read) {
                    sim_post_t *rd = meta_status_post(wamid, "read", wa_id,
                        ts, category, conv, 0);
                    if (rd != NULL) {
                        sim_post_chain(p, rd);
                    }
                }
            }
        }
        if (p == NULL || sim_post_schedule(p, o.callback_delay_ms) != 0) {
            sim_log("cannot schedule Meta status webhooks for %s", wamid);
        }
    }

    resp = json_pack("{ss,s[{ss,ss}],s[{ss}]}", "messaging_product",
        "whatsapp", "contacts", "input", to, "wa_id", wa_id, "messages",
        "id", wamid);
    if (!freeform) {
        json_object_set_new(json_array_get(json_object_get(resp, "messages"),
            0), "message_status", json_string("accepted"));
    }
    json_decref(j);
    return reply_json(c, r, reply, 200, resp, NULL);
}

/* /{version}/{phone-number-id}/messages */
static int
meta_route(struct MHD_Connection *c, void *r, const char *url,
    const char *method, const char *body, size_t len, sim_reply_fn reply)
{
    const char *p = url + 2, *pid, *slash;
    char        id[64], msg[200];

    p += strspn(p, "0123456789");
    if (*p != '.') {
        return -1;
    }
    p++;
    if (strspn(p, "0123456789") == 0) {
        return -1;
    }
    p += strspn(p, "0123456789");
    if (*p != '/') {
        return -1;
    }
    pid = p + 1;
    if (!sim_bearer_ok(c, sim_meta_access_token)) {
        return meta_error(c, r, reply, 401, 190, "OAuthException",
            "Invalid OAuth access token - Cannot parse access token", NULL);
    }
    slash = strchr(pid, '/');
    if (slash == NULL || strcmp(slash, "/messages") != 0
        || (size_t) (slash - pid) >= sizeof(id))
    {
        return meta_error(c, r, reply, 400, 100, "GraphMethodException",
            "Unsupported request - method type: get", NULL);
    }
    memcpy(id, pid, (size_t) (slash - pid));
    id[slash - pid] = '\0';
    if (strcmp(method, "POST") != 0) {
        snprintf(msg, sizeof(msg), "Unsupported request - method type: %.10s",
            method);
        for (char *q = msg; *q; q++) {
            if (q > msg + 30) {
                *q = (char) tolower((unsigned char) *q);
            }
        }
        return meta_error(c, r, reply, 400, 100, "GraphMethodException", msg,
            NULL);
    }
    if (strcmp(id, sim_meta_phone_number_id) != 0) {
        snprintf(msg, sizeof(msg), "Unsupported post request. Object with ID "
            "'%.40s' does not exist, cannot be loaded due to missing "
            "permissions, or does not support this operation.", id);
        return meta_error(c, r, reply, 400, 100, "GraphMethodException", msg,
            NULL);
    }
    return meta_send(c, r, id, body, len, reply);
}

/* ---- SendGrid v3 ---- */

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
sg_error(struct MHD_Connection *c, void *r, sim_reply_fn reply,
    unsigned status, const char *message, const char *field,
    const char *help)
{
    json_t *e = json_object();

    json_object_set_new(e, "message", json_string(message));
    json_object_set_new(e, "field", field ? json_string(field) : json_null());
    json_object_set_new(e, "help", help ? json_string(help) : json_null());
    return reply_json(c, r, reply, status, json_pack("{s[o]}", "errors", e),
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
            if (len + sl + 8 > cap) {
                char *nb;
                while (len + sl + 8 > cap) {
                    cap *= 2;
                }
                nb = realloc(buf, cap);
                if (nb == NULL) {
                    free(buf);
                    buf = NULL;
                    free(s);
                    continue;
                }
                buf = nb;
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
    l = hdrs("Content-Type: application/json",
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
    rand_b64url(eid, sizeof(eid), 36);
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

/* validates one to/cc/bcc list; 0 or an error reply in *ret */
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
        const char *em = jstr(x, "email");
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

static int
sg_send(struct MHD_Connection *c, void *r, const char *body, size_t len,
    sim_reply_fn reply)
{
    json_t      *j, *pers, *p, *from, *content, *cats, *rootargs;
    json_error_t err;
    const char  *subject, *tid, *fromemail, **seen = NULL;
    size_t       nseen = 0, seencap = 0, i, np, nrec = 0;
    char         msg[512], field[128], xmid[32], smtp[96], lim[24], rem[24],
                 rst[24];
    const char  *text = "";
    sim_opts_t   o;
    int64_t      now = sim_now_ms();
    sg_pend_t   *items = NULL;
    size_t       ni = 0;
    long         remaining;
    int          ret;

    j = json_loadb(body, len, 0, &err);
    if (!json_is_object(j)) {
        json_decref(j);
        return sg_error(c, r, reply, 400, "Bad Request", NULL, NULL);
    }
    pers = json_object_get(j, "personalizations");
    np = json_array_size(pers);
    if (np == 0) {
        json_decref(j);
        return sg_error(c, r, reply, 400, "The personalizations field is "
            "required and must have at least one personalization.",
            "personalizations", SG_HELP "personalizations");
    }
    if (np > 1000) {
        json_decref(j);
        return sg_error(c, r, reply, 400, "The personalizations field must "
            "not have more than 1000 personalizations.", "personalizations",
            SG_HELP "personalizations");
    }
    from = json_object_get(j, "from");
    fromemail = jstr(from, "email");
    if (fromemail == NULL) {
        json_decref(j);
        return sg_error(c, r, reply, 400, "The from object must be provided "
            "for every email send. It is an object that requires the email "
            "parameter, but may also contain a name parameter.  e.g. "
            "{\"email\" : \"example@example.com\"}  or {\"email\" : "
            "\"example@example.com\", \"name\" : \"Example Recipient\"}.",
            "from.email", SG_HELP "from");
    }
    if (!valid_email(fromemail)) {
        json_decref(j);
        return sg_error(c, r, reply, 400, "The from email does not contain "
            "a valid address.", "from.email", SG_HELP "from");
    }
    tid = jstr(j, "template_id");
    content = json_object_get(j, "content");
    if (tid == NULL && json_array_size(content) == 0) {
        json_decref(j);
        return sg_error(c, r, reply, 400, "Unless a valid template_id is "
            "provided, the content parameter is required. There must be at "
            "least one defined content block. We typically suggest both "
            "text/plain and text/html blocks are included, but only one "
            "block is required.", "content", SG_HELP "content");
    }
    json_array_foreach(content, i, p) {
        const char *ty = jstr(p, "type"), *va = jstr(p, "value");
        if (ty == NULL || va == NULL || *va == '\0') {
            snprintf(field, sizeof(field), "content.%zu.value", i);
            json_decref(j);
            return sg_error(c, r, reply, 400, "The content value must be a "
                "string at least one character in length.", field,
                SG_HELP "content.value");
        }
        if (i == 0 || strcmp(ty, "text/plain") == 0) {
            text = va;
        }
    }
    subject = jstr(j, "subject");
    json_array_foreach(pers, i, p) {
        json_t *to = json_object_get(p, "to");
        if (!json_is_object(p) || json_array_size(to) == 0) {
            snprintf(field, sizeof(field), "personalizations.%zu.to", i);
            free(seen);
            json_decref(j);
            return sg_error(c, r, reply, 400, "The to array is required for "
                "all personalization objects, and must have at least one "
                "email object with a valid email address.", field,
                SG_HELP "personalizations.to");
        }
        if (subject == NULL && tid == NULL && jstr(p, "subject") == NULL) {
            free(seen);
            json_decref(j);
            return sg_error(c, r, reply, 400, "The subject is required. You "
                "can get around this requirement if you use a template with "
                "a subject defined or if every personalization has a subject "
                "defined.", "subject", SG_HELP "subject");
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
            json_decref(j);
            return sg_error(c, r, reply, 400, msg, field[0] ? field : NULL,
                SG_HELP "personalizations");
        }
    }
    free(seen);
    nrec = nseen;

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
        return reply_json(c, r, reply, 429, json_pack("{s[{sn,ss}]}",
            "errors", "field", "message", "too many requests"), h);
    }
    if (json_is_true(json_object_get(json_object_get(json_object_get(j,
            "mail_settings"), "sandbox_mode"), "enable")))
    {
        const char *h[] = {"X-RateLimit-Limit", lim, "X-RateLimit-Remaining",
            rem, "X-RateLimit-Reset", rst, NULL};
        json_decref(j);
        return reply(c, r, 200, NULL, 0, h);
    }

    rand_b64url(xmid, sizeof(xmid), 16);
    snprintf(smtp, sizeof(smtp), "<%s@ismtpd0001p1iad1.sendgrid.net>", xmid);
    sim_opts_get(&o);
    items = calloc(nrec * 3 + 1, sizeof(*items));
    cats = json_object_get(j, "categories");
    rootargs = json_object_get(j, "custom_args");
    {
        size_t idx = 0;
        json_array_foreach(pers, i, p) {
            static const char *kinds[] = {"to", "cc", "bcc"};
            const char *subj = jstr(p, "subject");
            json_t     *args = json_object();
            size_t      kk;
            if (json_is_object(rootargs)) {
                json_object_update(args, rootargs);
            }
            if (json_is_object(json_object_get(p, "custom_args"))) {
                json_object_update(args, json_object_get(p, "custom_args"));
            }
            if (subj == NULL) {
                subj = subject ? subject : "";
            }
            for (kk = 0; kk < 3; kk++) {
                json_t *list = json_object_get(p, kinds[kk]), *x;
                size_t  li;
                json_array_foreach(list, li, x) {
                    const char *em = jstr(x, "email");
                    char        sgid[SIM_ID_MAX], hex[9];
                    double      rr = sim_rand01();
                    sim_msg_t  *m;
                    int64_t     d1 = now + o.callback_delay_ms,
                                d2 = now + 2 * o.callback_delay_ms;
                    sim_id_hex(hex, 8);
                    snprintf(sgid, sizeof(sgid),
                        "%s.filterdrecv-sim-%s-%zu-%08llX-%zu.0", xmid, hex,
                        idx, (long long) (now / 1000), idx);
                    m = sim_msg_new_ex(em, fromemail, xmid, text, "",
                        subj);
                    if (m != NULL) {
                        snprintf(m->sid, sizeof(m->sid), "%s", sgid);
                        m->provider = "sendgrid";
                        m->channel = "email";
                        m->status = "accepted";
                        m->created_ms = m->updated_ms = now;
                        sim_store_add(m);
                    }
                    if (items == NULL) {
                        idx++;
                        continue;
                    }
#define ADD(due_, name_, status_, extra_) do { \
        json_t *e_ = sg_event(em, name_, sgid, smtp, cats, args); \
        extra_; \
        items[ni].due = (due_); items[ni].ev = e_; \
        snprintf(items[ni].sid, sizeof(items[ni].sid), "%s", sgid); \
        items[ni].status = (status_); ni++; \
    } while (0)
                    if (rr < o.sg_dropped_ratio) {
                        ADD(d1, "dropped", "dropped",
                            json_object_set_new(e_, "reason",
                                json_string("Bounced Address"));
                            json_object_set_new(e_, "status",
                                json_string("5.0.0")));
                    } else {
                        ADD(d1, "processed", "processed", (void) 0);
                        rr -= o.sg_dropped_ratio;
                        if (rr < o.sg_bounce_ratio) {
                            ADD(d2, "bounce", "bounce",
                                json_object_set_new(e_, "type",
                                    json_string("bounce"));
                                json_object_set_new(e_, "status",
                                    json_string("5.1.1"));
                                json_object_set_new(e_, "reason",
                                    json_string("550 5.1.1 The email account "
                                        "that you tried to reach does not "
                                        "exist."));
                                json_object_set_new(e_,
                                    "bounce_classification",
                                    json_string("Invalid Address")));
                        } else {
                            int64_t dd = d2;
                            if (rr - o.sg_bounce_ratio
                                < o.sg_deferred_ratio)
                            {
                                ADD(d2, "deferred", "deferred",
                                    json_object_set_new(e_, "response",
                                        json_string("450 4.2.1 try again "
                                            "later"));
                                    json_object_set_new(e_, "attempt",
                                        json_string("1")));
                                dd = now + 3 * o.callback_delay_ms;
                            }
                            ADD(dd, "delivered", "delivered",
                                json_object_set_new(e_, "response",
                                    json_string("250 OK"));
                                json_object_set_new(e_, "ip",
                                    json_string("127.0.0.1"));
                                json_object_set_new(e_, "tls",
                                    json_integer(1)));
                        }
                    }
#undef ADD
                    idx++;
                }
            }
            json_decref(args);
        }
    }
    if (items != NULL && ni > 0 && sg_enqueue(items, ni) != 0) {
        for (i = 0; i < ni; i++) {
            json_decref(items[i].ev);
        }
        sim_log("cannot queue SendGrid events");
    }
    free(items);
    json_decref(j);
    {
        const char *h[] = {"X-Message-Id", xmid, "X-RateLimit-Limit", lim,
            "X-RateLimit-Remaining", rem, "X-RateLimit-Reset", rst,
            "Content-Type", "text/plain", NULL};
        ret = reply(c, r, 202, NULL, 0, h);
    }
    return ret;
}

/* ---- routing ---- */

int
sim_prov_route(struct MHD_Connection *c, void *r, const char *url,
    const char *method, const char *body, size_t len, sim_reply_fn reply,
    int *ret)
{
    if (strcmp(url, "/v1/Content") == 0) {
        if (strcmp(method, "GET") != 0) {
            *ret = reply_json(c, r, reply, 405, json_pack("{si,ss,ss,si}",
                "code", 20004, "message", "Method not allowed", "more_info",
                "https://www.twilio.com/docs/errors/20004", "status", 405),
                NULL);
        } else {
            *ret = content_list(c, r, reply);
        }
        return 1;
    }
    if (strcmp(url, "/v3/mail/send") == 0) {
        if (!sim_bearer_ok(c, sim_sendgrid_api_key)) {
            *ret = sg_error(c, r, reply, 401, "The provided authorization "
                "grant is invalid, expired, or revoked", NULL, NULL);
        } else if (strcmp(method, "POST") != 0) {
            *ret = sg_error(c, r, reply, 405, "method not allowed", NULL,
                NULL);
        } else {
            *ret = sg_send(c, r, body, len, reply);
        }
        return 1;
    }
    if (url[0] == '/' && url[1] == 'v' && url[2] >= '0' && url[2] <= '9') {
        int rc = meta_route(c, r, url, method, body, len, reply);
        if (rc >= 0) {
            *ret = rc;
            return 1;
        }
    }
    return 0;
}

/* ---- POST /sim/inbound for whatsapp, meta, email ---- */

static int
sim_err(struct MHD_Connection *c, void *r, sim_reply_fn reply,
    unsigned status, const char *e)
{
    return reply_json(c, NULL, reply, status, json_pack("{ss}", "error", e),
        NULL);
    (void) r;
}

static int
inbound_twilio_wa(struct MHD_Connection *c, void *r, json_t *root,
    sim_reply_fn reply)
{
    const char *url = jstr(root, "url"), *from = jstr(root, "from"),
               *to = jstr(root, "to"), *body = jstr(root, "body"),
               *name = jstr(root, "profile_name"), *k;
    json_t     *media = json_object_get(root, "media"), *params, *v;
    char        dflt[600], f[80], t[80], waid[32], sid[SIM_SID_LEN + 1],
                nm[8], mu[10][16], mt[10][24], key[256];
    bc_kv_t     kv[80];
    size_t      n = 0, i, nmedia = json_array_size(media);

    if (from == NULL) {
        return sim_err(c, r, reply, 400, "from is required");
    }
    if (url == NULL) {
        if (!sim_webhook_base[0]) {
            return sim_err(c, r, reply, 400, "url (or --webhook-base) is "
                "required");
        }
        snprintf(dflt, sizeof(dflt), "%s/webhooks/twilio/whatsapp/inbound",
            sim_webhook_base);
        url = dflt;
    }
    snprintf(f, sizeof(f), "%s%s", strncmp(from, "whatsapp:", 9) ? "whatsapp:"
        : "", from);
    if (to == NULL) {
        to = sim_whatsapp_from;
    }
    snprintf(t, sizeof(t), "%s%s", strncmp(to, "whatsapp:", 9) ? "whatsapp:"
        : "", to);
    digits_only(f, waid, sizeof(waid));
    if (body == NULL) {
        body = "";
    }
    if (name == NULL) {
        name = "Sim User";
    }
    if (nmedia > 10) {
        nmedia = 10;
    }
    sid[0] = nmedia ? 'M' : 'S';
    sid[1] = 'M';
    sim_id_hex(sid + 2, 32);
    snprintf(nm, sizeof(nm), "%zu", nmedia);
#define KV(nm_, val) do { \
        kv[n].name = (nm_); kv[n].name_len = strlen(nm_); \
        kv[n].value = (val); kv[n].value_len = strlen(val); n++; \
    } while (0)
    KV("AccountSid", sim_account_sid);
    KV("ApiVersion", "2010-04-01");
    KV("Body", body);
    KV("From", f);
    KV("MessageSid", sid);
    KV("MessageType", nmedia ? "image" : "text");
    KV("NumMedia", nm);
    KV("NumSegments", "1");
    KV("ProfileName", name);
    KV("ReferralNumMedia", "0");
    KV("SmsMessageSid", sid);
    KV("SmsSid", sid);
    KV("SmsStatus", "received");
    KV("To", t);
    KV("WaId", waid);
    for (i = 0; i < nmedia; i++) {
        const char *u = json_string_value(json_array_get(media, i));
        if (u == NULL) {
            continue;
        }
        snprintf(mu[i], sizeof(mu[i]), "MediaUrl%zu", i);
        snprintf(mt[i], sizeof(mt[i]), "MediaContentType%zu", i);
        KV(mu[i], u);
        KV(mt[i], "image/jpeg");
    }
    params = json_object_get(root, "params");
    if (json_is_object(params)) {
        json_object_foreach(params, k, v) {
            if (json_is_string(v) && n < 80) {
                KV(k, json_string_value(v));
            }
        }
    }
#undef KV
    snprintf(key, sizeof(key), "twilio|%s|%s", t, f);
    sim_window_touch(key, sim_now_ms());
    if (sim_cb_schedule_post(url, kv, n, 0) != 0) {
        return sim_err(c, r, reply, 500, "cannot schedule");
    }
    sim_log("inbound whatsapp %s from %s to %s scheduled", sid, f, url);
    return reply_json(c, NULL, reply, 200, json_pack("{ss,ss}", "sid", sid,
        "url", url), NULL);
}

static int
inbound_meta(struct MHD_Connection *c, void *r, json_t *root,
    sim_reply_fn reply)
{
    const char *url = jstr(root, "url"), *from = jstr(root, "from"),
               *body = jstr(root, "body"), *type = jstr(root, "type"),
               *name = jstr(root, "profile_name");
    json_t     *value, *msg, *obj, *ctx;
    char        waid[32], wamid[SIM_ID_MAX], ts[24], key[128];
    sim_post_t *p;

    if (from == NULL) {
        return sim_err(c, r, reply, 400, "from is required");
    }
    if (url == NULL) {
        url = sim_meta_webhook_url;
    }
    if (*url == '\0') {
        return sim_err(c, r, reply, 400, "url (or --webhook-base or "
            "--meta-webhook-url) is required");
    }
    digits_only(from, waid, sizeof(waid));
    if (type == NULL) {
        type = "text";
    }
    if (name == NULL) {
        name = "Sim User";
    }
    make_wamid(waid, wamid, sizeof(wamid));
    snprintf(ts, sizeof(ts), "%lld", (long long) (sim_now_ms() / 1000));
    msg = json_object();
    json_object_set_new(msg, "from", json_string(waid));
    json_object_set_new(msg, "id", json_string(wamid));
    json_object_set_new(msg, "timestamp", json_string(ts));
    obj = json_object_get(root, type);
    if (json_is_object(obj)) {
        json_object_set(msg, type, obj);
    } else if (strcmp(type, "text") == 0) {
        json_object_set_new(msg, "text", json_pack("{ss}", "body",
            body ? body : ""));
    } else if (strcmp(type, "image") == 0 || strcmp(type, "video") == 0
               || strcmp(type, "audio") == 0 || strcmp(type, "document") == 0
               || strcmp(type, "sticker") == 0)
    {
        char id[20], sha[65];
        json_t *m;
        digits_only(wamid + 10, id, sizeof(id));
        bc_sha256_hex(wamid, strlen(wamid), sha);
        m = json_pack("{ss,ss,ss}", "id", id[0] ? id : "1234567890",
            "mime_type", strcmp(type, "image") == 0 ? "image/jpeg"
            : strcmp(type, "video") == 0 ? "video/mp4"
            : strcmp(type, "audio") == 0 ? "audio/ogg; codecs=opus"
            : strcmp(type, "sticker") == 0 ? "image/webp"
            : "application/pdf", "sha256", sha);
        if (body != NULL && strcmp(type, "audio") != 0) {
            json_object_set_new(m, "caption", json_string(body));
        }
        json_object_set_new(msg, type, m);
    } else if (strcmp(type, "button") == 0) {
        json_object_set_new(msg, "button", json_pack("{ss,ss}", "payload",
            body ? body : "", "text", body ? body : ""));
    } else if (strcmp(type, "location") == 0) {
        json_object_set_new(msg, "location", json_pack("{sf,sf}",
            "latitude", 52.52, "longitude", 13.405));
    } else {
        json_decref(msg);
        return sim_err(c, r, reply, 400, "give the message object under the "
            "key named by type");
    }
    json_object_set_new(msg, "type", json_string(type));
    ctx = json_object_get(root, "context");
    if (json_is_object(ctx)) {
        json_object_set(msg, "context", ctx);
    }
    value = meta_value();
    json_object_set_new(value, "contacts", json_pack("[{s{ss},ss}]",
        "profile", "name", name, "wa_id", waid));
    json_object_set_new(value, "messages", json_pack("[o]", msg));
    p = meta_post(url, meta_envelope(value));
    snprintf(key, sizeof(key), "meta|%s|%s", sim_meta_phone_number_id, waid);
    sim_window_touch(key, sim_now_ms());
    if (p == NULL || sim_post_schedule(p, 0) != 0) {
        return sim_err(c, r, reply, 500, "cannot schedule");
    }
    sim_log("inbound meta %s from %s to %s scheduled", wamid, waid, url);
    return reply_json(c, NULL, reply, 200, json_pack("{ss,ss}", "id", wamid,
        "url", url), NULL);
}

static void
mp_part(char **buf, size_t *len, size_t *cap, const char *name,
    const char *value)
{
    size_t need = strlen(name) + strlen(value) + 128;

    if (*buf == NULL) {
        return;
    }
    if (*len + need > *cap) {
        char *nb;
        while (*len + need > *cap) {
            *cap *= 2;
        }
        nb = realloc(*buf, *cap);
        if (nb == NULL) {
            free(*buf);
            *buf = NULL;
            return;
        }
        *buf = nb;
    }
    *len += (size_t) sprintf(*buf + *len, "--xYzZY\r\nContent-Disposition: "
        "form-data; name=\"%s\"\r\n\r\n%s\r\n", name, value);
}

static int
inbound_email(struct MHD_Connection *c, void *r, json_t *root,
    sim_reply_fn reply)
{
    const char *url = jstr(root, "url"), *from = jstr(root, "from"),
               *to = jstr(root, "to"), *subject = jstr(root, "subject"),
               *text = jstr(root, "body"), *html = jstr(root, "html");
    char        dflt[600], *buf, *env, *headers, mid[40], hl[64];
    size_t      len = 0, cap = 4096, hlen;
    json_t     *e;
    struct curl_slist *l;
    sim_post_t *p;

    if (from == NULL) {
        return sim_err(c, r, reply, 400, "from is required");
    }
    if (url == NULL) {
        if (!sim_webhook_base[0]) {
            return sim_err(c, r, reply, 400, "url (or --webhook-base) is "
                "required");
        }
        snprintf(dflt, sizeof(dflt), "%s/webhooks/sendgrid/inbound",
            sim_webhook_base);
        url = dflt;
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
    rand_b64url(mid, sizeof(mid), 12);
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
        return sim_err(c, r, reply, 500, "out of memory");
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
            return sim_err(c, r, reply, 500, "out of memory");
        }
        buf = nb;
    }
    memcpy(buf + len, "--xYzZY--\r\n", 11);
    len += 11;
    snprintf(hl, sizeof(hl), "X-Sim-Inbound: %s", mid);
    l = hdrs("Content-Type: multipart/form-data; boundary=xYzZY",
        "User-Agent: Sendlib/1.0 inbound.sendgrid.net", "Expect:", hl,
        (char *) NULL);
    if (l == NULL) {
        free(buf);
        return sim_err(c, r, reply, 500, "out of memory");
    }
    p = sim_post_new(url, buf, len, l);
    if (p == NULL || sim_post_schedule(p, 0) != 0) {
        return sim_err(c, r, reply, 500, "cannot schedule");
    }
    sim_log("inbound email from %s to %s scheduled", from, url);
    return reply_json(c, NULL, reply, 200, json_pack("{ss,ss}", "id", mid,
        "url", url), NULL);
}

int
sim_prov_inbound(struct MHD_Connection *c, void *r, const char *body,
    size_t len, sim_reply_fn reply, int *ret)
{
    json_t      *root;
    json_error_t err;
    const char  *ch;

    root = json_loadb(body ? body : "", len, 0, &err);
    ch = jstr(root, "channel");
    if (ch == NULL) {
        *ret = sim_err(c, r, reply, 400, "channel must be sms, whatsapp, "
            "meta or email");
    } else if (strcmp(ch, "whatsapp") == 0) {
        *ret = inbound_twilio_wa(c, r, root, reply);
    } else if (strcmp(ch, "meta") == 0) {
        *ret = inbound_meta(c, r, root, reply);
    } else if (strcmp(ch, "email") == 0) {
        *ret = inbound_email(c, r, root, reply);
    } else {
        *ret = sim_err(c, r, reply, 400, "channel must be sms, whatsapp, "
            "meta or email");
    }
    json_decref(root);
    return 0;
}

/* ---- life cycle ---- */

int
sim_prov_init(void)
{
    return 0;
}

void
sim_prov_reset(void)
{
    size_t i;

    pthread_mutex_lock(&sg_lock);
    for (i = 0; i < sg_n; i++) {
        json_decref(sg_q[i].ev);
    }
    sg_n = 0;
    pthread_mutex_unlock(&sg_lock);
}

void
sim_prov_free(void)
{
    sim_prov_reset();
    pthread_mutex_lock(&sg_lock);
    free(sg_q);
    sg_q = NULL;
    sg_cap = 0;
    sg_flush_scheduled = 0;
    pthread_mutex_unlock(&sg_lock);
}

/*
 * broadcast-sim: Meta's WhatsApp Cloud API: POST /{version}/{phone-number-
 * id}/messages (Bearer token, Graph API errors), the signed status
 * webhooks of what it accepted, inbound messages on demand, and the Meta
 * provider row.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "bc_sig.h"
#include "sim_http.h"

#define JS_FLAGS   (JSON_COMPACT | JSON_ENSURE_ASCII)

static int
meta_error(struct MHD_Connection *c, sim_req_t *r, unsigned status,
    int code, const char *type, const char *message, const char *details)
{
    char    trace[40];
    json_t *e;

    sim_rand_b64url(trace, sizeof(trace), 17);
    e = json_object();
    json_object_set_new(e, "message", json_string(message));
    json_object_set_new(e, "type", json_string(type));
    json_object_set_new(e, "code", json_integer(code));
    if (details != NULL) {
        json_object_set_new(e, "error_data", json_pack("{ss,ss}",
            "messaging_product", "whatsapp", "details", details));
    }
    json_object_set_new(e, "fbtrace_id", json_string(trace));
    return sim_reply_json(c, r, status, json_pack("{so}", "error", e), NULL);
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
    l = sim_headers("Content-Type: application/json",
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

/* the media message types, with the MIME type an inbound one carries */
typedef struct {
    const char *type;
    const char *mime;
} meta_media_t;

static const meta_media_t meta_media[] = {
    { "image",    "image/jpeg" },
    { "document", "application/pdf" },
    { "audio",    "audio/ogg; codecs=opus" },
    { "video",    "video/mp4" },
    { "sticker",  "image/webp" },
};

/* the MIME type of a media type, NULL if type is none */
static const char *
meta_media_type(const char *type)
{
    size_t i;

    for (i = 0; i < SIM_NELTS(meta_media); i++) {
        if (strcmp(meta_media[i].type, type) == 0) {
            return meta_media[i].mime;
        }
    }
    return NULL;
}

/*
 * Checks the message object of a send and describes it for the store
 * (desc); a template gives its name and category. 0 if it can be sent,
 * else an error was answered and *ret holds the result.
 */
static int
meta_check_message(struct MHD_Connection *c, sim_req_t *r, json_t *j,
    const char *type, char *desc, size_t desclen, const char **tname,
    const char **category, int *ret)
{
    json_t     *obj = json_object_get(j, type);
    char        det[300];
    const char *b, *lang, *link, *id, *cap;

    if (strcmp(type, "text") == 0) {
        b = sim_jstr(obj, "body");
        if (b == NULL || *b == '\0') {
            *ret = meta_error(c, r, 400, 100, "OAuthException",
                "(#100) The parameter text['body'] is required.", NULL);
            return -1;
        }
        if (strlen(b) > 4096 * 4) {
            *ret = meta_error(c, r, 400, 100, "OAuthException",
                "(#100) Param text['body'] must be at most 4096 characters "
                "long.", NULL);
            return -1;
        }
        snprintf(desc, desclen, "%s", b);

    } else if (strcmp(type, "template") == 0) {
        lang = sim_jstr(json_object_get(obj, "language"), "code");
        *tname = sim_jstr(obj, "name");
        if (*tname == NULL || lang == NULL) {
            *ret = meta_error(c, r, 400, 100, "OAuthException",
                *tname == NULL ? "(#100) The parameter template['name'] is "
                "required." : "(#100) The parameter template['language'] is "
                "required.", NULL);
            return -1;
        }
        *category = sim_meta_tpl_category(*tname, lang);
        if (*category == NULL) {
            snprintf(det, sizeof(det), "template name (%.100s) does not "
                "exist in %.20s", *tname, lang);
            *ret = meta_error(c, r, 404, 132001, "OAuthException",
                "(#132001) Template name does not exist in the translation",
                det);
            return -1;
        }
        snprintf(desc, desclen, "template:%s/%s", *tname, lang);

    } else if (meta_media_type(type) != NULL) {
        link = sim_jstr(obj, "link");
        id = sim_jstr(obj, "id");
        cap = sim_jstr(obj, "caption");
        if (!json_is_object(obj) || (link == NULL) == (id == NULL)) {
            snprintf(det, sizeof(det), "Param %s must contain either id or "
                "link", type);
            *ret = meta_error(c, r, 400, 100, "OAuthException",
                "(#100) Invalid parameter", det);
            return -1;
        }
        snprintf(desc, desclen, "%s%s%s", cap ? cap : "",
            cap ? " " : "", link ? link : id);

    } else if (obj == NULL) {
        snprintf(det, sizeof(det), "(#100) The parameter %.40s is required.",
            type);
        *ret = meta_error(c, r, 400, 100, "OAuthException", det, NULL);
        return -1;

    } else {
        snprintf(desc, desclen, "%s", type);
    }
    return 0;
}

/* sent, delivered (and read) or failed, a callback delay apart */
static void
meta_schedule_statuses(const char *wamid, const char *wa_id, int64_t now,
    const char *category, int fail, const sim_opts_t *o)
{
    long        ts = (long) (now / 1000);
    char        conv[40];
    sim_post_t *p, *d, *rd;

    sim_id_hex(conv, 32);
    if (fail) {
        p = meta_status_post(wamid, "failed", wa_id, ts, category, conv,
            131047);
    } else {
        p = meta_status_post(wamid, "sent", wa_id, ts, category, conv, 0);
        if (p != NULL) {
            d = meta_status_post(wamid, "delivered", wa_id, ts, category,
                conv, 0);
            if (d != NULL) {
                sim_post_chain(p, d);
            }
            if (d != NULL && o->whatsapp_read) {
                rd = meta_status_post(wamid, "read", wa_id, ts, category,
                    conv, 0);
                if (rd != NULL) {
                    sim_post_chain(p, rd);
                }
            }
        }
    }
    if (p == NULL || sim_post_schedule(p, o->callback_delay_ms) != 0) {
        sim_log("cannot schedule Meta status webhooks for %s", wamid);
    }
}

static int
meta_send(struct MHD_Connection *c, sim_req_t *r, const char *pid)
{
    json_t      *j, *resp;
    json_error_t err;
    const char  *mp, *to, *type, *tname = "", *category = "service";
    char         wa_id[32], wamid[SIM_ID_MAX], desc[16400], key[128];
    sim_opts_t   o;
    int64_t      now = sim_now_ms();
    int          freeform, fail = 0, ret;
    sim_msg_t   *m;

    j = json_loadb(sim_req_body(r), r->len, 0, &err);
    if (!json_is_object(j)) {
        json_decref(j);
        return meta_error(c, r, 400, 100, "OAuthException",
            "(#100) Invalid parameter", "Request body is not valid JSON");
    }
    mp = sim_jstr(j, "messaging_product");
    if (mp == NULL || strcmp(mp, "whatsapp") != 0) {
        json_decref(j);
        return meta_error(c, r, 400, 100, "OAuthException",
            "(#100) The parameter messaging_product is required.", NULL);
    }
    to = sim_jstr(j, "to");
    if (to == NULL || *to == '\0') {
        json_decref(j);
        return meta_error(c, r, 400, 100, "OAuthException",
            "(#100) The parameter to is required.", NULL);
    }
    sim_digits_only(to, wa_id, sizeof(wa_id));
    if (strlen(wa_id) < 7 || strlen(wa_id) > 15
        || strspn(to, "+0123456789 -()") != strlen(to))
    {
        json_decref(j);
        return meta_error(c, r, 400, 100, "OAuthException",
            "(#100) Invalid parameter", "Invalid recipient phone number");
    }
    type = sim_jstr(j, "type");
    if (type == NULL) {
        type = "text";
    }
    desc[0] = '\0';
    if (meta_check_message(c, r, j, type, desc, sizeof(desc), &tname,
            &category, &ret) != 0)
    {
        json_decref(j);
        return ret;
    }
    sim_opts_get(&o);
    snprintf(key, sizeof(key), "meta|%s", pid);
    if (o.meta_rate > 0 && !sim_rate_allow(key, o.meta_rate, now)) {
        json_decref(j);
        return meta_error(c, r, 429, 130429, "OAuthException",
            "(#130429) Rate limit hit", "Cloud API message throughput has "
            "been reached.");
    }
    freeform = strcmp(type, "template") != 0;
    snprintf(key, sizeof(key), "meta|%s|%s", pid, wa_id);
    if (freeform && o.whatsapp_window && !sim_window_open(key, now)) {
        fail = 1;
    }
    make_wamid(wa_id, wamid, sizeof(wamid));
    m = sim_msg_new(wa_id, sim_meta_display_phone, pid, desc,
        sim_meta_webhook_url, tname ? tname : "");
    if (m == NULL) {
        json_decref(j);
        return meta_error(c, r, 500, 1, "OAuthException",
            "An unknown error occurred", NULL);
    }
    snprintf(m->sid, sizeof(m->sid), "%s", wamid);
    m->provider = &sim_provider_meta;
    m->channel = "whatsapp";
    m->status = "accepted";
    m->created_ms = m->updated_ms = now;
    sim_store_add(m);

    if (sim_meta_webhook_url[0]) {
        meta_schedule_statuses(wamid, wa_id, now, category, fail, &o);
    }

    resp = json_pack("{ss,s[{ss,ss}],s[{ss}]}", "messaging_product",
        "whatsapp", "contacts", "input", to, "wa_id", wa_id, "messages",
        "id", wamid);
    if (!freeform) {
        json_object_set_new(json_array_get(json_object_get(resp, "messages"),
            0), "message_status", json_string("accepted"));
    }
    json_decref(j);
    return sim_reply_json(c, r, 200, resp, NULL);
}

/* /{version}/{phone-number-id}/messages */
static int
meta_route(struct MHD_Connection *c, sim_req_t *r, const char *url,
    const char *method)
{
    const char *p = url + 2, *pid, *slash;
    char        id[64], msg[200];

    if (*p < '0' || *p > '9') {
        return SIM_ROUTE_DECLINED;
    }
    p += strspn(p, "0123456789");
    if (*p != '.') {
        return SIM_ROUTE_DECLINED;
    }
    p++;
    if (strspn(p, "0123456789") == 0) {
        return SIM_ROUTE_DECLINED;
    }
    p += strspn(p, "0123456789");
    if (*p != '/') {
        return SIM_ROUTE_DECLINED;
    }
    pid = p + 1;
    if (!sim_bearer_ok(c, sim_meta_access_token)) {
        return meta_error(c, r, 401, 190, "OAuthException",
            "Invalid OAuth access token - Cannot parse access token", NULL);
    }
    slash = strchr(pid, '/');
    if (slash != NULL && strcmp(slash, "/message_templates") == 0
        && (size_t) (slash - pid) == strlen(sim_meta_waba_id)
        && strncmp(pid, sim_meta_waba_id, (size_t) (slash - pid)) == 0
        && strcmp(method, "GET") == 0)
    {
        char ver[16];

        snprintf(ver, sizeof(ver), "%.*s", (int) (pid - 1 - (url + 1)),
            url + 1);
        return sim_meta_templates(c, r, ver);
    }
    if (slash == NULL || strcmp(slash, "/messages") != 0
        || (size_t) (slash - pid) >= sizeof(id))
    {
        return meta_error(c, r, 400, 100, "GraphMethodException",
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
        return meta_error(c, r, 400, 100, "GraphMethodException", msg,
            NULL);
    }
    if (strcmp(id, sim_meta_phone_number_id) != 0) {
        snprintf(msg, sizeof(msg), "Unsupported post request. Object with ID "
            "'%.40s' does not exist, cannot be loaded due to missing "
            "permissions, or does not support this operation.", id);
        return meta_error(c, r, 400, 100, "GraphMethodException", msg,
            NULL);
    }
    return meta_send(c, r, id);
}

/* ---- POST /sim/inbound, channel meta ---- */

static int
inbound_meta(struct MHD_Connection *c, json_t *root)
{
    const char *url = sim_jstr(root, "url"), *from = sim_jstr(root, "from"),
               *body = sim_jstr(root, "body"), *type = sim_jstr(root, "type"),
               *name = sim_jstr(root, "profile_name");
    json_t     *value, *msg, *obj, *ctx;
    char        waid[32], wamid[SIM_ID_MAX], ts[24], key[128];
    sim_post_t *p;

    if (from == NULL) {
        return sim_reply_error(c, 400, "from is required");
    }
    if (url == NULL) {
        url = sim_meta_webhook_url;
    }
    if (*url == '\0') {
        return sim_reply_error(c, 400, "url (or --webhook-base or "
            "--meta-webhook-url) is required");
    }
    sim_digits_only(from, waid, sizeof(waid));
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
    } else if (meta_media_type(type) != NULL) {
        char id[20], sha[65];
        json_t *m;
        sim_digits_only(wamid + 10, id, sizeof(id));
        bc_sha256_hex(wamid, strlen(wamid), sha);
        m = json_pack("{ss,ss,ss}", "id", id[0] ? id : "1234567890",
            "mime_type", meta_media_type(type), "sha256", sha);
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
        return sim_reply_error(c, 400, "give the message object under the "
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
        return sim_reply_error(c, 500, "cannot schedule");
    }
    sim_log("inbound meta %s from %s to %s scheduled", wamid, waid, url);
    return sim_reply_json(c, NULL, 200, json_pack("{ss,ss}", "id", wamid,
        "url", url), NULL);
}

/* ---- the provider ---- */

/* GET /sim/messages members after "channel" */
static void
meta_list_ids(jb_t *b, const sim_msg_t *m)
{
    jb_kstr(b, "template", m->extra[0] ? m->extra : NULL);
    jb_kstr(b, "phone_number_id", m->mss);
}

/* "/v" and a digit; meta_route declines any other version shape */
static const sim_route_t meta_routes[] = {
    SIM_ROUTE("/v", 1, meta_route),
};

static const sim_inbound_t meta_inbound[] = {
    { "meta", inbound_meta },
};

const sim_provider_t sim_provider_meta = {
    "meta",
    meta_routes, SIM_NELTS(meta_routes),
    meta_inbound, SIM_NELTS(meta_inbound),
    meta_list_ids, NULL,
    NULL, NULL,
};

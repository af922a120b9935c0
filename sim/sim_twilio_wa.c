/*
 * broadcast-sim: Twilio's WhatsApp side: the Content API (templates, and
 * the checks of a create that names one) and inbound WhatsApp webhooks on
 * demand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_form.h"
#include "sim_twilio.h"

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
content_list(struct MHD_Connection *c, sim_req_t *r)
{
    const char *v;
    long        ps = 50, page = 0, off = 0, i;
    json_t     *root, *arr, *meta;
    char        url[700], dc[80];

    if (!sim_twilio_basic_ok(c)) {
        static const char *const h[] = {"WWW-Authenticate",
            "Basic realm=\"Twilio API\"", NULL};
        return sim_reply_json(c, r, 401, json_pack("{si,ss,ss,si}",
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
    return sim_reply_json(c, r, 200, root, NULL);
}

int
sim_twilio_content_route(struct MHD_Connection *c, sim_req_t *r,
    const char *url, const char *method)
{
    (void) url;
    if (strcmp(method, "GET") != 0) {
        return sim_reply_json(c, r, 405, json_pack("{si,ss,ss,si}",
            "code", 20004, "message", "Method not allowed", "more_info",
            "https://www.twilio.com/docs/errors/20004", "status", 405),
            NULL);
    }
    return content_list(c, r);
}

/* ---- POST /sim/inbound, channel whatsapp ---- */

int
sim_twilio_inbound_whatsapp(struct MHD_Connection *c, json_t *root)
{
    const char *url = sim_jstr(root, "url"), *from = sim_jstr(root, "from"),
               *to = sim_jstr(root, "to"), *body = sim_jstr(root, "body"),
               *name = sim_jstr(root, "profile_name");
    json_t     *media = json_object_get(root, "media");
    char        dflt[600], f[80], t[80], waid[32], sid[SIM_SID_LEN + 1],
                nm[8], mu[10][16], mt[10][24], key[256];
    bc_kv_t     kv[80];
    size_t      n = 0, i, nmedia = json_array_size(media);

    if (from == NULL) {
        return sim_reply_error(c, 400, "from is required");
    }
    url = sim_inbound_url(url, "/webhooks/twilio/whatsapp/inbound", dflt,
        sizeof(dflt));
    if (url == NULL) {
        return sim_reply_error(c, 400, "url (or --webhook-base) is "
            "required");
    }
    snprintf(f, sizeof(f), "%s%s", sim_wa_prefixed(from) ? "" : BC_WA_PREFIX,
        from);
    if (to == NULL) {
        to = sim_whatsapp_from;
    }
    snprintf(t, sizeof(t), "%s%s", sim_wa_prefixed(to) ? "" : BC_WA_PREFIX,
        to);
    sim_digits_only(f, waid, sizeof(waid));
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
#define KV(nm_, val)  sim_kv_add(kv, &n, nm_, val)
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
#undef KV
    sim_twilio_kv_params(kv, &n, sizeof(kv) / sizeof(kv[0]), root);
    snprintf(key, sizeof(key), "twilio|%s|%s", t, f);
    sim_window_touch(key, sim_now_ms());
    if (sim_cb_schedule_post(url, kv, n, 0) != 0) {
        return sim_reply_error(c, 500, "cannot schedule");
    }
    sim_log("inbound whatsapp %s from %s to %s scheduled", sid, f, url);
    return sim_reply_json(c, NULL, 200, json_pack("{ss,ss}", "sid", sid,
        "url", url), NULL);
}

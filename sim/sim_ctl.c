/*
 * broadcast-sim: the /sim/ control routes (health, the accepted messages,
 * reset, run-time options, inbound webhooks on demand), one table row each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_http.h"

/* ---- GET /sim/health ---- */

static int
ctl_health(struct MHD_Connection *c, sim_req_t *r, const char *url,
    const char *method)
{
    uint64_t s, f, p, rt;
    char     buf[256];

    (void) r;
    (void) url;
    (void) method;
    sim_cb_stats(&s, &f, &p, &rt);
    snprintf(buf, sizeof(buf), "{\"status\":\"ok\",\"messages\":%zu,"
        "\"callbacks_sent\":%llu,\"callbacks_failed\":%llu,"
        "\"callbacks_retried\":%llu,\"pending\":%llu,"
        "\"throttled\":%llu}",
        sim_store_count(), (unsigned long long) s,
        (unsigned long long) f, (unsigned long long) rt,
        (unsigned long long) p,
        (unsigned long long) sim_throttle_count());
    return sim_reply_str(c, 200, buf);
}

/* ---- GET /sim/messages ---- */

static int
list_one(const sim_msg_t *m, void *arg)
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
    jb_kstr(b, "provider", m->provider->name);
    jb_kstr(b, "channel", m->channel);
    m->provider->list_ids(b, m);
    if (m->error_code) {
        jb_knum(b, "error_code", m->error_code);
    }
    jb_kstr(b, "to", m->to);
    jb_kstr(b, "from", m->from[0] ? m->from : NULL);
    if (m->provider->list_sender != NULL) {
        m->provider->list_sender(b, m);
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

static int
ctl_messages(struct MHD_Connection *c, sim_req_t *r, const char *url,
    const char *method)
{
    jb_t b = {0};

    (void) r;
    (void) url;
    (void) method;
    jb_s(&b, "{\"messages\":[");
    sim_store_foreach(0, list_one, &b);
    jb_s(&b, "]}");
    return sim_reply_jb(c, NULL, 200, &b);
}

/* ---- POST /sim/reset ---- */

static int
ctl_reset(struct MHD_Connection *c, sim_req_t *r, const char *url,
    const char *method)
{
    size_t i;

    (void) r;
    (void) url;
    (void) method;
    sim_cb_clear();
    sim_store_reset();
    sim_rate_reset();
    sim_window_reset();
    for (i = 0; i < sim_nproviders; i++) {
        if (sim_providers[i]->reset != NULL) {
            sim_providers[i]->reset();
        }
    }
    sim_log("reset");
    return sim_reply_str(c, 200, "{\"status\":\"ok\"}");
}

/* ---- GET, POST /sim/config ---- */

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

static int
ctl_config(struct MHD_Connection *c, sim_req_t *r, const char *url,
    const char *method)
{
    int          is_post = strcmp(method, "POST") == 0;
    sim_opts_t   o;
    json_t      *root;
    json_error_t err;
    double       v;
    jb_t         b = {0};
    int          bad = 0;

    (void) url;
    sim_opts_get(&o);
    if (is_post) {
        root = json_loadb(r->body ? r->body : "", r->len, 0, &err);
        if (root == NULL || !json_is_object(root)) {
            json_decref(root);
            return sim_reply_str(c, 400, "{\"error\":\"invalid json\"}");
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
            return sim_reply_str(c, 400,
                "{\"error\":\"invalid option value\"}");
        }
        sim_opts_set(&o);
        sim_log("config: delay=%ldms fail=%g undelivered=%g rate=%ld "
            "latency=%ldms error=%g retries=%ld", o.callback_delay_ms,
            o.fail_ratio, o.undelivered_ratio, o.rate_per_sender,
            o.latency_ms, o.error_ratio, o.callback_retries);
    }
    opts_json(&b, &o);
    return sim_reply_jb(c, NULL, 200, &b);
}

/* ---- POST /sim/inbound {channel, ...}: each provider's channels ---- */

/* "channel must be sms, whatsapp, meta or email", from the providers */
static void
channels_error(char *buf, size_t len)
{
    size_t      i, k, n = 0, total = 0, off;
    const char *sep;

    for (i = 0; i < sim_nproviders; i++) {
        total += sim_providers[i]->ninbound;
    }
    off = (size_t) snprintf(buf, len, "channel must be ");
    for (i = 0; i < sim_nproviders; i++) {
        for (k = 0; k < sim_providers[i]->ninbound && off < len; k++) {
            n++;
            sep = n == total ? "" : n + 1 == total ? " or " : ", ";
            off += (size_t) snprintf(buf + off, len - off, "%s%s",
                sim_providers[i]->inbound[k].channel, sep);
        }
    }
}

static int
ctl_inbound(struct MHD_Connection *c, sim_req_t *r, const char *url,
    const char *method)
{
    json_t      *root, *v;
    json_error_t err;
    const char  *channel;
    char         msg[200];
    size_t       i, k;
    int          ret;

    (void) url;
    (void) method;
    root = json_loadb(sim_req_body(r), r->len, 0, &err);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return sim_reply_str(c, 400, "{\"error\":\"invalid json\"}");
    }
    /* no channel is an SMS; a channel that is no string matches none */
    v = json_object_get(root, "channel");
    channel = v == NULL ? "sms" : json_string_value(v);
    for (i = 0; channel != NULL && i < sim_nproviders; i++) {
        for (k = 0; k < sim_providers[i]->ninbound; k++) {
            if (strcmp(sim_providers[i]->inbound[k].channel, channel) == 0) {
                ret = sim_providers[i]->inbound[k].handler(c, root);
                json_decref(root);
                return ret;
            }
        }
    }
    json_decref(root);
    channels_error(msg, sizeof(msg));
    return sim_reply_error(c, 400, msg);
}

/* ---- routing ---- */

typedef struct {
    const char   *path;
    const char   *method;
    sim_route_fn  handler;
} ctl_route_t;

static const ctl_route_t ctl_routes[] = {
    { "/sim/health",   "GET",  ctl_health },
    { "/sim/messages", "GET",  ctl_messages },
    { "/sim/reset",    "POST", ctl_reset },
    { "/sim/config",   "POST", ctl_config },
    { "/sim/config",   "GET",  ctl_config },
    { "/sim/inbound",  "POST", ctl_inbound },
};

int
sim_ctl_route(struct MHD_Connection *c, sim_req_t *r, const char *url,
    const char *method)
{
    size_t i;

    for (i = 0; i < SIM_NELTS(ctl_routes); i++) {
        if (strcmp(url, ctl_routes[i].path) == 0
            && strcmp(method, ctl_routes[i].method) == 0)
        {
            return ctl_routes[i].handler(c, r, url, method);
        }
    }
    return sim_reply_str(c, 404, "{\"error\":\"not found\"}");
}

/*
 * broadcast-sim: the /sim/ control routes (health, the accepted messages,
 * reset, run-time options, inbound webhooks on demand), one table row each.
 */
#include <stddef.h>
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

/* the run-time options, in the order GET /sim/config lists them */
typedef enum {
    CFG_LONG,            /* long, written as an integer */
    CFG_RATIO,           /* double, written with %g */
    CFG_BOOL             /* int; true|false, or "on"|"off" */
} cfg_kind_t;

typedef struct {
    const char  *key;
    cfg_kind_t   kind;
    size_t       offset;             /* in sim_opts_t */
    double       lo, hi;             /* CFG_LONG, CFG_RATIO */
} cfg_opt_t;

#define CFG(key, kind, field, lo, hi)                                         \
    { key, kind, offsetof(sim_opts_t, field), lo, hi }

static const cfg_opt_t cfg_opts[] = {
    CFG("callback_delay_ms", CFG_LONG, callback_delay_ms, 0, 3600000),
    CFG("fail_ratio", CFG_RATIO, fail_ratio, 0, 1),
    CFG("undelivered_ratio", CFG_RATIO, undelivered_ratio, 0, 1),
    CFG("rate_per_sender", CFG_LONG, rate_per_sender, 0, 1e9),
    CFG("latency_ms", CFG_LONG, latency_ms, 0, 600000),
    CFG("error_ratio", CFG_RATIO, error_ratio, 0, 1),
    CFG("callback_retries", CFG_LONG, callback_retries, 0, 5),
    CFG("whatsapp_window", CFG_BOOL, whatsapp_window, 0, 0),
    CFG("whatsapp_read", CFG_BOOL, whatsapp_read, 0, 0),
    CFG("meta_rate", CFG_LONG, meta_rate, 0, 1e9),
    CFG("sendgrid_rate", CFG_LONG, sg_rate, 1, 1e9),
    CFG("sendgrid_bounce_ratio", CFG_RATIO, sg_bounce_ratio, 0, 1),
    CFG("sendgrid_dropped_ratio", CFG_RATIO, sg_dropped_ratio, 0, 1),
    CFG("sendgrid_deferred_ratio", CFG_RATIO, sg_deferred_ratio, 0, 1),
    CFG("sendgrid_batch", CFG_LONG, sg_batch, 1, 10000),
};

static void
opts_json(jb_t *b, const sim_opts_t *o)
{
    const cfg_opt_t *opt;
    const char      *field;
    char             d[32];
    size_t           i;

    jb_s(b, "{");
    for (i = 0; i < SIM_NELTS(cfg_opts); i++) {
        opt = &cfg_opts[i];
        field = (const char *) o + opt->offset;
        switch (opt->kind) {
        case CFG_LONG:
            jb_knum(b, opt->key, *(const long *) field);
            break;
        case CFG_RATIO:
            snprintf(d, sizeof(d), "%g", *(const double *) field);
            jb_key(b, opt->key);
            jb_s(b, d);
            break;
        case CFG_BOOL:
            jb_key(b, opt->key);
            jb_s(b, *(const int *) field ? "true" : "false");
            break;
        }
    }
    jb_s(b, "}");
}

/* sets one option from its member of root (absent or null: unchanged);
 * -1 if the value is of the wrong type or out of range */
static int
cfg_set(const cfg_opt_t *opt, json_t *root, sim_opts_t *o)
{
    json_t     *v = json_object_get(root, opt->key);
    char       *field = (char *) o + opt->offset;
    const char *s;
    double      n;

    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (opt->kind == CFG_BOOL) {
        s = json_string_value(v);
        if (json_is_boolean(v)) {
            *(int *) field = json_is_true(v);
        } else if (s != NULL && strcmp(s, "on") == 0) {
            *(int *) field = 1;
        } else if (s != NULL && strcmp(s, "off") == 0) {
            *(int *) field = 0;
        } else {
            return -1;
        }
        return 0;
    }
    if (!json_is_number(v)) {
        return -1;
    }
    n = json_number_value(v);
    if (n < opt->lo || n > opt->hi) {
        return -1;
    }
    if (opt->kind == CFG_LONG) {
        *(long *) field = (long) n;
    } else {
        *(double *) field = n;
    }
    return 0;
}

static int
ctl_config(struct MHD_Connection *c, sim_req_t *r, const char *url,
    const char *method)
{
    sim_opts_t   o;
    json_t      *root;
    json_error_t err;
    jb_t         b = {0};
    size_t       i;
    int          bad = 0;

    (void) url;
    sim_opts_get(&o);
    if (strcmp(method, "POST") == 0) {
        root = json_loadb(sim_req_body(r), r->len, 0, &err);
        if (root == NULL || !json_is_object(root)) {
            json_decref(root);
            return sim_reply_str(c, 400, "{\"error\":\"invalid json\"}");
        }
        for (i = 0; i < SIM_NELTS(cfg_opts); i++) {
            bad |= cfg_set(&cfg_opts[i], root, &o) != 0;
        }
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

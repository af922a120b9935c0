/*
 * The sender's own metrics in /metrics: the hash bc:metrics:sender (field
 * names in docs/DESIGN.md "Keys", common/bc_metrics.h) rendered one metric
 * family at a time, as the text format requires: counters whose field is
 * <prefix><label>[:<label2>], the provider latency histogram and the
 * heartbeat.
 */


#include "ngx_http_broadcast_metrics.h"
#include "bc_metrics.h"


typedef struct {
    ngx_str_t     prefix;
    const char   *metric;
    const char   *help;
    const char   *label;
    const char   *label2;     /* the part after a second ':', or NULL */
} ngx_http_broadcast_sender_metric_t;


static ngx_http_broadcast_sender_metric_t  ngx_http_broadcast_sender_metrics[] =
{
    { ngx_string("provider_calls:"), "broadcast_provider_calls_total",
      "Provider API calls by outcome (sender).", "provider", "outcome" },
    { ngx_string("retries:"), "broadcast_provider_retries_total",
      "Provider calls retried (sender).", "provider", NULL },
    { ngx_string("throttles:"), "broadcast_provider_throttles_total",
      "Provider answers that paused a sender or account (sender).",
      "provider", NULL },
    { ngx_string("reconciled:"), "broadcast_reconciled_total",
      "Messages reconciled after a crash (sender).", "outcome", NULL },
    { ngx_string("purged:"), "broadcast_retention_purged_total",
      "Rows purged by retention: messages, events, webhook_log (payloads "
      "cleared) (sender).", "kind", NULL },
    { ngx_null_string, NULL, NULL, NULL, NULL }
};


/* a field and its value are printable inside a label and as a number */
static ngx_uint_t
ngx_http_broadcast_sender_field_ok(redisReply *k, redisReply *v)
{
    size_t  i;

    if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING
        || v->len == 0 || v->len > 32)
    {
        return 0;
    }

    for (i = 0; i < k->len; i++) {
        if (k->str[i] == '"' || k->str[i] == '\\' || k->str[i] == '\n') {
            return 0;
        }
    }

    for (i = 0; i < v->len; i++) {
        if (!isdigit((u_char) v->str[i]) && v->str[i] != '.'
            && v->str[i] != '-' && v->str[i] != 'e')
        {
            return 0;
        }
    }

    return 1;
}


/* the value of a field, NULL if absent or unprintable */
static redisReply *
ngx_http_broadcast_sender_get(redisReply *h, const char *name)
{
    size_t  i, len;

    len = ngx_strlen(name);

    for (i = 0; i + 1 < h->elements; i += 2) {
        if (h->element[i]->type == REDIS_REPLY_STRING
            && h->element[i]->len == len
            && ngx_strncmp(h->element[i]->str, name, len) == 0
            && ngx_http_broadcast_sender_field_ok(h->element[i],
                                                  h->element[i + 1]))
        {
            return h->element[i + 1];
        }
    }

    return NULL;
}


size_t
ngx_http_broadcast_metrics_sender_size(redisReply *sender)
{
    size_t  i, size;

    size = 2048;

    if (sender == NULL || sender->type != REDIS_REPLY_ARRAY) {
        return size;
    }

    for (i = 0; i < sender->elements; i++) {
        /* a latency count becomes its buckets, sum and count lines */
        size += (sender->element[i]->len + 128) * (BC_LATENCY_N + 3);
    }

    return size;
}


static u_char *
ngx_http_broadcast_sender_counter(u_char *p, redisReply *sender,
    ngx_http_broadcast_sender_metric_t *m)
{
    size_t       i;
    u_char      *name, *end, *label, *colon;
    redisReply  *k, *v;

    p = ngx_sprintf(p, "# HELP %s %s\n# TYPE %s counter\n",
                    m->metric, m->help, m->metric);

    for (i = 0; i + 1 < sender->elements; i += 2) {
        k = sender->element[i];
        v = sender->element[i + 1];

        if (!ngx_http_broadcast_sender_field_ok(k, v)
            || k->len <= m->prefix.len
            || ngx_strncmp(k->str, m->prefix.data, m->prefix.len) != 0)
        {
            continue;
        }

        name = (u_char *) k->str;
        end = name + k->len;
        label = name + m->prefix.len;

        if (m->label2 == NULL) {
            p = ngx_sprintf(p, "%s{%s=\"%*s\"} %*s\n", m->metric, m->label,
                            (size_t) (end - label), label, v->len, v->str);
            continue;
        }

        colon = ngx_strlchr(label, end, ':');
        if (colon == NULL) {
            continue;
        }

        p = ngx_sprintf(p, "%s{%s=\"%*s\",%s=\"%*s\"} %*s\n", m->metric,
                        m->label, (size_t) (colon - label), label, m->label2,
                        (size_t) (end - colon - 1), colon + 1, v->len,
                        v->str);
    }

    return p;
}


/* broadcast_provider_latency_seconds: one series set per provider that
 * has a latency count, its buckets in bc_latency_le order */
static u_char *
ngx_http_broadcast_sender_latency(u_char *p, redisReply *sender)
{
    char         field[96], prov[64];
    size_t       i, len, plen;
    ngx_uint_t   b;
    redisReply  *k, *count, *v;

    p = ngx_sprintf(p,
        "# HELP broadcast_provider_latency_seconds Provider API call "
        "duration, answered or timed out (sender).\n"
        "# TYPE broadcast_provider_latency_seconds histogram\n");

    len = sizeof(BC_FIELD_LATENCY_COUNT) - 1;

    for (i = 0; i + 1 < sender->elements; i += 2) {
        k = sender->element[i];
        count = sender->element[i + 1];

        if (!ngx_http_broadcast_sender_field_ok(k, count) || k->len <= len
            || k->len - len >= sizeof(prov)
            || ngx_strncmp(k->str, BC_FIELD_LATENCY_COUNT, len) != 0)
        {
            continue;
        }

        plen = k->len - len;
        ngx_memcpy(prov, k->str + len, plen);
        prov[plen] = '\0';

        for (b = 0; bc_latency_le[b]; b++) {
            snprintf(field, sizeof(field), BC_FIELD_LATENCY_BUCKET "%s:%s",
                     prov, bc_latency_le[b]);
            v = ngx_http_broadcast_sender_get(sender, field);

            p = ngx_sprintf(p, "broadcast_provider_latency_seconds_bucket{"
                            "provider=\"%s\",le=\"%s\"} %*s\n", prov,
                            bc_latency_le[b], v ? v->len : 1,
                            v ? v->str : "0");
        }

        snprintf(field, sizeof(field), BC_FIELD_LATENCY_SUM "%s", prov);
        v = ngx_http_broadcast_sender_get(sender, field);

        p = ngx_sprintf(p, "broadcast_provider_latency_seconds_bucket{"
                        "provider=\"%s\",le=\"+Inf\"} %*s\n"
                        "broadcast_provider_latency_seconds_sum{"
                        "provider=\"%s\"} %*s\n"
                        "broadcast_provider_latency_seconds_count{"
                        "provider=\"%s\"} %*s\n",
                        prov, count->len, count->str,
                        prov, v ? v->len : 1, v ? v->str : "0",
                        prov, count->len, count->str);
    }

    return p;
}


u_char *
ngx_http_broadcast_metrics_sender(u_char *p, redisReply *sender)
{
    redisReply                          *v;
    ngx_http_broadcast_sender_metric_t  *m;

    for (m = ngx_http_broadcast_sender_metrics; m->metric; m++) {
        p = ngx_http_broadcast_sender_counter(p, sender, m);
    }

    p = ngx_http_broadcast_sender_latency(p, sender);

    v = ngx_http_broadcast_sender_get(sender, BC_FIELD_HEARTBEAT);
    if (v) {
        p = ngx_sprintf(p,
            "# HELP broadcast_sender_heartbeat_timestamp_seconds When a "
            "sender's send loop last reported (every "
            BC_STR(BC_HEARTBEAT_S) " s).\n"
            "# TYPE broadcast_sender_heartbeat_timestamp_seconds gauge\n"
            "broadcast_sender_heartbeat_timestamp_seconds %*s\n",
            v->len, v->str);
    }

    return p;
}

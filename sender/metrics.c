/*
 * The sender's own metrics, counted in memory during a turn and added to
 * the Redis hash bc:metrics:sender once per turn (pipelined with the acks,
 * queue.c). The module's /metrics renders the hash (docs/DESIGN.md).
 * A heartbeat field proves the send loop is alive even when idle.
 */
#include <stdio.h>
#include <time.h>

#include "sender.h"
#include "bc_metrics.h"


/* the labels of provider_calls:<provider>:<outcome>, by SND_M_* */
static const char *const  snd_outcomes[SND_M_N] = { "accepted", "failed",
                                                    "retry", "error" };

/* reconciled:<outcome>: found, notfound, unknown_after_crash */
static const char *const  snd_reconciled[3] = {
    "reconciled:found", "reconciled:notfound",
    "reconciled:unknown_after_crash"
};


/* a provider API call took seconds: the cumulative buckets it falls in */
void
snd_metrics_latency(snd_t *s, int prov, double seconds)
{
    int  b;

    if (prov < 0 || prov >= SND_PROV_N || seconds < 0) {
        return;
    }
    for (b = 0; b < BC_LATENCY_N; b++) {
        if (seconds <= bc_latency_bound[b]) {
            s->m_lat[prov][b]++;
        }
    }
    s->m_lat_count[prov]++;
    s->m_lat_sum[prov] += seconds;
}


static void
snd_metric(snd_t *s, const char *field, long long *v, int *n)
{
    char  buf[32];

    if (*v == 0) {
        return;
    }
    snprintf(buf, sizeof(buf), "%lld", *v);
    const char *argv[4] = { "HINCRBY", BC_KEY_SENDER_METRICS, field, buf };
    bc_rc_append(s->redis, 4, argv, NULL);
    (*n)++;
    *v = 0;
}


int
snd_metrics_pending(snd_t *s)
{
    int  p, k;

    if (snd_now_ms() >= s->next_heartbeat_ms) {
        return 1;
    }
    for (p = 0; p < SND_PROV_N; p++) {
        for (k = 0; k < SND_M_N; k++) {
            if (s->m[p][k] != 0) {
                return 1;
            }
        }
        if (s->m_retries[p] != 0 || s->m_throttles[p] != 0
            || s->m_lat_count[p] != 0)
        {
            return 1;
        }
    }
    return s->m_found + s->m_notfound + s->m_lost != 0;
}


static void
snd_metrics_append_latency(snd_t *s, int p, int *n)
{
    char         f[64], buf[32];
    const char  *name = snd_providers[p]->name;
    int          b;

    if (s->m_lat_count[p] == 0) {
        return;
    }
    for (b = 0; b < BC_LATENCY_N; b++) {
        snprintf(f, sizeof(f), BC_FIELD_LATENCY_BUCKET "%s:%s", name,
                 bc_latency_le[b]);
        /* a bucket at 0 is still written: the histogram has every le */
        if (s->m_lat[p][b] == 0) {
            const char *argv[5] = { "HSETNX", BC_KEY_SENDER_METRICS, f, "0" };
            bc_rc_append(s->redis, 4, argv, NULL);
            (*n)++;
        }
        snd_metric(s, f, &s->m_lat[p][b], n);
    }
    snprintf(f, sizeof(f), BC_FIELD_LATENCY_COUNT "%s", name);
    snd_metric(s, f, &s->m_lat_count[p], n);

    snprintf(f, sizeof(f), BC_FIELD_LATENCY_SUM "%s", name);
    snprintf(buf, sizeof(buf), "%.6f", s->m_lat_sum[p]);
    const char *argv[4] = { "HINCRBYFLOAT", BC_KEY_SENDER_METRICS, f, buf };
    bc_rc_append(s->redis, 4, argv, NULL);
    (*n)++;
    s->m_lat_sum[p] = 0;
}


/* once per process: every counter field at 0 unless it exists, so each
 * series is served (and can be alerted on) before its first event */
static void
snd_metrics_append_zeros(snd_t *s, int *n)
{
    char                      f[64];
    int                       p, k;

    for (p = 0; p < SND_PROV_N; p++) {
        for (k = 0; k <= SND_M_N + 1; k++) {
            if (k < SND_M_N) {
                snprintf(f, sizeof(f), "provider_calls:%s:%s",
                         snd_providers[p]->name, snd_outcomes[k]);
            } else {
                snprintf(f, sizeof(f), "%s:%s",
                         k == SND_M_N ? "retries" : "throttles",
                         snd_providers[p]->name);
            }
            const char *argv[4] = { "HSETNX", BC_KEY_SENDER_METRICS, f, "0" };
            bc_rc_append(s->redis, 4, argv, NULL);
            (*n)++;
        }
    }
    for (k = 0; k < 3; k++) {
        const char *argv[4] = { "HSETNX", BC_KEY_SENDER_METRICS,
                                snd_reconciled[k], "0" };
        bc_rc_append(s->redis, 4, argv, NULL);
        (*n)++;
    }
}


/*
 * Appends one command per counter that moved (and zeroes it); *n counts
 * the replies to read. A lost connection loses this turn's counts only.
 */
void
snd_metrics_append(snd_t *s, int *n)
{
    char                      f[64], now[32];
    int                       p, k;
    long long                 ms = snd_now_ms();

    for (p = 0; p < SND_PROV_N; p++) {
        for (k = 0; k < SND_M_N; k++) {
            snprintf(f, sizeof(f), "provider_calls:%s:%s",
                     snd_providers[p]->name, snd_outcomes[k]);
            snd_metric(s, f, &s->m[p][k], n);
        }
        snprintf(f, sizeof(f), "retries:%s", snd_providers[p]->name);
        snd_metric(s, f, &s->m_retries[p], n);
        snprintf(f, sizeof(f), "throttles:%s", snd_providers[p]->name);
        snd_metric(s, f, &s->m_throttles[p], n);
        snd_metrics_append_latency(s, p, n);
    }
    snd_metric(s, snd_reconciled[0], &s->m_found, n);
    snd_metric(s, snd_reconciled[1], &s->m_notfound, n);
    snd_metric(s, snd_reconciled[2], &s->m_lost, n);

    if (s->next_heartbeat_ms == 0) {
        snd_metrics_append_zeros(s, n);
    }
    if (ms >= s->next_heartbeat_ms) {
        snprintf(now, sizeof(now), "%lld", (long long) time(NULL));
        const char *argv[4] = { "HSET", BC_KEY_SENDER_METRICS,
                                BC_FIELD_HEARTBEAT, now };
        bc_rc_append(s->redis, 4, argv, NULL);
        (*n)++;
        s->next_heartbeat_ms = ms + BC_HEARTBEAT_S * 1000;
    }
}

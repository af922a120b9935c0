/*
 * The sender's configuration file (docs/DESIGN.md "Sender configuration").
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_conf.h"
#include "bc_mysql_conf.h"
#include "sender.h"

static int
snd_copy(char *dst, size_t dstlen, const char *src, const char *key)
{
    if (strlen(src) >= dstlen) {
        snd_log(SND_LOG_ERR, "config: %s is too long", key);
        return -1;
    }
    strcpy(dst, src);
    return 0;
}

static int
snd_num(const bc_conf_t *cf, const char *key, const char *def, long min,
    long max, long *out)
{
    const char  *v = bc_conf_get(cf, key, def);
    char        *end;
    long         n;

    n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n < min || n > max) {
        snd_log(SND_LOG_ERR, "config: %s = \"%s\": expected %ld..%ld", key,
            v, min, max);
        return -1;
    }
    *out = n;
    return 0;
}

static void
snd_trim_slashes(char *u)
{
    size_t n = strlen(u);

    while (n > 0 && u[n - 1] == '/') {
        u[--n] = '\0';
    }
}

static void
snd_secret_free(char **p)
{
    if (*p != NULL) {
        memset(*p, 0, strlen(*p));
        free(*p);
        *p = NULL;
    }
}

/* the string settings: copied, checked for length */
typedef struct {
    const char  *key;
    const char  *def;
    size_t       offset;
    size_t       size;
    int          url;         /* trailing slashes cut: they would double */
} snd_conf_str_t;

#define SND_CONF_FIELD(f)                                                     \
    offsetof(snd_conf_t, f), sizeof(((snd_conf_t *) 0)->f)

static const snd_conf_str_t  snd_conf_strs[] = {
    { "consumer", "sender-1", SND_CONF_FIELD(consumer), 0 },
    { "public_url", "", SND_CONF_FIELD(public_url), 1 },
    { "twilio_api_base", "https://api.twilio.com",
      SND_CONF_FIELD(twilio_api_base), 1 },
    { "twilio_account_sid", "", SND_CONF_FIELD(twilio_account_sid), 0 },
    { "pidfile", "", SND_CONF_FIELD(pidfile), 0 },
    { "meta_graph_base", "https://graph.facebook.com/v21.0",
      SND_CONF_FIELD(meta_graph_base), 1 },
    { "sendgrid_api_base", "https://api.sendgrid.com",
      SND_CONF_FIELD(sendgrid_api_base), 1 },
    /* the predecessor's Chinese market's words too: 退订, TD, T */
    { "opt_out_keywords", "STOP,STOPALL,UNSUBSCRIBE,CANCEL,END,QUIT,OPTOUT,"
      "\xe9\x80\x80\xe8\xae\xa2,TD,T", SND_CONF_FIELD(opt_out_keywords), 0 },
    { "opt_in_keywords", "START,YES,UNSTOP", SND_CONF_FIELD(opt_in_keywords),
      0 },
    { "help_keywords", "HELP,INFO", SND_CONF_FIELD(help_keywords), 0 },
    { "help_text", "Reply STOP to unsubscribe, START to subscribe again.",
      SND_CONF_FIELD(help_text), 0 },
    /* Meta's unique-user limit per number per 24 h (campaign_tier.c) */
    { "meta_messaging_limits", "", SND_CONF_FIELD(meta_messaging_limits), 0 },
    { "encryption_key_file", "", SND_CONF_FIELD(encryption_key_file), 0 },
};

/* the integer settings, within [min, max] */
typedef struct {
    const char  *key;
    const char  *def;
    long         min, max;
    size_t       offset;
    size_t       size;        /* sizeof(int) or sizeof(long) */
} snd_conf_num_t;

static const snd_conf_num_t  snd_conf_nums[] = {
    { "max_inflight", "256", 1, 10000, SND_CONF_FIELD(max_inflight) },
    { "max_attempts", "8", 1, 1000, SND_CONF_FIELD(max_attempts) },
    /* a queued campaign job or keyword reply waits (WAIT) for this many
       Redis replicas, at most redis_wait_timeout_ms (docs/DESIGN.md) */
    { "redis_wait_replicas", "0", 0, 16, SND_CONF_FIELD(redis_wait_replicas) },
    { "redis_wait_timeout_ms", "100", 1, 10000,
      SND_CONF_FIELD(redis_wait_timeout_ms) },
    /* how long an audience page waits for the replica to apply what the
       primary has (MASTER_GTID_WAIT) before the primary answers it */
    { "mysql_replica_wait_ms", "1000", 0, 60000,
      SND_CONF_FIELD(replica_wait_ms) },
    { "reclaim_idle_ms", "30000", 1000, 86400000,
      SND_CONF_FIELD(reclaim_idle_ms) },
    /* reconcile lookups: Twilio allows up to 1,000 messages per page */
    { "twilio_list_page_size", "1000", 1, 1000,
      SND_CONF_FIELD(twilio_list_page_size) },
    { "request_timeout_ms", "10000", 100, 600000,
      SND_CONF_FIELD(request_timeout_ms) },
    { "sendgrid_batch_max", "1000", 1, 1000,
      SND_CONF_FIELD(sendgrid_batch_max) },
    { "keyword_reply_window_s", "600", 1, 2592000,
      SND_CONF_FIELD(keyword_reply_window_s) },
    /* the campaign dispatcher: rows per transaction, its lease, and the
       send stream's backlog it keeps under (seconds of work, not the
       audience) */
    { "campaign_batch", "5000", 1, 10000, SND_CONF_FIELD(campaign_batch) },
    { "campaign_lease_ms", "10000", 1000, 600000,
      SND_CONF_FIELD(campaign_lease_ms) },
    { "campaign_stream_max_lag", "2000", 1, 1000000,
      SND_CONF_FIELD(campaign_stream_max_lag) },
    /* retention (retention.c): days, 0 = forever; small batches, a pause */
    { "retention_messages_days", "0", 0, 36500,
      SND_CONF_FIELD(retention_messages_days) },
    { "retention_events_days", "0", 0, 36500,
      SND_CONF_FIELD(retention_events_days) },
    { "retention_webhook_log_days", "0", 0, 36500,
      SND_CONF_FIELD(retention_webhook_log_days) },
    { "retention_batch", "1000", 1, 100000, SND_CONF_FIELD(retention_batch) },
    { "retention_pause_ms", "200", 0, 60000,
      SND_CONF_FIELD(retention_pause_ms) },
    { "retention_interval_s", "3600", 1, 604800,
      SND_CONF_FIELD(retention_interval_s) },
};

/* tokens per second, 0 (unlimited) .. max */
typedef struct {
    const char  *key;
    const char  *def;
    double       max;
    size_t       offset;
} snd_conf_rate_t;

static const snd_conf_rate_t  snd_conf_rates[] = {
    /* Meta's throughput per phone number: 80 by default, up to 1,000 */
    { "meta_rate_per_sender", "80", 1000,
      offsetof(snd_conf_t, meta_rate_per_sender) },
    /* Twilio segments/s per sender (its MPS) */
    { "rate_per_sender", "0", 1e6, offsetof(snd_conf_t, rate_per_sender) },
    { "sendgrid_rate", "0", 1e6, offsetof(snd_conf_t, sendgrid_rate) },
};

/* the provider secrets: a file each */
typedef struct {
    const char  *key;
    size_t       offset;
    const char  *missing;     /* required: the error without it */
} snd_conf_secret_t;

#define SND_CONF_TWILIO_REQUIRED                                              \
    "twilio_account_sid and twilio_auth_token_file are required"

static const snd_conf_secret_t  snd_conf_secrets[] = {
    { "twilio_auth_token_file", offsetof(snd_conf_t, twilio_auth_token),
      SND_CONF_TWILIO_REQUIRED },
    /* without a token or key, such jobs fail as not configured */
    { "meta_access_token_file", offsetof(snd_conf_t, meta_access_token),
      NULL },
    { "sendgrid_api_key_file", offsetof(snd_conf_t, sendgrid_api_key),
      NULL },
};

#define SND_NELTS(a)  (sizeof(a) / sizeof((a)[0]))

static int
snd_conf_strings(snd_conf_t *conf, const bc_conf_t *cf)
{
    const snd_conf_str_t  *st;
    size_t                 i;
    char                  *field;

    for (i = 0; i < SND_NELTS(snd_conf_strs); i++) {
        st = &snd_conf_strs[i];
        field = (char *) conf + st->offset;
        if (snd_copy(field, st->size, bc_conf_get(cf, st->key, st->def),
                     st->key)
            != 0)
        {
            return -1;
        }
        if (st->url) {
            snd_trim_slashes(field);
        }
    }
    return 0;
}

static int
snd_conf_numbers(snd_conf_t *conf, const bc_conf_t *cf)
{
    const snd_conf_num_t  *nt;
    const snd_conf_rate_t *rt;
    size_t                 i;
    long                   n;
    const char            *v;
    char                  *end;
    double                 d;

    for (i = 0; i < SND_NELTS(snd_conf_nums); i++) {
        nt = &snd_conf_nums[i];
        if (snd_num(cf, nt->key, nt->def, nt->min, nt->max, &n) != 0) {
            return -1;
        }
        if (nt->size == sizeof(int)) {
            *(int *) ((char *) conf + nt->offset) = (int) n;
        } else {
            *(long *) ((char *) conf + nt->offset) = n;
        }
    }
    for (i = 0; i < SND_NELTS(snd_conf_rates); i++) {
        rt = &snd_conf_rates[i];
        v = bc_conf_get(cf, rt->key, rt->def);
        d = strtod(v, &end);
        if (*v == '\0' || *end != '\0' || d < 0 || d > rt->max) {
            snd_log(SND_LOG_ERR, "config: bad %s \"%s\"", rt->key, v);
            return -1;
        }
        *(double *) ((char *) conf + rt->offset) = d;
    }
    return 0;
}

static int
snd_conf_read_secrets(snd_conf_t *conf, const bc_conf_t *cf)
{
    const snd_conf_secret_t  *st;
    size_t                    i;
    const char               *v;
    char                    **field, err[512];

    for (i = 0; i < SND_NELTS(snd_conf_secrets); i++) {
        st = &snd_conf_secrets[i];
        field = (char **) ((char *) conf + st->offset);
        v = bc_conf_get(cf, st->key, "");
        if (v[0] == '\0') {
            if (st->missing == NULL) {
                continue;
            }
            snd_log(SND_LOG_ERR, "config: %s", st->missing);
            return -1;
        }
        *field = bc_read_secret_file(v, err, sizeof(err));
        if (*field == NULL) {
            snd_log(SND_LOG_ERR, "config: %s", err);
            return -1;
        }
    }
    return 0;
}

int
snd_conf_load(snd_conf_t *conf, const char *path)
{
    bc_conf_t    cf;
    char         err[512];
    const char  *v;
    int          rc = -1, lvl;

    memset(conf, 0, sizeof(*conf));
    memset(&cf, 0, sizeof(cf));
    if (bc_conf_load(&cf, path, err, sizeof(err)) != 0) {
        snd_log(SND_LOG_ERR, "config: %s", err);
        return -1;
    }

    v = bc_conf_get(&cf, "log_level", "info");
    lvl = snd_log_level_parse(v);
    if (lvl < 0) {
        snd_log(SND_LOG_ERR, "config: unknown log_level \"%s\"", v);
        goto done;
    }
    snd_log_level = lvl;

    /* redis (one address, or cluster seeds), redis_user,
       redis_password_file */
    if (bc_redis_conf_from(&conf->redis, &cf, err, sizeof(err)) != 0) {
        snd_log(SND_LOG_ERR, "config: %s", err);
        goto done;
    }
    conf->redis.timeout_ms = 5000;

    if (bc_mysql_conf_from(&conf->db, &cf, err, sizeof(err)) != 0) {
        snd_log(SND_LOG_ERR, "config: %s", err);
        goto done;
    }
    conf->db.connect_timeout = 3;
    conf->db.rw_timeout = 30;

    conf->replica_set = bc_mysql_conf_replica_from(&conf->replica, &conf->db,
                                                   &cf, err, sizeof(err));
    if (conf->replica_set < 0) {
        snd_log(SND_LOG_ERR, "config: %s", err);
        goto done;
    }

    if (snd_conf_strings(conf, &cf) != 0) {
        goto done;
    }
    if (snd_tier_limit(conf->meta_messaging_limits, NULL) < 0) {
        snd_log(SND_LOG_ERR, "config: meta_messaging_limits = \"%s\": "
            "expected <phone-number-id>:<limit|unlimited>, comma-separated "
            "(\"*\" for any other number)", conf->meta_messaging_limits);
        goto done;
    }
    /* the Twilio account is required, the other providers are optional */
    if (conf->twilio_account_sid[0] == '\0') {
        snd_log(SND_LOG_ERR, "config: " SND_CONF_TWILIO_REQUIRED);
        goto done;
    }
    if (snd_conf_read_secrets(conf, &cf) != 0) {
        goto done;
    }
    if (conf->public_url[0] == '\0') {
        snd_log(SND_LOG_ERR, "config: public_url is required");
        goto done;
    }
    if (snd_conf_numbers(conf, &cf) != 0) {
        goto done;
    }
    v = bc_conf_get(&cf, "campaigns", "on");
    if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
        snd_log(SND_LOG_ERR, "config: campaigns = \"%s\": expected on or "
            "off", v);
        goto done;
    }
    conf->campaigns = strcmp(v, "on") == 0;
    /* the key ring is process-wide: every thread seals with it */
    if (conf->encryption_key_file[0] != '\0'
        && bc_crypt_ring_load(bc_crypt_default(), conf->encryption_key_file,
                              err, sizeof(err)) != 0)
    {
        snd_log(SND_LOG_ERR, "config: encryption_key_file: %s", err);
        goto done;
    }
    rc = 0;

done:
    bc_conf_free(&cf);
    if (rc != 0) {
        snd_conf_free(conf);
    }
    return rc;
}

void
snd_conf_free(snd_conf_t *conf)
{
    snd_secret_free(&conf->twilio_auth_token);
    snd_secret_free(&conf->meta_access_token);
    snd_secret_free(&conf->sendgrid_api_key);
    memset(conf->db.password, 0, sizeof(conf->db.password));
    memset(conf->replica.password, 0, sizeof(conf->replica.password));
}

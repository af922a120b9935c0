/*
 * The sender's configuration file (docs/DESIGN.md "Sender configuration").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_conf.h"
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

int
snd_conf_load(snd_conf_t *conf, const char *path)
{
    bc_conf_t    cf;
    char         err[512], *secret, *end;
    const char  *v;
    long         n;
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

    v = bc_conf_get(&cf, "redis", "127.0.0.1:6379");
    if (bc_redis_conf_parse(&conf->redis, v, strlen(v)) != 0) {
        snd_log(SND_LOG_ERR, "config: bad redis \"%s\"", v);
        goto done;
    }
    conf->redis.timeout_ms = 5000;

    if (snd_copy(conf->db.host, sizeof(conf->db.host),
            bc_conf_get(&cf, "mysql_host", ""), "mysql_host") != 0
        || snd_copy(conf->db.socket, sizeof(conf->db.socket),
            bc_conf_get(&cf, "mysql_socket", ""), "mysql_socket") != 0
        || snd_copy(conf->db.user, sizeof(conf->db.user),
            bc_conf_get(&cf, "mysql_user", "broadcast"), "mysql_user") != 0
        || snd_copy(conf->db.database, sizeof(conf->db.database),
            bc_conf_get(&cf, "mysql_database", "broadcast"),
            "mysql_database") != 0
        || snd_copy(conf->consumer, sizeof(conf->consumer),
            bc_conf_get(&cf, "consumer", "sender-1"), "consumer") != 0
        || snd_copy(conf->public_url, sizeof(conf->public_url),
            bc_conf_get(&cf, "public_url", ""), "public_url") != 0
        || snd_copy(conf->twilio_api_base, sizeof(conf->twilio_api_base),
            bc_conf_get(&cf, "twilio_api_base", "https://api.twilio.com"),
            "twilio_api_base") != 0
        || snd_copy(conf->twilio_account_sid,
            sizeof(conf->twilio_account_sid),
            bc_conf_get(&cf, "twilio_account_sid", ""),
            "twilio_account_sid") != 0
        || snd_copy(conf->pidfile, sizeof(conf->pidfile),
            bc_conf_get(&cf, "pidfile", ""), "pidfile") != 0)
    {
        goto done;
    }
    if (conf->db.host[0] == '\0' && conf->db.socket[0] == '\0') {
        strcpy(conf->db.host, "127.0.0.1");
    }
    /* trailing slashes would double in URLs */
    n = (long) strlen(conf->public_url);
    while (n > 0 && conf->public_url[n - 1] == '/') {
        conf->public_url[--n] = '\0';
    }
    n = (long) strlen(conf->twilio_api_base);
    while (n > 0 && conf->twilio_api_base[n - 1] == '/') {
        conf->twilio_api_base[--n] = '\0';
    }

    if (snd_num(&cf, "mysql_port", "3306", 1, 65535, &n) != 0) {
        goto done;
    }
    conf->db.port = (unsigned) n;
    conf->db.connect_timeout = 3;
    conf->db.rw_timeout = 30;

    v = bc_conf_get(&cf, "mysql_password_file", "");
    if (v[0] != '\0') {
        secret = bc_read_secret_file(v, err, sizeof(err));
        if (secret == NULL) {
            snd_log(SND_LOG_ERR, "config: %s", err);
            goto done;
        }
        n = snd_copy(conf->db.password, sizeof(conf->db.password), secret,
            "mysql password");
        memset(secret, 0, strlen(secret));
        free(secret);
        if (n != 0) {
            goto done;
        }
    }

    v = bc_conf_get(&cf, "twilio_auth_token_file", "");
    if (v[0] == '\0' || conf->twilio_account_sid[0] == '\0') {
        snd_log(SND_LOG_ERR, "config: twilio_account_sid and "
            "twilio_auth_token_file are required");
        goto done;
    }
    conf->twilio_auth_token = bc_read_secret_file(v, err, sizeof(err));
    if (conf->twilio_auth_token == NULL) {
        snd_log(SND_LOG_ERR, "config: %s", err);
        goto done;
    }
    if (conf->public_url[0] == '\0') {
        snd_log(SND_LOG_ERR, "config: public_url is required");
        goto done;
    }

    if (snd_num(&cf, "max_inflight", "256", 1, 10000, &n) != 0) {
        goto done;
    }
    conf->max_inflight = (int) n;
    if (snd_num(&cf, "max_attempts", "8", 1, 1000, &n) != 0) {
        goto done;
    }
    conf->max_attempts = (int) n;
    if (snd_num(&cf, "reclaim_idle_ms", "30000", 1000, 86400000, &n) != 0) {
        goto done;
    }
    conf->reclaim_idle_ms = n;
    /* reconcile lookups: Twilio allows up to 1,000 messages per page */
    if (snd_num(&cf, "twilio_list_page_size", "1000", 1, 1000, &n) != 0) {
        goto done;
    }
    conf->twilio_list_page_size = n;
    if (snd_num(&cf, "request_timeout_ms", "10000", 100, 600000, &n) != 0) {
        goto done;
    }
    conf->request_timeout_ms = n;

    /* Meta (optional: without a token, Meta jobs fail as not configured) */
    if (snd_copy(conf->meta_graph_base, sizeof(conf->meta_graph_base),
            bc_conf_get(&cf, "meta_graph_base",
                "https://graph.facebook.com/v21.0"), "meta_graph_base") != 0
        || snd_copy(conf->sendgrid_api_base,
            sizeof(conf->sendgrid_api_base),
            bc_conf_get(&cf, "sendgrid_api_base", "https://api.sendgrid.com"),
            "sendgrid_api_base") != 0)
    {
        goto done;
    }
    snd_trim_slashes(conf->meta_graph_base);
    snd_trim_slashes(conf->sendgrid_api_base);
    v = bc_conf_get(&cf, "meta_access_token_file", "");
    if (v[0] != '\0') {
        conf->meta_access_token = bc_read_secret_file(v, err, sizeof(err));
        if (conf->meta_access_token == NULL) {
            snd_log(SND_LOG_ERR, "config: %s", err);
            goto done;
        }
    }
    v = bc_conf_get(&cf, "sendgrid_api_key_file", "");
    if (v[0] != '\0') {
        conf->sendgrid_api_key = bc_read_secret_file(v, err, sizeof(err));
        if (conf->sendgrid_api_key == NULL) {
            snd_log(SND_LOG_ERR, "config: %s", err);
            goto done;
        }
    }
    if (snd_num(&cf, "sendgrid_batch_max", "1000", 1, 1000, &n) != 0) {
        goto done;
    }
    conf->sendgrid_batch_max = (int) n;
    v = bc_conf_get(&cf, "meta_rate_per_sender", "80");
    conf->meta_rate_per_sender = strtod(v, &end);
    if (*v == '\0' || *end != '\0' || conf->meta_rate_per_sender < 0) {
        snd_log(SND_LOG_ERR, "config: bad meta_rate_per_sender \"%s\"", v);
        goto done;
    }

    v = bc_conf_get(&cf, "rate_per_sender", "0");
    conf->rate_per_sender = strtod(v, &end);
    if (*v == '\0' || *end != '\0' || conf->rate_per_sender < 0) {
        snd_log(SND_LOG_ERR, "config: bad rate_per_sender \"%s\"", v);
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
}

/*
 * broadcast-sim: a provider simulator standing in for Twilio.
 *
 *   broadcast-sim --port N --state-dir DIR [--callback-delay-ms N]
 *       [--fail-ratio F] [--undelivered-ratio F] [--rate-per-sender N]
 *       [--latency-ms N] [--error-ratio F] [--callback-retries N]
 *       [--account-sid AC...] [--auth-token T]
 *
 * Writes DIR/sim.env (credentials, mode 600) and DIR/sim.pid, serves on
 * 127.0.0.1:N until SIGTERM/SIGINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "bc_sig.h"
#include "sim.h"

char  sim_meta_access_token[128];
char  sim_meta_app_secret[128];
char  sim_meta_verify_token[128];
char  sim_meta_phone_number_id[32];
char  sim_meta_display_phone[32];
char  sim_meta_waba_id[32];
char  sim_sendgrid_api_key[160];
char  sim_sg_pub[256];
char  sim_sg_priv[512];
void *sim_sg_key;
char  sim_whatsapp_from[64] = "whatsapp:+14155238886";
char  sim_sendgrid_from[128] = "noreply@example.com";
char  sim_webhook_base[512];
char  sim_meta_webhook_url[600];
char  sim_sendgrid_webhook_url[600];

char sim_account_sid[SIM_SID_LEN + 1];
char sim_auth_token[128];
char sim_base_url[64];

static pthread_mutex_t opts_lock = PTHREAD_MUTEX_INITIALIZER;
static sim_opts_t      opts = {
    .callback_delay_ms = 20,
    .callback_retries = 1,
    .whatsapp_window = 1,
    .whatsapp_read = 1,
    .meta_rate = 80,
    .sg_rate = 10000,
    .sg_batch = 100,
};

void
sim_opts_get(sim_opts_t *out)
{
    pthread_mutex_lock(&opts_lock);
    *out = opts;
    pthread_mutex_unlock(&opts_lock);
}

void
sim_opts_set(const sim_opts_t *in)
{
    pthread_mutex_lock(&opts_lock);
    opts = *in;
    pthread_mutex_unlock(&opts_lock);
}

static void
usage(FILE *f)
{
    fprintf(f,
        "usage: broadcast-sim --port N --state-dir DIR [--callback-delay-ms N]\n"
        "         [--fail-ratio F] [--undelivered-ratio F] [--rate-per-sender N]\n"
        "         [--latency-ms N] [--error-ratio F] [--callback-retries N]\n"
        "         [--account-sid AC...] [--auth-token T]\n"
        "         [--webhook-base URL] [--meta-webhook-url URL]\n"
        "         [--sendgrid-webhook-url URL] [--whatsapp-window on|off]\n"
        "         [--whatsapp-read on|off] [--meta-rate N]\n"
        "         [--sendgrid-bounce-ratio F] [--sendgrid-dropped-ratio F]\n"
        "         [--sendgrid-deferred-ratio F] [--sendgrid-batch N]\n"
        "         [--meta-access-token T] [--meta-app-secret S]\n"
        "         [--meta-verify-token T] [--meta-phone-number-id N]\n"
        "         [--meta-display-phone-number N] [--meta-waba-id N]\n"
        "         [--sendgrid-api-key K] [--sendgrid-webhook-public-key B64]\n"
        "         [--sendgrid-webhook-private-key B64]\n"
        "         [--twilio-whatsapp-from whatsapp:+E164]\n"
        "         [--sendgrid-from-email ADDR]\n");
}

static int
parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long  v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

static int
parse_ratio(const char *s, double *out)
{
    char  *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0.0 && v <= 1.0)) {
        return -1;
    }
    *out = v;
    return 0;
}

static int
parse_onoff(const char *s, int *out)
{
    if (strcmp(s, "on") == 0 || strcmp(s, "1") == 0) {
        *out = 1;
    } else if (strcmp(s, "off") == 0 || strcmp(s, "0") == 0) {
        *out = 0;
    } else {
        return -1;
    }
    return 0;
}

static int
set_str(char *dst, size_t cap, const char *v)
{
    size_t l = strlen(v);

    if (l == 0 || l >= cap || strpbrk(v, "\r\n") != NULL) {
        return -1;
    }
    memcpy(dst, v, l + 1);
    return 0;
}

static int
all_digits(const char *s, size_t n)
{
    size_t i;

    for (i = 0; s[i]; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return i == n || (n == 0 && i > 0);
}

static int
rand_digits(char *out, size_t n)
{
    char   hex[64];
    size_t i;

    if (n >= sizeof(hex) / 2 || sim_rand_hex(hex, 2 * n) != 0) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        unsigned v = (unsigned) strtoul((char[]){hex[2 * i], hex[2 * i + 1],
            0}, NULL, 16);
        out[i] = (char) ('0' + v % 10);
    }
    if (out[0] == '0') {
        out[0] = '1';
    }
    out[n] = '\0';
    return 0;
}

/* fills in every credential not given on the command line */
static int
gen_creds(void)
{
    char t[100];

    if (!sim_meta_access_token[0]) {
        if (bc_random_token("EAAG", t, sizeof(t)) != 0) {
            return -1;
        }
        snprintf(sim_meta_access_token, sizeof(sim_meta_access_token),
            "%s", t);
    }
    if (!sim_meta_app_secret[0]
        && sim_rand_hex(sim_meta_app_secret, 32) != 0)
    {
        return -1;
    }
    if (!sim_meta_verify_token[0]) {
        if (bc_random_token("", t, sizeof(t)) != 0) {
            return -1;
        }
        snprintf(sim_meta_verify_token, sizeof(sim_meta_verify_token),
            "%s", t);
    }
    if (!sim_meta_phone_number_id[0]
        && rand_digits(sim_meta_phone_number_id, 15) != 0)
    {
        return -1;
    }
    if (!sim_meta_waba_id[0] && rand_digits(sim_meta_waba_id, 15) != 0) {
        return -1;
    }
    if (!sim_meta_display_phone[0]) {
        memcpy(sim_meta_display_phone, "1555", 4);
        if (rand_digits(sim_meta_display_phone + 4, 7) != 0) {
            return -1;
        }
    }
    if (!sim_sendgrid_api_key[0]) {
        char a[48], b[48];
        if (bc_random_token("", a, sizeof(a)) != 0
            || bc_random_token("", b, sizeof(b)) != 0)
        {
            return -1;
        }
        a[22] = '\0';
        snprintf(sim_sendgrid_api_key, sizeof(sim_sendgrid_api_key),
            "SG.%s.%s", a, b);
    }
    if (!sim_sg_priv[0]) {
        if (bc_sendgrid_keypair_generate(sim_sg_pub, sizeof(sim_sg_pub),
                sim_sg_priv, sizeof(sim_sg_priv)) != 0)
        {
            return -1;
        }
    }
    return 0;
}

static int
write_file(const char *path, const char *content, mode_t mode)
{
    char tmp[4200];
    int  fd;
    size_t len = strlen(content);

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        return -1;
    }
    if (fchmod(fd, mode) != 0 || write(fd, content, len) != (ssize_t) len) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"port", required_argument, NULL, 'p'},
        {"state-dir", required_argument, NULL, 'd'},
        {"callback-delay-ms", required_argument, NULL, 'c'},
        {"fail-ratio", required_argument, NULL, 'f'},
        {"undelivered-ratio", required_argument, NULL, 'u'},
        {"rate-per-sender", required_argument, NULL, 'r'},
        {"latency-ms", required_argument, NULL, 'l'},
        {"error-ratio", required_argument, NULL, 'e'},
        {"callback-retries", required_argument, NULL, 'R'},
        {"account-sid", required_argument, NULL, 'a'},
        {"auth-token", required_argument, NULL, 't'},
        {"webhook-base", required_argument, NULL, 1000},
        {"meta-webhook-url", required_argument, NULL, 1001},
        {"sendgrid-webhook-url", required_argument, NULL, 1002},
        {"whatsapp-window", required_argument, NULL, 1003},
        {"whatsapp-read", required_argument, NULL, 1004},
        {"meta-rate", required_argument, NULL, 1005},
        {"sendgrid-bounce-ratio", required_argument, NULL, 1006},
        {"sendgrid-dropped-ratio", required_argument, NULL, 1007},
        {"sendgrid-deferred-ratio", required_argument, NULL, 1008},
        {"sendgrid-batch", required_argument, NULL, 1009},
        {"meta-access-token", required_argument, NULL, 1010},
        {"meta-app-secret", required_argument, NULL, 1011},
        {"meta-verify-token", required_argument, NULL, 1012},
        {"meta-phone-number-id", required_argument, NULL, 1013},
        {"meta-display-phone-number", required_argument, NULL, 1014},
        {"meta-waba-id", required_argument, NULL, 1015},
        {"sendgrid-api-key", required_argument, NULL, 1016},
        {"sendgrid-webhook-public-key", required_argument, NULL, 1017},
        {"sendgrid-webhook-private-key", required_argument, NULL, 1018},
        {"twilio-whatsapp-from", required_argument, NULL, 1019},
        {"sendgrid-from-email", required_argument, NULL, 1020},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}
    };
    long        port = 0, v;
    const char *state_dir = NULL, *sid = NULL, *token = NULL;
    char        path[4096], buf[8192], err[200];
    sigset_t    set;
    int         ch, sig, rc = 1;
    sim_opts_t  o;

    sim_opts_get(&o);
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'p': bad = parse_long(optarg, 1, 65535, &port); break;
        case 'd': state_dir = optarg; break;
        case 'c':
            bad = parse_long(optarg, 0, 3600000, &v);
            o.callback_delay_ms = v;
            break;
        case 'f': bad = parse_ratio(optarg, &o.fail_ratio); break;
        case 'u': bad = parse_ratio(optarg, &o.undelivered_ratio); break;
        case 'r':
            bad = parse_long(optarg, 0, 1000000000, &v);
            o.rate_per_sender = v;
            break;
        case 'l':
            bad = parse_long(optarg, 0, 600000, &v);
            o.latency_ms = v;
            break;
        case 'e': bad = parse_ratio(optarg, &o.error_ratio); break;
        case 'R':
            bad = parse_long(optarg, 0, 5, &v);
            o.callback_retries = v;
            break;
        case 'a': sid = optarg; break;
        case 't': token = optarg; break;
        case 1000:
            bad = set_str(sim_webhook_base, sizeof(sim_webhook_base), optarg);
            break;
        case 1001:
            bad = set_str(sim_meta_webhook_url, sizeof(sim_meta_webhook_url),
                optarg);
            break;
        case 1002:
            bad = set_str(sim_sendgrid_webhook_url,
                sizeof(sim_sendgrid_webhook_url), optarg);
            break;
        case 1003: bad = parse_onoff(optarg, &o.whatsapp_window); break;
        case 1004: bad = parse_onoff(optarg, &o.whatsapp_read); break;
        case 1005:
            bad = parse_long(optarg, 0, 1000000000, &v);
            o.meta_rate = v;
            break;
        case 1006: bad = parse_ratio(optarg, &o.sg_bounce_ratio); break;
        case 1007: bad = parse_ratio(optarg, &o.sg_dropped_ratio); break;
        case 1008: bad = parse_ratio(optarg, &o.sg_deferred_ratio); break;
        case 1009:
            bad = parse_long(optarg, 1, 10000, &v);
            o.sg_batch = v;
            break;
        case 1010:
            bad = set_str(sim_meta_access_token,
                sizeof(sim_meta_access_token), optarg);
            break;
        case 1011:
            bad = set_str(sim_meta_app_secret, sizeof(sim_meta_app_secret),
                optarg);
            break;
        case 1012:
            bad = set_str(sim_meta_verify_token,
                sizeof(sim_meta_verify_token), optarg);
            break;
        case 1013:
            bad = set_str(sim_meta_phone_number_id,
                sizeof(sim_meta_phone_number_id), optarg)
                || !all_digits(optarg, 0);
            break;
        case 1014:
            bad = set_str(sim_meta_display_phone,
                sizeof(sim_meta_display_phone), optarg)
                || !all_digits(optarg, 0);
            break;
        case 1015:
            bad = set_str(sim_meta_waba_id, sizeof(sim_meta_waba_id), optarg)
                || !all_digits(optarg, 0);
            break;
        case 1016:
            bad = set_str(sim_sendgrid_api_key, sizeof(sim_sendgrid_api_key),
                optarg);
            break;
        case 1017:
            bad = set_str(sim_sg_pub, sizeof(sim_sg_pub), optarg);
            break;
        case 1018:
            bad = set_str(sim_sg_priv, sizeof(sim_sg_priv), optarg);
            break;
        case 1019:
            bad = set_str(sim_whatsapp_from, sizeof(sim_whatsapp_from),
                optarg) || strncmp(optarg, "whatsapp:+", 10) != 0;
            break;
        case 1020:
            bad = set_str(sim_sendgrid_from, sizeof(sim_sendgrid_from),
                optarg);
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad) {
            fprintf(stderr, "broadcast-sim: invalid option value: %s\n",
                optarg);
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || port == 0 || state_dir == NULL) {
        usage(stderr);
        return 2;
    }
    if (sid != NULL) {
        if (strlen(sid) != SIM_SID_LEN || strncmp(sid, "AC", 2) != 0) {
            fprintf(stderr, "broadcast-sim: --account-sid must be AC + 32 "
                "hex\n");
            return 2;
        }
        memcpy(sim_account_sid, sid, SIM_SID_LEN + 1);
    } else {
        sim_account_sid[0] = 'A';
        sim_account_sid[1] = 'C';
        if (sim_rand_hex(sim_account_sid + 2, 32) != 0) {
            fprintf(stderr, "broadcast-sim: RAND_bytes failed\n");
            return 1;
        }
    }
    if (token != NULL) {
        if (strlen(token) == 0 || strlen(token) >= sizeof(sim_auth_token)) {
            fprintf(stderr, "broadcast-sim: bad --auth-token\n");
            return 2;
        }
        strcpy(sim_auth_token, token);
    } else if (sim_rand_hex(sim_auth_token, SIM_TOKEN_LEN) != 0) {
        fprintf(stderr, "broadcast-sim: RAND_bytes failed\n");
        return 1;
    }
    snprintf(sim_base_url, sizeof(sim_base_url), "http://127.0.0.1:%ld",
        port);
    if ((sim_sg_priv[0] != 0) != (sim_sg_pub[0] != 0)) {
        fprintf(stderr, "broadcast-sim: give both --sendgrid-webhook-public-key"
            " and --sendgrid-webhook-private-key, or neither\n");
        return 2;
    }
    if (gen_creds() != 0) {
        fprintf(stderr, "broadcast-sim: cannot generate credentials\n");
        return 1;
    }
    sim_sg_key = bc_sendgrid_private_key_load(sim_sg_priv,
        strlen(sim_sg_priv), err, sizeof(err));
    if (sim_sg_key == NULL) {
        fprintf(stderr, "broadcast-sim: SendGrid private key: %s\n", err);
        return 2;
    }
    {
        /* the public key must match the private one */
        void *pk = bc_sendgrid_key_load(sim_sg_pub, strlen(sim_sg_pub), err,
            sizeof(err));
        char  sig[120];
        int   ok = pk != NULL
                   && bc_sendgrid_sign(sim_sg_key, "1", 1, "x", 1, sig,
                          sizeof(sig)) == 0
                   && bc_sendgrid_verify(pk, "1", 1, "x", 1, sig,
                          strlen(sig)) == 1;
        bc_sendgrid_key_free(pk);
        if (!ok) {
            fprintf(stderr, "broadcast-sim: the SendGrid webhook public key"
                " does not match the private key\n");
            bc_sendgrid_key_free(sim_sg_key);
            return 2;
        }
    }
    if (sim_webhook_base[0]) {
        size_t l = strlen(sim_webhook_base);
        if (sim_webhook_base[l - 1] == '/') {
            sim_webhook_base[l - 1] = '\0';
        }
        if (!sim_meta_webhook_url[0]) {
            snprintf(sim_meta_webhook_url, sizeof(sim_meta_webhook_url),
                "%s/webhooks/meta", sim_webhook_base);
        }
        if (!sim_sendgrid_webhook_url[0]) {
            snprintf(sim_sendgrid_webhook_url,
                sizeof(sim_sendgrid_webhook_url),
                "%s/webhooks/sendgrid/events", sim_webhook_base);
        }
    }
    sim_opts_set(&o);

    /* every thread inherits the blocked set; main waits with sigwait */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "broadcast-sim: curl_global_init failed\n");
        return 1;
    }
    if (sim_store_init() != 0 || sim_prov_init() != 0) {
        sim_log("out of memory");
        goto out_curl;
    }
    if (sim_cb_start() != 0) {
        sim_log("cannot start the callback thread");
        goto out_store;
    }
    if (sim_http_start((unsigned short) port) != 0) {
        sim_log("cannot listen on 127.0.0.1:%ld: %s", port, strerror(errno));
        goto out_cb;
    }

    snprintf(path, sizeof(path), "%s/sim.env", state_dir);
    snprintf(buf, sizeof(buf),
        "TWILIO_ACCOUNT_SID=%s\nTWILIO_AUTH_TOKEN=%s\n"
        "TWILIO_SMS_FROM=+15005550006\nSIM_URL=%s\n"
        "TWILIO_WHATSAPP_FROM=%s\n"
        "META_ACCESS_TOKEN=%s\nMETA_APP_SECRET=%s\nMETA_VERIFY_TOKEN=%s\n"
        "META_PHONE_NUMBER_ID=%s\nMETA_DISPLAY_PHONE_NUMBER=%s\n"
        "META_WABA_ID=%s\nMETA_API_VERSION=v21.0\n"
        "SENDGRID_API_KEY=%s\nSENDGRID_FROM_EMAIL=%s\n"
        "SENDGRID_WEBHOOK_PUBLIC_KEY=%s\nSENDGRID_WEBHOOK_PRIVATE_KEY=%s\n",
        sim_account_sid, sim_auth_token, sim_base_url, sim_whatsapp_from,
        sim_meta_access_token, sim_meta_app_secret, sim_meta_verify_token,
        sim_meta_phone_number_id, sim_meta_display_phone, sim_meta_waba_id,
        sim_sendgrid_api_key, sim_sendgrid_from, sim_sg_pub, sim_sg_priv);
    if (write_file(path, buf, 0600) != 0) {
        sim_log("cannot write %s: %s", path, strerror(errno));
        goto out_http;
    }
    snprintf(path, sizeof(path), "%s/sim.pid", state_dir);
    snprintf(buf, sizeof(buf), "%ld\n", (long) getpid());
    if (write_file(path, buf, 0644) != 0) {
        sim_log("cannot write %s: %s", path, strerror(errno));
        goto out_http;
    }
    sim_log("listening on %s account %s (callback delay %ldms, retries %ld)",
        sim_base_url, sim_account_sid, o.callback_delay_ms,
        o.callback_retries);

    for (;;) {
        if (sigwait(&set, &sig) == 0) {
            break;
        }
    }
    sim_log("signal %d, shutting down", sig);
    rc = 0;
    unlink(path);

out_http:
    sim_http_quiesce();
    sim_cb_stop();
    sim_http_stop();
out_cb:
    sim_cb_stop();
out_store:
    sim_prov_free();
    sim_store_free();
    bc_sendgrid_key_free(sim_sg_key);
    sim_sg_key = NULL;
out_curl:
    curl_global_cleanup();
    if (rc == 0) {
        sim_log("stopped");
    }
    return rc;
}

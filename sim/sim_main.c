/*
 * broadcast-sim: a provider simulator standing in for Twilio, Meta's
 * WhatsApp Cloud API and SendGrid.
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

#define SIM_CLI_NOPTS  (sizeof(cli_table) / sizeof(cli_table[0]))

char  sim_meta_access_token[128];
char  sim_meta_app_secret[128];
char  sim_meta_verify_token[128];
char  sim_meta_phone_number_id[32];
char  sim_meta_display_phone[32];
char  sim_meta_waba_id[32];
char  sim_sendgrid_api_key[160];
char  sim_sendgrid_inbound_auth[160];
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
        "         [--sendgrid-inbound-auth USER:PASSWORD]\n"
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

/* a random token (after prefix) in dst, cut to its size, unless dst was
   given */
static int
token_once(char *dst, size_t size, const char *prefix)
{
    char t[100];

    if (dst[0]) {
        return 0;
    }
    if (bc_random_token(prefix, t, sizeof(t)) != 0) {
        return -1;
    }
    snprintf(dst, size, "%s", t);
    return 0;
}

/* fills in every credential not given on the command line */
static int
gen_creds(void)
{
    if (token_once(sim_meta_access_token, sizeof(sim_meta_access_token),
            "EAAG") != 0)
    {
        return -1;
    }
    if (!sim_meta_app_secret[0]
        && sim_rand_hex(sim_meta_app_secret, 32) != 0)
    {
        return -1;
    }
    if (token_once(sim_meta_verify_token, sizeof(sim_meta_verify_token), "")
        != 0)
    {
        return -1;
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
    if (!sim_sendgrid_inbound_auth[0]) {
        char a[48];
        if (bc_random_token("", a, sizeof(a)) != 0) {
            return -1;
        }
        snprintf(sim_sendgrid_inbound_auth, sizeof(sim_sendgrid_inbound_auth),
            "parse:%s", a);
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

/* ---- the command line: one row per option ---- */

typedef enum {
    OPT_LONG,          /* a long within lo..hi */
    OPT_RATIO,         /* a double within 0..1 */
    OPT_ONOFF,         /* an int: on|1 or off|0 */
    OPT_STR,           /* a string copied into a buffer of cap bytes */
    OPT_DIGITS,        /* the same, digits only */
    OPT_WA_FROM,       /* the same, "whatsapp:+..." */
    OPT_ARG            /* the argument itself, as a const char * */
} cli_kind_t;

typedef struct {
    const char *name;
    cli_kind_t  kind;
    void       *target;
    size_t      cap;
    long        lo, hi;
} cli_opt_t;

/* what the command line gives; cli_opts starts as the defaults */
static sim_opts_t   cli_opts;
static long         cli_port;
static const char  *cli_state_dir, *cli_sid, *cli_token;

#define CLI_BUF(name, kind, buf)  { name, kind, buf, sizeof(buf), 0, 0 }

static const cli_opt_t cli_table[] = {
    { "port", OPT_LONG, &cli_port, 0, 1, 65535 },
    { "state-dir", OPT_ARG, &cli_state_dir, 0, 0, 0 },
    { "callback-delay-ms", OPT_LONG, &cli_opts.callback_delay_ms, 0, 0,
      3600000 },
    { "fail-ratio", OPT_RATIO, &cli_opts.fail_ratio, 0, 0, 0 },
    { "undelivered-ratio", OPT_RATIO, &cli_opts.undelivered_ratio, 0, 0, 0 },
    { "rate-per-sender", OPT_LONG, &cli_opts.rate_per_sender, 0, 0,
      1000000000 },
    { "latency-ms", OPT_LONG, &cli_opts.latency_ms, 0, 0, 600000 },
    { "error-ratio", OPT_RATIO, &cli_opts.error_ratio, 0, 0, 0 },
    { "callback-retries", OPT_LONG, &cli_opts.callback_retries, 0, 0, 5 },
    { "account-sid", OPT_ARG, &cli_sid, 0, 0, 0 },
    { "auth-token", OPT_ARG, &cli_token, 0, 0, 0 },
    CLI_BUF("webhook-base", OPT_STR, sim_webhook_base),
    CLI_BUF("meta-webhook-url", OPT_STR, sim_meta_webhook_url),
    CLI_BUF("sendgrid-webhook-url", OPT_STR, sim_sendgrid_webhook_url),
    { "whatsapp-window", OPT_ONOFF, &cli_opts.whatsapp_window, 0, 0, 0 },
    { "whatsapp-read", OPT_ONOFF, &cli_opts.whatsapp_read, 0, 0, 0 },
    { "meta-rate", OPT_LONG, &cli_opts.meta_rate, 0, 0, 1000000000 },
    { "sendgrid-bounce-ratio", OPT_RATIO, &cli_opts.sg_bounce_ratio, 0, 0,
      0 },
    { "sendgrid-dropped-ratio", OPT_RATIO, &cli_opts.sg_dropped_ratio, 0, 0,
      0 },
    { "sendgrid-deferred-ratio", OPT_RATIO, &cli_opts.sg_deferred_ratio, 0,
      0, 0 },
    { "sendgrid-batch", OPT_LONG, &cli_opts.sg_batch, 0, 1, 10000 },
    CLI_BUF("meta-access-token", OPT_STR, sim_meta_access_token),
    CLI_BUF("meta-app-secret", OPT_STR, sim_meta_app_secret),
    CLI_BUF("meta-verify-token", OPT_STR, sim_meta_verify_token),
    CLI_BUF("meta-phone-number-id", OPT_DIGITS, sim_meta_phone_number_id),
    CLI_BUF("meta-display-phone-number", OPT_DIGITS, sim_meta_display_phone),
    CLI_BUF("meta-waba-id", OPT_DIGITS, sim_meta_waba_id),
    CLI_BUF("sendgrid-api-key", OPT_STR, sim_sendgrid_api_key),
    CLI_BUF("sendgrid-inbound-auth", OPT_STR, sim_sendgrid_inbound_auth),
    CLI_BUF("sendgrid-webhook-public-key", OPT_STR, sim_sg_pub),
    CLI_BUF("sendgrid-webhook-private-key", OPT_STR, sim_sg_priv),
    CLI_BUF("twilio-whatsapp-from", OPT_WA_FROM, sim_whatsapp_from),
    CLI_BUF("sendgrid-from-email", OPT_STR, sim_sendgrid_from),
};

#define CLI_HELP  (-2)

/* 0 if arg is a valid value for opt (and stored), -1 if not */
static int
cli_set(const cli_opt_t *opt, const char *arg)
{
    switch (opt->kind) {
    case OPT_LONG:
        return parse_long(arg, opt->lo, opt->hi, opt->target);
    case OPT_RATIO:
        return parse_ratio(arg, opt->target);
    case OPT_ONOFF:
        return parse_onoff(arg, opt->target);
    case OPT_STR:
        return set_str(opt->target, opt->cap, arg);
    case OPT_DIGITS:
        return set_str(opt->target, opt->cap, arg) || !all_digits(arg, 0)
               ? -1 : 0;
    case OPT_WA_FROM:
        return set_str(opt->target, opt->cap, arg)
               || strncmp(arg, BC_WA_PREFIX "+", BC_WA_PREFIX_LEN + 1) != 0
               ? -1 : 0;
    case OPT_ARG:
        *(const char **) opt->target = arg;
        return 0;
    }
    return -1;
}

/* 0, CLI_HELP, or the exit status of a bad command line (usage given) */
static int
cli_parse(int argc, char **argv)
{
    struct option  lo[SIM_CLI_NOPTS + 2];
    size_t         i;
    int            ch;

    for (i = 0; i < SIM_CLI_NOPTS; i++) {
        lo[i].name = cli_table[i].name;
        lo[i].has_arg = required_argument;
        lo[i].flag = NULL;
        lo[i].val = (int) (1000 + i);
    }
    lo[i] = (struct option) {"help", no_argument, NULL, 'h'};
    lo[i + 1] = (struct option) {NULL, 0, NULL, 0};

    sim_opts_get(&cli_opts);
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (ch == 'h') {
            usage(stdout);
            return CLI_HELP;
        }
        if (ch < 1000 || ch >= 1000 + (int) SIM_CLI_NOPTS) {
            usage(stderr);
            return 2;
        }
        if (cli_set(&cli_table[ch - 1000], optarg) != 0) {
            fprintf(stderr, "broadcast-sim: invalid option value: %s\n",
                optarg);
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || cli_port == 0 || cli_state_dir == NULL) {
        usage(stderr);
        return 2;
    }
    return 0;
}

/*
 * The account, token and keys: given or generated, checked; the webhook
 * URLs derived from --webhook-base. 0, or the exit status.
 */
static int
setup_identity(void)
{
    char err[200];

    if (cli_sid != NULL) {
        if (strlen(cli_sid) != SIM_SID_LEN || strncmp(cli_sid, "AC", 2) != 0)
        {
            fprintf(stderr, "broadcast-sim: --account-sid must be AC + 32 "
                "hex\n");
            return 2;
        }
        memcpy(sim_account_sid, cli_sid, SIM_SID_LEN + 1);
    } else {
        sim_account_sid[0] = 'A';
        sim_account_sid[1] = 'C';
        if (sim_rand_hex(sim_account_sid + 2, 32) != 0) {
            fprintf(stderr, "broadcast-sim: RAND_bytes failed\n");
            return 1;
        }
    }
    if (cli_token != NULL) {
        if (strlen(cli_token) == 0
            || strlen(cli_token) >= sizeof(sim_auth_token))
        {
            fprintf(stderr, "broadcast-sim: bad --auth-token\n");
            return 2;
        }
        strcpy(sim_auth_token, cli_token);
    } else if (sim_rand_hex(sim_auth_token, SIM_TOKEN_LEN) != 0) {
        fprintf(stderr, "broadcast-sim: RAND_bytes failed\n");
        return 1;
    }
    snprintf(sim_base_url, sizeof(sim_base_url), "http://127.0.0.1:%ld",
        cli_port);
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
    return 0;
}

int
main(int argc, char **argv)
{
    char        path[4096], buf[8192];
    sigset_t    set;
    int         sig, rc = 1;
    sim_opts_t  o;

    rc = cli_parse(argc, argv);
    if (rc != 0) {
        return rc == CLI_HELP ? 0 : rc;
    }
    rc = setup_identity();
    if (rc != 0) {
        return rc;
    }
    rc = 1;
    o = cli_opts;
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
    if (sim_store_init() != 0) {
        sim_log("out of memory");
        goto out_curl;
    }
    if (sim_cb_start() != 0) {
        sim_log("cannot start the callback thread");
        goto out_store;
    }
    if (sim_http_start((unsigned short) cli_port) != 0) {
        sim_log("cannot listen on 127.0.0.1:%ld: %s", cli_port,
            strerror(errno));
        goto out_cb;
    }

    snprintf(path, sizeof(path), "%s/sim.env", cli_state_dir);
    snprintf(buf, sizeof(buf),
        "TWILIO_ACCOUNT_SID=%s\nTWILIO_AUTH_TOKEN=%s\n"
        "TWILIO_SMS_FROM=" SIM_DEFAULT_FROM "\nSIM_URL=%s\n"
        "TWILIO_WHATSAPP_FROM=%s\n"
        "META_ACCESS_TOKEN=%s\nMETA_APP_SECRET=%s\nMETA_VERIFY_TOKEN=%s\n"
        "META_PHONE_NUMBER_ID=%s\nMETA_DISPLAY_PHONE_NUMBER=%s\n"
        "META_WABA_ID=%s\nMETA_API_VERSION=v21.0\n"
        "SENDGRID_API_KEY=%s\nSENDGRID_FROM_EMAIL=%s\n"
        "SENDGRID_WEBHOOK_PUBLIC_KEY=%s\nSENDGRID_WEBHOOK_PRIVATE_KEY=%s\n"
        "SENDGRID_INBOUND_AUTH=%s\n",
        sim_account_sid, sim_auth_token, sim_base_url, sim_whatsapp_from,
        sim_meta_access_token, sim_meta_app_secret, sim_meta_verify_token,
        sim_meta_phone_number_id, sim_meta_display_phone, sim_meta_waba_id,
        sim_sendgrid_api_key, sim_sendgrid_from, sim_sg_pub, sim_sg_priv,
        sim_sendgrid_inbound_auth);
    if (write_file(path, buf, 0600) != 0) {
        sim_log("cannot write %s: %s", path, strerror(errno));
        goto out_http;
    }
    snprintf(path, sizeof(path), "%s/sim.pid", cli_state_dir);
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
    sim_providers_free();
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

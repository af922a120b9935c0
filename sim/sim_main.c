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

#include "sim.h"

char sim_account_sid[SIM_SID_LEN + 1];
char sim_auth_token[128];
char sim_base_url[64];

static pthread_mutex_t opts_lock = PTHREAD_MUTEX_INITIALIZER;
static sim_opts_t      opts = {
    .callback_delay_ms = 20,
    .callback_retries = 1,
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
        "         [--account-sid AC...] [--auth-token T]\n");
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
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}
    };
    long        port = 0, v;
    const char *state_dir = NULL, *sid = NULL, *token = NULL;
    char        path[4096], buf[1024];
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
    if (sim_http_start((unsigned short) port) != 0) {
        sim_log("cannot listen on 127.0.0.1:%ld: %s", port, strerror(errno));
        goto out_cb;
    }

    snprintf(path, sizeof(path), "%s/sim.env", state_dir);
    snprintf(buf, sizeof(buf),
        "TWILIO_ACCOUNT_SID=%s\nTWILIO_AUTH_TOKEN=%s\n"
        "TWILIO_SMS_FROM=+15005550006\nSIM_URL=%s\n",
        sim_account_sid, sim_auth_token, sim_base_url);
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
    sim_store_free();
out_curl:
    curl_global_cleanup();
    if (rc == 0) {
        sim_log("stopped");
    }
    return rc;
}

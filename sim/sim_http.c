/*
 * broadcast-sim: the HTTP side (libmicrohttpd). Reads each request, hands it
 * to the /sim/ control routes or to the provider whose route table has its
 * path (SIM_PROVIDERS, in order), and queues the answers, held back by the
 * configured latency when asked to.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "bc_sig.h"
#include "sim_http.h"

#define SIM_MAX_BODY   (1024 * 1024)
#define SIM_CTL_PREFIX "/sim/"

#define SIM_PROVIDER_ROW(name)  &sim_provider_##name,

const sim_provider_t *const  sim_providers[] = {
    SIM_PROVIDERS(SIM_PROVIDER_ROW)
};
const size_t  sim_nproviders = SIM_NELTS(sim_providers);

static struct MHD_Daemon *daemon_h;
static _Atomic int        http_stopping;

/* ---- answers ---- */

static enum MHD_Result
queue_h(struct MHD_Connection *c, sim_req_t *r, unsigned status, char *body,
    size_t len, const char *const *headers)
{
    struct MHD_Response *resp;
    enum MHD_Result      ret;
    int                  ct = 0;
    size_t               i;

    resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    for (i = 0; headers != NULL && headers[i] != NULL; i += 2) {
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
        if (strcasecmp(headers[i], "Content-Type") == 0) {
            ct = 1;
        }
    }
    if (!ct) {
        MHD_add_response_header(resp, "Content-Type", "application/json");
    }
    if (r != NULL && !atomic_load(&http_stopping)) {
        sim_opts_t o;
        sim_opts_get(&o);
        if (o.latency_ms > 0) {
            r->resp = resp;
            r->status = status;
            MHD_suspend_connection(c);
            if (sim_cb_schedule_resume(c, o.latency_ms) == 0) {
                return MHD_YES;
            }
            MHD_resume_connection(c);
            r->resp = NULL;
        }
    }
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

int
sim_reply(struct MHD_Connection *c, sim_req_t *r, unsigned status, char *body,
    size_t len, const char *const *headers)
{
    if (body == NULL) {
        body = strdup("");
        if (body == NULL) {
            return MHD_NO;
        }
    }
    return queue_h(c, r, status, body, len, headers);
}

int
sim_reply_json(struct MHD_Connection *c, sim_req_t *r, unsigned status,
    json_t *j, const char *const *headers)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    if (s == NULL) {
        return sim_reply(c, r, 500, strdup("{}"), 2, NULL);
    }
    return sim_reply(c, r, status, s, strlen(s), headers);
}

int
sim_reply_jb(struct MHD_Connection *c, sim_req_t *r, unsigned status,
    jb_t *b)
{
    if (b->oom || b->p == NULL) {
        free(b->p);
        b->p = strdup("{}");
        if (b->p == NULL) {
            return MHD_NO;
        }
        b->len = 2;
        status = 500;
    }
    return queue_h(c, r, status, b->p, b->len, NULL);
}

int
sim_reply_str(struct MHD_Connection *c, unsigned status, const char *s)
{
    char *p = strdup(s);

    if (p == NULL) {
        return MHD_NO;
    }
    return queue_h(c, NULL, status, p, strlen(p), NULL);
}

int
sim_reply_error(struct MHD_Connection *c, unsigned status, const char *e)
{
    return sim_reply_json(c, NULL, status, json_pack("{ss}", "error", e),
        NULL);
}

int
sim_bearer_ok(struct MHD_Connection *c, const char *token)
{
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
        "Authorization");

    if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0) {
        return 0;
    }
    a += 7;
    return bc_ct_equal(a, strlen(a), token, strlen(token));
}

const char *
sim_inbound_url(const char *url, const char *path, char *buf, size_t size)
{
    if (url != NULL) {
        return url;
    }
    if (!sim_webhook_base[0]) {
        return NULL;
    }
    snprintf(buf, size, "%s%s", sim_webhook_base, path);
    return buf;
}

/* ---- dispatch ---- */

static int
route_match(const sim_route_t *rt, const char *url)
{
    return rt->prefix ? strncmp(url, rt->path, rt->path_len) == 0
                      : strcmp(url, rt->path) == 0;
}

static int
dispatch(struct MHD_Connection *c, sim_req_t *r, const char *url,
    const char *method)
{
    const sim_provider_t  *p;
    size_t                 i, k;
    int                    rc;

    if (strncmp(url, SIM_CTL_PREFIX, sizeof(SIM_CTL_PREFIX) - 1) == 0) {
        return sim_ctl_route(c, r, url, method);
    }
    for (i = 0; i < sim_nproviders; i++) {
        p = sim_providers[i];
        for (k = 0; k < p->nroutes; k++) {
            if (!route_match(&p->routes[k], url)) {
                continue;
            }
            rc = p->routes[k].handler(c, r, url, method);
            if (rc != SIM_ROUTE_DECLINED) {
                return rc;
            }
        }
    }
    return sim_twilio_error(c, NULL, 404, 20404,
        "The requested resource was not found");
}

void
sim_providers_free(void)
{
    size_t i;

    for (i = 0; i < sim_nproviders; i++) {
        if (sim_providers[i]->free != NULL) {
            sim_providers[i]->free();
        }
    }
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
    sim_req_t *r = *con_cls;

    (void) cls;
    (void) version;
    if (r == NULL) {
        r = calloc(1, sizeof(*r));
        if (r == NULL) {
            return MHD_NO;
        }
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        if (!r->too_big) {
            if (r->len + n > SIM_MAX_BODY) {
                r->too_big = 1;
            } else {
                if (r->len + n + 1 > r->cap
                    && sim_grow(&r->body, &r->cap, r->len + n + 1, 512) != 0)
                {
                    return MHD_NO;
                }
                memcpy(r->body + r->len, upload_data, n);
                r->len += n;
                r->body[r->len] = '\0';
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->resp != NULL) {
        /* resumed after the simulated latency */
        enum MHD_Result ret = MHD_queue_response(c, r->status, r->resp);
        MHD_destroy_response(r->resp);
        r->resp = NULL;
        return ret;
    }
    if (r->too_big) {
        return sim_twilio_error(c, NULL, 413, 20001,
            "Request body too large");
    }
    return (enum MHD_Result) dispatch(c, r, url, method);
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
    sim_req_t *r = *con_cls;

    (void) cls;
    (void) c;
    (void) toe;
    if (r != NULL) {
        if (r->resp) {
            MHD_destroy_response(r->resp);
        }
        free(r->body);
        free(r);
        *con_cls = NULL;
    }
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];

    (void) cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    sim_log("mhd: %s", buf);
}

int
sim_http_start(unsigned short port)
{
    struct sockaddr_in sa;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    daemon_h = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD
        | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
        port, NULL, NULL, handler, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int) 2,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 8192,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 120,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int) 1024,
        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
        MHD_OPTION_END);
    return daemon_h ? 0 : -1;
}

/* first half of the shutdown: stop accepting, stop suspending */
void
sim_http_quiesce(void)
{
    atomic_store(&http_stopping, 1);
    if (daemon_h) {
        MHD_socket s = MHD_quiesce_daemon(daemon_h);
        if (s != MHD_INVALID_SOCKET) {
            close(s);
        }
    }
}

void
sim_http_stop(void)
{
    if (daemon_h) {
        MHD_stop_daemon(daemon_h);
        daemon_h = NULL;
    }
}

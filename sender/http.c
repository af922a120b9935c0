/*
 * libcurl multi: keep-alive connections, bounded transfers, polling.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bc_form.h"
#include "sender.h"

#define SND_HTTP_MAX_RESP  (4 * 1024 * 1024)

int
snd_http_init(snd_t *s)
{
    s->multi = curl_multi_init();
    if (s->multi == NULL) {
        return -1;
    }
    curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
        (long) s->conf.max_inflight);
    curl_multi_setopt(s->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
        (long) s->conf.max_inflight);
    curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS,
        (long) s->conf.max_inflight);
    curl_multi_setopt(s->multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX);
    s->pool = calloc((size_t) s->conf.max_inflight, sizeof(CURL *));
    s->pool_prov = calloc((size_t) s->conf.max_inflight, sizeof(int));
    return s->pool == NULL || s->pool_prov == NULL ? -1 : 0;
}

void
snd_http_free(snd_t *s)
{
    int          i;
    snd_item_t  *it;

    while ((it = s->running) != NULL) {
        s->running = it->next;
        curl_multi_remove_handle(s->multi, it->easy);
        curl_easy_cleanup(it->easy);
        it->easy = NULL;
        s->inflight--;
        snd_item_free(s, it);
    }
    for (i = 0; i < s->npool; i++) {
        curl_easy_cleanup(s->pool[i]);
    }
    free(s->pool);
    free(s->pool_prov);
    s->pool = NULL;
    s->pool_prov = NULL;
    s->npool = 0;
    if (s->multi != NULL) {
        curl_multi_cleanup(s->multi);
        s->multi = NULL;
    }
}

static size_t
snd_http_write(char *data, size_t size, size_t nmemb, void *ud)
{
    snd_item_t  *it = ud;
    size_t       n = size * nmemb;

    if (it->resp_len + n + 1 > SND_HTTP_MAX_RESP
        || bc_reserve(&it->resp, it->resp_len, &it->resp_cap, n, 2048) != 0)
    {
        return 0;
    }
    memcpy(it->resp + it->resp_len, data, n);
    it->resp_len += n;
    it->resp[it->resp_len] = '\0';
    return n;
}

/* Meta and SendGrid: a JSON body with the token as a Bearer credential */
int
snd_http_json_bearer(snd_item_t *it, const char *token)
{
    char  auth[2048];
    int   n;

    curl_slist_free_all(it->hdrs);
    it->hdrs = NULL;
    n = snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    if (n > 0 && (size_t) n < sizeof(auth)) {
        it->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
        it->hdrs = it->hdrs ? curl_slist_append(it->hdrs, auth) : NULL;
    }
    /* the token does not stay on the stack */
    memset(auth, 0, sizeof(auth));
    return it->hdrs != NULL ? 0 : -1;
}

/* the options a handle keeps between transfers: set once, for its
   provider (a handle changes provider only through curl_easy_reset) */
static void
snd_http_fixed(snd_t *s, CURL *e, int prov)
{
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, snd_http_write);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, s->conf.request_timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
        s->conf.request_timeout_ms < 5000 ? s->conf.request_timeout_ms
                                          : 5000L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (snd_providers[prov]->http_setup != NULL) {
        snd_providers[prov]->http_setup(s, e);
    }
    curl_easy_setopt(e, CURLOPT_USERAGENT, "broadcast-sender/1");
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
}

/*
 * A pooled handle of the item's provider keeps its fixed options, so a
 * transfer sets only its own (URL, body, headers, where the answer goes):
 * curl_easy_reset() and setting every option again, with their copies of
 * the URL, credentials and user agent, cost more than the rest of a
 * transfer's setup. Another provider's handle is reset first.
 */
int
snd_http_start(snd_t *s, snd_item_t *it, const char *url, const char *post)
{
    CURL  *e = NULL;
    int    i;

    for (i = s->npool - 1; i >= 0; i--) {
        if (s->pool_prov[i] == it->prov) {
            e = s->pool[i];
            s->pool[i] = s->pool[s->npool - 1];
            s->pool_prov[i] = s->pool_prov[s->npool - 1];
            s->npool--;
            break;
        }
    }
    if (e == NULL && s->npool > 0) {
        e = s->pool[--s->npool];
        curl_easy_reset(e);
        snd_http_fixed(s, e, it->prov);
    } else if (e == NULL) {
        e = curl_easy_init();
        if (e == NULL) {
            return -1;
        }
        snd_http_fixed(s, e, it->prov);
    }
    it->resp_len = 0;
    it->rl_remaining = -1;
    it->rl_reset_ms = 0;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, it);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, it);
    if (snd_prov(it)->reads_headers) {
        curl_easy_setopt(e, CURLOPT_HEADERDATA, it);
    }
    if (post != NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long) strlen(post));
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    /* NULL drops the previous transfer's list */
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, it->hdrs);
    if (curl_multi_add_handle(s->multi, e) != CURLM_OK) {
        s->pool_prov[s->npool] = it->prov;
        s->pool[s->npool++] = e;
        return -1;
    }
    it->easy = e;
    it->next = s->running;
    s->running = it;
    s->inflight++;
    return 0;
}

void
snd_http_run(snd_t *s, int timeout_ms,
    void (*done)(snd_t *s, snd_item_t *it, CURLcode rc, long status,
                 int request_sent))
{
    int        running, left;
    CURLMsg   *msg;

    /* timeout_ms < 0: no poll, just progress what is ready */
    if (s->inflight > 0 && timeout_ms >= 0) {
        curl_multi_poll(s->multi, NULL, 0, timeout_ms, NULL);
    }
    curl_multi_perform(s->multi, &running);

    while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
        snd_item_t  *it = NULL;
        CURL        *e = msg->easy_handle;
        CURLcode     rc = msg->data.result;
        long         status = 0, reqsize = 0;
        double       connect_time = 0, total_time = 0;
        int          sent;

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **) &it);
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &reqsize);
        curl_easy_getinfo(e, CURLINFO_CONNECT_TIME, &connect_time);
        curl_easy_getinfo(e, CURLINFO_TOTAL_TIME, &total_time);

        /* was the request (possibly) seen by the server? */
        sent = 1;
        if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_CONNECT
            || rc == CURLE_COULDNT_RESOLVE_PROXY
            || rc == CURLE_SSL_CONNECT_ERROR
            || (rc == CURLE_OPERATION_TIMEDOUT && connect_time <= 0.0
                && reqsize == 0))
        {
            sent = 0;
        }

        for (snd_item_t **p = &s->running; *p != NULL; p = &(*p)->next) {
            if (*p == it) {
                *p = it->next;
                break;
            }
        }
        it->next = NULL;
        curl_multi_remove_handle(s->multi, e);
        s->pool_prov[s->npool] = it->prov;
        s->pool[s->npool++] = e;
        s->inflight--;
        it->easy = NULL;
        if (sent) {
            /* a call that reached the provider, answered or timed out */
            snd_metrics_latency(s, it->prov, total_time);
        }
        done(s, it, rc, status, sent);
    }
}

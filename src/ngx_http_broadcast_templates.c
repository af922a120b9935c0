/*
 * GET /api/whatsapp/templates?provider=twilio|meta&limit=&page_token=&search=
 * lists the approved message templates from the provider: the Twilio
 * Content API or Meta's /<waba>/message_templates, fetched with a blocking
 * libcurl easy handle in a pool thread (never in the event loop).
 */


#include "ngx_http_broadcast_api.h"

#include <curl/curl.h>
#include <pthread.h>


#define NGX_HTTP_BROADCAST_TPL_MAX_BODY  (4 * 1024 * 1024)


typedef struct {
    ngx_uint_t   meta;
    ngx_uint_t   limit;
    char         page_token[512];
    char         search[256];
    char         url[2048];
    char         user[64];          /* Twilio account SID */
    char        *secret;            /* malloc'd: token, zeroed on free */
    long         timeout_ms;
} ngx_http_broadcast_tpl_t;


typedef struct {
    char        *data;
    size_t       len;
    size_t       cap;
} ngx_http_broadcast_tpl_buf_t;


static void ngx_http_broadcast_templates_op(
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_conn_t *conn);


static pthread_once_t  ngx_http_broadcast_curl_once = PTHREAD_ONCE_INIT;


static void
ngx_http_broadcast_curl_init(void)
{
    (void) curl_global_init(CURL_GLOBAL_DEFAULT);
}


static void
ngx_http_broadcast_templates_free(void *data)
{
    ngx_http_broadcast_tpl_t *t = data;

    if (t->secret) {
        explicit_bzero(t->secret, strlen(t->secret));
        free(t->secret);
    }

    ngx_free(t);
}


/* loop: a URL query value, %-escaped (alphanumerics and -._~ kept) */
static size_t
ngx_http_broadcast_tpl_escape(char *dst, size_t size, const char *src)
{
    static const char  hex[] = "0123456789ABCDEF";
    size_t             n;
    u_char             c;

    n = 0;

    for ( /* void */ ; *src && n + 4 < size; src++) {
        c = (u_char) *src;

        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            dst[n++] = (char) c;

        } else {
            dst[n++] = '%';
            dst[n++] = hex[c >> 4];
            dst[n++] = hex[c & 0xf];
        }
    }

    dst[n] = '\0';

    return n;
}


void
ngx_http_broadcast_templates_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    char                            provider[16], limit[16], tok[1600];
    ssize_t                         n;
    ngx_int_t                       lim;
    ngx_http_broadcast_tpl_t       *t;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    t = ngx_http_broadcast_api_op_new(r, ctx,
                                      sizeof(ngx_http_broadcast_tpl_t),
                                      ngx_http_broadcast_templates_op,
                                      ngx_http_broadcast_templates_free);
    if (t == NULL) {
        return;
    }

    n = ngx_http_broadcast_api_arg(r, "provider", provider, sizeof(provider));

    if (n == -1 || (n >= 0 && ngx_strcmp(provider, "twilio") == 0)) {
        t->meta = 0;

    } else if (n >= 0 && ngx_strcmp(provider, "meta") == 0) {
        t->meta = 1;

    } else {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "provider must be twilio or meta");
        return;
    }

    t->limit = 50;

    if (ngx_http_broadcast_api_arg(r, "limit", limit, sizeof(limit)) >= 0) {
        lim = ngx_atoi((u_char *) limit, ngx_strlen(limit));

        if (lim < 1 || lim > 200) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "limit must be 1 to 200");
            return;
        }

        t->limit = (ngx_uint_t) lim;
    }

    if (ngx_http_broadcast_api_arg(r, "page_token", t->page_token,
                                   sizeof(t->page_token))
        == -2
        || ngx_http_broadcast_api_arg(r, "search", t->search,
                                      sizeof(t->search))
           == -2)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "page_token or search is too long");
        return;
    }

    ngx_http_broadcast_tpl_escape(tok, sizeof(tok), t->page_token);

    /* within the backend timeout, so the answer is ours, not the timer's */
    t->timeout_ms = (long) lcf->backend_timeout > 500
                    ? (long) lcf->backend_timeout - 250
                    : (long) lcf->backend_timeout;

    if (t->meta) {
        if (lcf->meta_access_token.len == 0 || lcf->meta_waba_id.len == 0) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                "not_configured", "Meta templates need "
                "broadcast_meta_access_token_file and broadcast_meta_waba_id");
            return;
        }

        n = snprintf(t->url, sizeof(t->url),
                     "%.*s/%.*s/message_templates?limit=%u%s%s",
                     (int) lcf->meta_graph_base.len,
                     lcf->meta_graph_base.data, (int) lcf->meta_waba_id.len,
                     lcf->meta_waba_id.data, (unsigned) t->limit,
                     tok[0] ? "&after=" : "", tok);

        t->secret = strndup((char *) lcf->meta_access_token.data,
                            lcf->meta_access_token.len);

    } else {
        if (lcf->twilio_token.len == 0 || lcf->twilio_account_sid.len == 0) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                "not_configured", "Twilio templates need "
                "broadcast_twilio_account_sid and "
                "broadcast_twilio_auth_token_file");
            return;
        }

        n = snprintf(t->url, sizeof(t->url),
                     "%.*s/v1/Content?PageSize=%u%s%s",
                     (int) lcf->twilio_content_base.len,
                     lcf->twilio_content_base.data, (unsigned) t->limit,
                     tok[0] ? "&PageToken=" : "", tok);

        ngx_cpystrn((u_char *) t->user, lcf->twilio_account_sid.data,
                    ngx_min(sizeof(t->user),
                            lcf->twilio_account_sid.len + 1));

        t->secret = strndup((char *) lcf->twilio_token.data,
                            lcf->twilio_token.len);
    }

    if (n <= 0 || (size_t) n >= sizeof(t->url)) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "page_token is too long");
        return;
    }

    if (t->secret == NULL) {
        goto nomem;
    }

    return;

nomem:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error", "out of memory");
}


static size_t
ngx_http_broadcast_tpl_write(char *ptr, size_t size, size_t nmemb,
    void *userdata)
{
    ngx_http_broadcast_tpl_buf_t *buf = userdata;

    char    *p;
    size_t   len, cap;

    len = size * nmemb;

    if (buf->len + len > NGX_HTTP_BROADCAST_TPL_MAX_BODY) {
        return 0;
    }

    if (buf->len + len + 1 > buf->cap) {
        cap = ngx_max(buf->cap * 2, buf->len + len + 1);
        p = realloc(buf->data, cap);
        if (p == NULL) {
            return 0;
        }

        buf->data = p;
        buf->cap = cap;
    }

    memcpy(buf->data + buf->len, ptr, len);
    buf->len += len;
    buf->data[buf->len] = '\0';

    return len;
}


/* the value of name=... in a provider's page URL, or NULL */
static json_t *
ngx_http_broadcast_tpl_token(json_t *url, const char *name)
{
    size_t       nlen;
    const char  *s, *p, *e;

    s = json_string_value(url);
    if (s == NULL) {
        return json_null();
    }

    nlen = strlen(name);

    for (p = strchr(s, '?'); p; p = strchr(p + 1, '&')) {
        if (strncmp(p + 1, name, nlen) == 0 && p[1 + nlen] == '=') {
            p += nlen + 2;
            e = strchr(p, '&');
            return json_stringn(p, e ? (size_t) (e - p) : strlen(p));
        }
    }

    return json_null();
}


static int
ngx_http_broadcast_tpl_match(const char *search, json_t *a, json_t *b)
{
    if (search[0] == '\0') {
        return 1;
    }

    return (json_is_string(a) && strcasestr(json_string_value(a), search))
           || (json_is_string(b) && strcasestr(json_string_value(b), search));
}


/*
 * thread: Meta's page token towards link ("next", "previous"): the cursor
 * (a copy) when Meta gives the link, else null
 */
static json_t *
ngx_http_broadcast_tpl_page_token(json_t *paging, const char *link,
    const char *cursor)
{
    json_t  *c;

    c = json_object_get(json_object_get(paging, "cursors"), cursor);

    return json_object_get(paging, link) && json_is_string(c) ? json_copy(c)
                                                              : json_null();
}


/* thread: the provider's answer in our shape */
static json_t *
ngx_http_broadcast_tpl_shape(ngx_http_broadcast_tpl_t *t, json_t *in)
{
    size_t       i;
    json_t      *out, *list, *item, *v, *meta, *paging, *types;
    const char  *k;

    list = json_array();
    out = json_pack("{s:o}", "templates", list);
    if (out == NULL) {
        return NULL;
    }

    if (t->meta) {
        json_array_foreach(json_object_get(in, "data"), i, v) {
            if (!ngx_http_broadcast_tpl_match(t->search,
                                              json_object_get(v, "name"),
                                              json_object_get(v, "id")))
            {
                continue;
            }

            item = json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?,s:O?}",
                             "id", json_object_get(v, "id"),
                             "name", json_object_get(v, "name"),
                             "language", json_object_get(v, "language"),
                             "status", json_object_get(v, "status"),
                             "category", json_object_get(v, "category"),
                             "components", json_object_get(v, "components"));
            json_array_append_new(list, item);
        }

        paging = json_object_get(in, "paging");

        json_object_set_new(out, "next_page_token",
            ngx_http_broadcast_tpl_page_token(paging, "next", "after"));
        json_object_set_new(out, "previous_page_token",
            ngx_http_broadcast_tpl_page_token(paging, "previous", "before"));
        return out;
    }

    json_array_foreach(json_object_get(in, "contents"), i, v) {
        if (!ngx_http_broadcast_tpl_match(t->search,
                                          json_object_get(v, "friendly_name"),
                                          json_object_get(v, "sid")))
        {
            continue;
        }

        /* types: the keys of Twilio's "types" object (twilio/text, …) */
        types = json_array();
        json_object_foreach(json_object_get(v, "types"), k, meta) {
            json_array_append_new(types, json_string(k));
        }

        item = json_pack("{s:O?,s:O?,s:O?,s:o,s:O?}",
                         "sid", json_object_get(v, "sid"),
                         "friendly_name", json_object_get(v, "friendly_name"),
                         "language", json_object_get(v, "language"),
                         "types", types,
                         "variables", json_object_get(v, "variables"));
        json_array_append_new(list, item);
    }

    meta = json_object_get(in, "meta");

    json_object_set_new(out, "next_page_token",
        ngx_http_broadcast_tpl_token(json_object_get(meta, "next_page_url"),
                                     "PageToken"));
    json_object_set_new(out, "previous_page_token",
        ngx_http_broadcast_tpl_token(json_object_get(meta,
                                                     "previous_page_url"),
                                     "PageToken"));
    return out;
}


static void
ngx_http_broadcast_templates_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_tpl_t *t = ctx->op_data;

    char                          auth[1200];
    long                          code;
    CURL                         *curl;
    json_t                       *in, *err;
    CURLcode                      rc;
    json_error_t                  jerr;
    struct curl_slist            *hdrs;
    ngx_http_broadcast_tpl_buf_t  buf;

    (void) conn;

    (void) pthread_once(&ngx_http_broadcast_curl_once,
                        ngx_http_broadcast_curl_init);

    ngx_memzero(&buf, sizeof(buf));
    hdrs = NULL;

    curl = curl_easy_init();
    if (curl == NULL) {
        goto nomem;
    }

    curl_easy_setopt(curl, CURLOPT_URL, t->url);
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, t->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, t->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION,
                     ngx_http_broadcast_tpl_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "broadcast-module");

    if (t->meta) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", t->secret);
        hdrs = curl_slist_append(hdrs, auth);
        explicit_bzero(auth, sizeof(auth));
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);

    } else {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERNAME, t->user);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, t->secret);
    }

    rc = curl_easy_perform(curl);

    code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);

    if (rc != CURLE_OK) {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s",
                 curl_easy_strerror(rc));
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_GATEWAY,
            "provider_unavailable", "%s did not answer: %s",
            t->meta ? "Meta" : "Twilio", curl_easy_strerror(rc));
        goto done;
    }

    in = buf.data ? json_loadb(buf.data, buf.len, 0, &jerr) : NULL;

    if (code < 200 || code > 299) {
        /* the provider's own message: Twilio {message}, Meta {error} */
        err = json_object_get(in, "error");
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_GATEWAY,
            "provider_error", "%s answered HTTP %ld: %s",
            t->meta ? "Meta" : "Twilio", code,
            json_string_value(json_object_get(err ? err : in, "message"))
            ? json_string_value(json_object_get(err ? err : in, "message"))
            : "no message");
        json_decref(in);
        goto done;
    }

    if (!json_is_object(in)) {
        json_decref(in);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_GATEWAY,
            "provider_error", "%s answered with something that is not a "
            "JSON object", t->meta ? "Meta" : "Twilio");
        goto done;
    }

    ctx->result = ngx_http_broadcast_tpl_shape(t, in);
    json_decref(in);

    if (ctx->result == NULL) {
        goto nomem;
    }

    goto done;

nomem:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error", "out of memory");

done:

    if (curl) {
        curl_easy_cleanup(curl);
    }

    curl_slist_free_all(hdrs);
    free(buf.data);
}

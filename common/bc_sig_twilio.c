/*
 * Twilio's X-Twilio-Signature: HMAC-SHA1 over the URL and the sorted
 * form parameters, checked against the URL with and without its default
 * port as twilio-node does (bc_sig.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "bc_sig.h"
#include "bc_sig_hmac.h"


/* the longest URL variant is the URL plus ":443" */
#define BC_PORT_EXTRA  8


/* bytewise order; a prefix sorts first */
static int
bc_bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int  rc;

    rc = memcmp(a, b, alen < blen ? alen : blen);

    if (rc != 0) {
        return rc;
    }

    if (alen != blen) {
        return alen < blen ? -1 : 1;
    }

    return 0;
}


static int
bc_kv_cmp(const void *one, const void *two)
{
    const bc_kv_t  *a = one;
    const bc_kv_t  *b = two;
    int             rc;

    rc = bc_bytes_cmp(a->name, a->name_len, b->name, b->name_len);

    if (rc != 0) {
        return rc;
    }

    /* equal pairs concatenate to the same bytes whatever their order */
    return bc_bytes_cmp(a->value, a->value_len, b->value, b->value_len);
}


void
bc_twilio_sort_params(bc_kv_t *params, size_t nparams)
{
    if (nparams > 1) {
        qsort(params, nparams, sizeof(bc_kv_t), bc_kv_cmp);
    }
}

/* the canonical string: the URL, then each sorted name and value */
static int
bc_twilio_mac(EVP_MAC_CTX *ctx, const char *url, size_t url_len,
    const bc_kv_t *params, size_t nparams, unsigned char mac[20])
{
    size_t  i, mac_len;

    if (EVP_MAC_update(ctx, (const unsigned char *) url, url_len) != 1) {
        return -1;
    }

    for (i = 0; i < nparams; i++) {
        if (EVP_MAC_update(ctx, (const unsigned char *) params[i].name,
                           params[i].name_len) != 1
            || EVP_MAC_update(ctx, (const unsigned char *) params[i].value,
                              params[i].value_len) != 1)
        {
            return -1;
        }
    }

    mac_len = 0;

    return EVP_MAC_final(ctx, mac, &mac_len, 20) == 1 && mac_len == 20
           ? 0 : -1;
}


int
bc_twilio_sign(const char *token, size_t token_len,
    const char *url, size_t url_len, bc_kv_t *params, size_t nparams,
    char out[BC_TWILIO_SIG_LEN + 1])
{
    unsigned char   mac[20];
    size_t          i, len;
    char           *data, *p;
    EVP_MAC_CTX    *ctx;

    bc_twilio_sort_params(params, nparams);

    /* fed piecewise to this thread's keyed context: no copy */
    ctx = bc_hmac_ctx(0, token, token_len);

    if (ctx != NULL) {
        if (bc_twilio_mac(ctx, url, url_len, params, nparams, mac) != 0) {
            return -1;
        }

    } else {
        /* no cached context (a key longer than the cache): one string */
        len = url_len;
        for (i = 0; i < nparams; i++) {
            len += params[i].name_len + params[i].value_len;
        }

        data = malloc(len + 1);
        if (data == NULL) {
            return -1;
        }

        p = data;
        memcpy(p, url, url_len);
        p += url_len;

        for (i = 0; i < nparams; i++) {
            memcpy(p, params[i].name, params[i].name_len);
            p += params[i].name_len;
            memcpy(p, params[i].value, params[i].value_len);
            p += params[i].value_len;
        }

        if (bc_hmac(0, token, token_len, data, len, mac, 20) != 0) {
            free(data);
            return -1;
        }

        free(data);
    }

    if (bc_base64_encode(mac, 20, out, BC_TWILIO_SIG_LEN + 1)
        != BC_TWILIO_SIG_LEN)
    {
        return -1;
    }

    return 0;
}


/*
 * Writes into alt the url with its port removed, or, if it has none, with
 * the scheme's default port added (twilio-node's second candidate). Returns
 * the length, or 0 if the url is not http(s) or has no host.
 */
static size_t
bc_url_port_variant(const char *url, size_t url_len, char *alt,
    size_t alt_len)
{
    size_t       scheme_len, host, end, colon, i, n;
    const char  *port;

    if (url_len > 8 && strncasecmp(url, "https://", 8) == 0) {
        scheme_len = 8;
        port = ":443";

    } else if (url_len > 7 && strncasecmp(url, "http://", 7) == 0) {
        scheme_len = 7;
        port = ":80";

    } else {
        return 0;
    }

    host = scheme_len;
    end = host;
    while (end < url_len && url[end] != '/' && url[end] != '?'
           && url[end] != '#')
    {
        end++;
    }

    /* skip user info; a port is a ':' after the host (and after "]") */
    for (i = host; i < end; i++) {
        if (url[i] == '@') {
            host = i + 1;
        }
    }

    colon = 0;
    for (i = host; i < end; i++) {
        if (url[i] == ':') {
            colon = i;

        } else if (url[i] == ']') {
            colon = 0;
        }
    }

    if (end == host || alt_len < url_len + strlen(port) + 1) {
        return 0;
    }

    if (colon) {
        n = colon;
        memcpy(alt, url, colon);
        memcpy(alt + n, url + end, url_len - end);
        n += url_len - end;

    } else {
        n = end;
        memcpy(alt, url, end);
        memcpy(alt + n, port, strlen(port));
        n += strlen(port);
        memcpy(alt + n, url + end, url_len - end);
        n += url_len - end;
    }

    alt[n] = '\0';

    return n;
}


int
bc_twilio_verify(const char *token, size_t token_len,
    const char *url, size_t url_len, bc_kv_t *params, size_t nparams,
    const char *sig, size_t sig_len)
{
    char     expected[BC_TWILIO_SIG_LEN + 1];
    char    *alt;
    size_t   alt_len;
    int      valid;

    if (sig == NULL || sig_len != BC_TWILIO_SIG_LEN) {
        return 0;
    }

    if (bc_twilio_sign(token, token_len, url, url_len, params, nparams,
                       expected)
        == 0
        && bc_ct_equal(expected, BC_TWILIO_SIG_LEN, sig, sig_len))
    {
        return 1;
    }

    alt = malloc(url_len + BC_PORT_EXTRA);
    if (alt == NULL) {
        return 0;
    }

    valid = 0;
    alt_len = bc_url_port_variant(url, url_len, alt, url_len + BC_PORT_EXTRA);

    if (alt_len
        && bc_twilio_sign(token, token_len, alt, alt_len, params, nparams,
                          expected)
           == 0
        && bc_ct_equal(expected, BC_TWILIO_SIG_LEN, sig, sig_len))
    {
        valid = 1;
    }

    free(alt);

    return valid;
}


int
bc_twilio_verify_json(const char *token, size_t token_len,
    const char *url, size_t url_len, const char *body, size_t body_len,
    const char *sig, size_t sig_len)
{
    const char  *query, *fragment;
    char         claimed[65], actual[65];
    int          rc;

    query = memchr(url, '?', url_len);
    if (query == NULL) {
        return 0;
    }

    query++;
    fragment = memchr(query, '#', url_len - (size_t) (query - url));
    if (fragment == NULL) {
        fragment = url + url_len;
    }

    rc = bc_query_get(query, (size_t) (fragment - query), "bodySHA256",
                      claimed, sizeof(claimed));
    if (rc != 1) {
        return 0;
    }

    bc_sha256_hex(body, body_len, actual);

    /* check both, so the timing does not say which one failed */
    rc = bc_ct_equal(claimed, strlen(claimed), actual, 64);
    rc &= bc_twilio_verify(token, token_len, url, url_len, NULL, 0, sig,
                           sig_len);

    return rc;
}

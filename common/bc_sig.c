/*
 * Provider signatures and small crypto helpers (OpenSSL libcrypto).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "bc_sig.h"


/* the longest URL variant is the URL plus ":443" */
#define BC_PORT_EXTRA  8


static int
bc_kv_cmp(const void *one, const void *two)
{
    const bc_kv_t  *a = one;
    const bc_kv_t  *b = two;
    size_t          n;
    int             rc;

    n = a->name_len < b->name_len ? a->name_len : b->name_len;
    rc = memcmp(a->name, b->name, n);

    if (rc != 0) {
        return rc;
    }

    if (a->name_len != b->name_len) {
        return a->name_len < b->name_len ? -1 : 1;
    }

    n = a->value_len < b->value_len ? a->value_len : b->value_len;
    rc = memcmp(a->value, b->value, n);

    if (rc != 0) {
        return rc;
    }

    if (a->value_len != b->value_len) {
        return a->value_len < b->value_len ? -1 : 1;
    }

    /* equal pairs concatenate to the same bytes whatever their order */
    return 0;
}


int
bc_twilio_sign(const char *token, size_t token_len,
    const char *url, size_t url_len, bc_kv_t *params, size_t nparams,
    char out[BC_TWILIO_SIG_LEN + 1])
{
    unsigned char   mac[EVP_MAX_MD_SIZE];
    unsigned int    mac_len;
    size_t          i, len;
    char           *data, *p;

    if (nparams > 1) {
        qsort(params, nparams, sizeof(bc_kv_t), bc_kv_cmp);
    }

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

    mac_len = 0;

    if (HMAC(EVP_sha1(), token, (int) token_len, (unsigned char *) data, len,
             mac, &mac_len)
        == NULL || mac_len != 20)
    {
        free(data);
        return -1;
    }

    free(data);

    if (bc_base64_encode(mac, mac_len, out, BC_TWILIO_SIG_LEN + 1)
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


int
bc_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen) {
        return 0;
    }

    if (alen == 0) {
        return 1;
    }

    return CRYPTO_memcmp(a, b, alen) == 0;
}


void
bc_sha256_hex(const void *data, size_t len, char out[65])
{
    static const char  hex[] = "0123456789abcdef";
    unsigned char      md[EVP_MAX_MD_SIZE];
    unsigned int       md_len, i;

    md_len = 0;

    if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1
        || md_len != 32)
    {
        /* cannot happen with a working libcrypto; never match anything */
        memset(out, 'x', 64);
        out[64] = '\0';
        return;
    }

    for (i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0x0f];
    }

    out[64] = '\0';
}


int
bc_random_token(const char *prefix, char *out, size_t outlen)
{
    unsigned char  raw[32];
    char           b64[48];
    size_t         plen, i;

    plen = strlen(prefix);

    if (outlen < plen + 44) {
        return -1;
    }

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        return -1;
    }

    if (bc_base64_encode(raw, sizeof(raw), b64, sizeof(b64)) != 44) {
        OPENSSL_cleanse(raw, sizeof(raw));
        return -1;
    }

    OPENSSL_cleanse(raw, sizeof(raw));

    /* base64url without padding: 43 chars */
    memcpy(out, prefix, plen);

    for (i = 0; i < 43; i++) {
        out[plen + i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    }

    out[plen + 43] = '\0';
    OPENSSL_cleanse(b64, sizeof(b64));

    return 0;
}


size_t
bc_base64_encode(const unsigned char *in, size_t len, char *out,
    size_t outlen)
{
    size_t  need;

    need = (len + 2) / 3 * 4;

    if (outlen < need + 1 || len > 0x3fffffff) {
        if (outlen > 0) {
            out[0] = '\0';
        }

        return 0;
    }

    return (size_t) EVP_EncodeBlock((unsigned char *) out, in, (int) len);
}

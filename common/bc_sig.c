/*
 * Provider signatures and small crypto helpers (OpenSSL libcrypto).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pthread.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

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


void
bc_twilio_sort_params(bc_kv_t *params, size_t nparams)
{
    if (nparams > 1) {
        qsort(params, nparams, sizeof(bc_kv_t), bc_kv_cmp);
    }
}


/*
 * HMAC through a per-thread context kept per digest and key. OpenSSL 3's
 * one-shot HMAC() fetches the MAC and the digest by name on every call
 * (about 3 us for a 600-byte callback here); a context re-initialised with
 * its key costs under 1 us. Webhook verification and the simulator's
 * signing use one key over and over, so the key rarely changes.
 */

#define BC_HMAC_KEY_MAX  256

typedef struct {
    EVP_MAC_CTX    *ctx;
    size_t          key_len;
    unsigned char   key[BC_HMAC_KEY_MAX];
} bc_hmac_slot_t;

typedef struct {
    bc_hmac_slot_t  slot[2];            /* SHA-1, SHA-256 */
} bc_hmac_cache_t;

static pthread_once_t  bc_hmac_once = PTHREAD_ONCE_INIT;
static pthread_key_t   bc_hmac_key;
static EVP_MAC        *bc_hmac_mac;
static int             bc_hmac_ready;


static void
bc_hmac_cache_free(void *data)
{
    bc_hmac_cache_t  *cache = data;

    EVP_MAC_CTX_free(cache->slot[0].ctx);
    EVP_MAC_CTX_free(cache->slot[1].ctx);
    OPENSSL_cleanse(cache, sizeof(bc_hmac_cache_t));
    free(cache);
}


static void
bc_hmac_init(void)
{
    bc_hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    bc_hmac_ready = bc_hmac_mac != NULL
                    && pthread_key_create(&bc_hmac_key, bc_hmac_cache_free)
                       == 0;
}


/*
 * This thread's HMAC context for the digest (SHA-256 if sha256, else SHA-1)
 * and key, re-initialised and ready for EVP_MAC_update(); NULL if none can
 * be had (then the one-shot functions are used).
 */
static EVP_MAC_CTX *
bc_hmac_ctx(int sha256, const void *key_data, size_t key_len)
{
    const unsigned char  *key = key_data;
    OSSL_PARAM            params[2];
    bc_hmac_slot_t       *slot;
    bc_hmac_cache_t      *cache;

    if (pthread_once(&bc_hmac_once, bc_hmac_init) != 0 || !bc_hmac_ready
        || key_len > BC_HMAC_KEY_MAX)
    {
        return NULL;
    }

    cache = pthread_getspecific(bc_hmac_key);

    if (cache == NULL) {
        cache = calloc(1, sizeof(bc_hmac_cache_t));
        if (cache == NULL) {
            return NULL;
        }

        if (pthread_setspecific(bc_hmac_key, cache) != 0) {
            free(cache);
            return NULL;
        }
    }

    slot = &cache->slot[sha256 ? 1 : 0];

    if (slot->ctx != NULL && slot->key_len == key_len
        && memcmp(slot->key, key, key_len) == 0)
    {
        /* same key: re-initialise without fetching anything */
        return EVP_MAC_init(slot->ctx, NULL, 0, NULL) == 1 ? slot->ctx : NULL;
    }

    if (slot->ctx == NULL) {
        slot->ctx = EVP_MAC_CTX_new(bc_hmac_mac);
        if (slot->ctx == NULL) {
            return NULL;
        }
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                    (char *) (sha256 ? "SHA256" : "SHA1"), 0);
    params[1] = OSSL_PARAM_construct_end();

    slot->key_len = 0;

    /* OpenSSL wants a non-NULL key even when it is empty */
    if (EVP_MAC_init(slot->ctx, key_len ? key : (const unsigned char *) "",
                     key_len, params)
        != 1)
    {
        return NULL;
    }

    memcpy(slot->key, key, key_len);
    slot->key_len = key_len;

    return slot->ctx;
}


/* HMAC-SHA1 (mac_len 20) or HMAC-SHA256 (32); returns 0, or -1 */
static int
bc_hmac(int sha256, const char *key, size_t key_len, const char *data,
    size_t data_len, unsigned char *mac, size_t mac_len)
{
    size_t        out_len;
    unsigned int  one_len;
    EVP_MAC_CTX  *ctx;

    ctx = bc_hmac_ctx(sha256, key, key_len);

    if (ctx != NULL) {
        out_len = 0;

        if (EVP_MAC_update(ctx, (const unsigned char *) (data_len ? data : ""),
                           data_len)
            != 1
            || EVP_MAC_final(ctx, mac, &out_len, mac_len) != 1)
        {
            return -1;
        }

        return out_len == mac_len ? 0 : -1;
    }

    /* no cached context (a key longer than the cache): the one-shot call */
    if (key_len > 0x7fffffff) {
        return -1;
    }

    one_len = 0;

    if (HMAC(sha256 ? EVP_sha256() : EVP_sha1(), key_len ? key : "",
             (int) key_len, (const unsigned char *) (data_len ? data : ""),
             data_len, mac, &one_len)
        == NULL)
    {
        return -1;
    }

    return one_len == mac_len ? 0 : -1;
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


/* --- SendGrid signed Event Webhook --------------------------------------- */

/* no key, signature or SPKI we accept is anywhere near this long */
#define BC_B64_MAX  16384


static void
bc_set_err(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0) {
        snprintf(err, errlen, "%s", msg);
    }
}


static int
bc_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '+') {
        return 62;
    }

    if (c == '/') {
        return 63;
    }

    return -1;
}


int
bc_base64_decode_into(const char *in, size_t len, unsigned char *out,
    size_t cap, size_t *outn)
{
    size_t  i, k, n;
    int     q[4], v, pad, done;

    k = 0;
    n = 0;
    pad = 0;
    done = 0;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char) in[i];

        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            continue;
        }

        /* '=' only as the last one or two chars of the last quartet */
        if (done || (pad && c != '=')) {
            return -1;
        }

        if (c == '=') {
            if (k < 2) {
                return -1;
            }
            pad++;
            v = 0;

        } else {
            v = bc_b64_value(c);
            if (v < 0) {
                return -1;
            }
        }

        q[k++] = v;

        if (k == 4) {
            if (n + 3 - (size_t) pad > cap) {
                return -1;
            }
            out[n++] = (unsigned char) (q[0] << 2 | q[1] >> 4);
            if (pad < 2) {
                out[n++] = (unsigned char) ((q[1] & 15) << 4 | q[2] >> 2);
            }
            if (pad < 1) {
                out[n++] = (unsigned char) ((q[2] & 3) << 6 | q[3]);
            }
            k = 0;
            done = pad > 0;
        }
    }

    if (k != 0 || (n == 0 && pad == 0)) {
        return -1;
    }

    *outn = n;

    return 0;
}


/* bc_base64_decode_into() into a malloc'd buffer; NULL if malformed */
static unsigned char *
bc_base64_decode_alloc(const char *in, size_t len, size_t *outn)
{
    unsigned char  *out;

    if (in == NULL || len == 0 || len > BC_B64_MAX) {
        return NULL;
    }

    out = malloc(len / 4 * 3 + 3);
    if (out == NULL) {
        return NULL;
    }

    if (bc_base64_decode_into(in, len, out, len / 4 * 3 + 3, outn) != 0) {
        free(out);
        return NULL;
    }

    return out;
}


/* 1 if pkey is an EC key on P-256 */
static int
bc_pkey_is_p256(EVP_PKEY *pkey)
{
    char    group[64];
    size_t  glen;

    if (!EVP_PKEY_is_a(pkey, "EC")) {
        return 0;
    }

    glen = 0;
    if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) != 1) {
        return 0;
    }

    return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0;
}


void *
bc_sendgrid_key_load(const char *b64_spki, size_t len, char *err,
    size_t errlen)
{
    unsigned char        *der;
    const unsigned char  *p;
    size_t                n;
    EVP_PKEY             *pkey;
    EVP_MD_CTX           *ctx;

    der = bc_base64_decode_alloc(b64_spki, len, &n);
    if (der == NULL) {
        bc_set_err(err, errlen, "the SendGrid verification key is not "
                   "valid base64");
        return NULL;
    }

    p = der;
    pkey = d2i_PUBKEY(NULL, &p, (long) n);

    if (pkey == NULL || p != der + n) {
        free(der);
        EVP_PKEY_free(pkey);
        bc_set_err(err, errlen, "the SendGrid verification key is not a DER "
                   "SubjectPublicKeyInfo public key");
        return NULL;
    }

    free(der);

    if (!bc_pkey_is_p256(pkey)) {
        EVP_PKEY_free(pkey);
        bc_set_err(err, errlen, "the SendGrid verification key is not an "
                   "EC P-256 key");
        return NULL;
    }

    /*
     * One verify set-up now, so the provider-side key is cached before
     * threads share the key, and a key the provider rejects fails here.
     */
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL
        || EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1)
    {
        EVP_MD_CTX_free(ctx);
        EVP_PKEY_free(pkey);
        bc_set_err(err, errlen, "the SendGrid verification key cannot be "
                   "used for ECDSA SHA-256");
        return NULL;
    }

    EVP_MD_CTX_free(ctx);

    return pkey;
}


void
bc_sendgrid_key_free(void *key)
{
    EVP_PKEY_free(key);
}


int
bc_sendgrid_verify(void *key, const char *timestamp, size_t ts_len,
    const char *body, size_t body_len, const char *sig_b64, size_t sig_len)
{
    unsigned char  *sig;
    size_t          n;
    EVP_MD_CTX     *ctx;
    int             rc;

    if (key == NULL || timestamp == NULL || sig_b64 == NULL
        || (body == NULL && body_len != 0))
    {
        return 0;
    }

    sig = bc_base64_decode_alloc(sig_b64, sig_len, &n);
    if (sig == NULL) {
        return 0;
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        free(sig);
        return 0;
    }

    rc = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1
         && EVP_DigestVerifyUpdate(ctx, timestamp, ts_len) == 1
         && (body_len == 0
             || EVP_DigestVerifyUpdate(ctx, body, body_len) == 1)
         && EVP_DigestVerifyFinal(ctx, sig, n) == 1;

    EVP_MD_CTX_free(ctx);
    free(sig);

    return rc ? 1 : 0;
}


int
bc_sendgrid_timestamp_fresh(const char *ts, size_t len, long now,
    long tolerance_s)
{
    long    t;
    size_t  i;

    /* 12 digits reach the year 33658 and cannot overflow a long */
    if (ts == NULL || len == 0 || len > 12 || tolerance_s < 0) {
        return 0;
    }

    t = 0;
    for (i = 0; i < len; i++) {
        if (ts[i] < '0' || ts[i] > '9') {
            return 0;
        }

        t = t * 10 + (ts[i] - '0');
    }

    if (t > now) {
        return t - now <= tolerance_s;
    }

    return now - t <= tolerance_s;
}


void *
bc_sendgrid_private_key_load(const char *b64_pkcs8_der, size_t len,
    char *err, size_t errlen)
{
    unsigned char        *der;
    const unsigned char  *p;
    size_t                n;
    PKCS8_PRIV_KEY_INFO  *p8;
    EVP_PKEY             *pkey;

    der = bc_base64_decode_alloc(b64_pkcs8_der, len, &n);
    if (der == NULL) {
        bc_set_err(err, errlen, "the SendGrid signing key is not valid "
                   "base64");
        return NULL;
    }

    p = der;
    p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long) n);
    pkey = NULL;

    if (p8 != NULL && p == der + n) {
        pkey = EVP_PKCS82PKEY(p8);
    }

    PKCS8_PRIV_KEY_INFO_free(p8);
    OPENSSL_cleanse(der, n);
    free(der);

    if (pkey == NULL) {
        bc_set_err(err, errlen, "the SendGrid signing key is not a PKCS#8 "
                   "DER private key");
        return NULL;
    }

    if (!bc_pkey_is_p256(pkey)) {
        EVP_PKEY_free(pkey);
        bc_set_err(err, errlen, "the SendGrid signing key is not an EC "
                   "P-256 key");
        return NULL;
    }

    return pkey;
}


int
bc_sendgrid_sign(void *private_key, const char *ts, size_t ts_len,
    const char *body, size_t body_len, char *out_b64, size_t outlen)
{
    unsigned char  sig[128];
    size_t         n;
    EVP_MD_CTX    *ctx;
    int            rc;

    if (outlen > 0) {
        out_b64[0] = '\0';
    }

    if (private_key == NULL || ts == NULL || (body == NULL && body_len != 0)) {
        return -1;
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    n = 0;
    rc = EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, private_key) == 1
         && EVP_DigestSignUpdate(ctx, ts, ts_len) == 1
         && (body_len == 0 || EVP_DigestSignUpdate(ctx, body, body_len) == 1)
         && EVP_DigestSignFinal(ctx, NULL, &n) == 1
         && n <= sizeof(sig)
         && EVP_DigestSignFinal(ctx, sig, &n) == 1;

    EVP_MD_CTX_free(ctx);

    if (!rc || bc_base64_encode(sig, n, out_b64, outlen) == 0) {
        return -1;
    }

    return 0;
}


int
bc_sendgrid_keypair_generate(char *pub_b64, size_t publen, char *priv_b64,
    size_t privlen)
{
    EVP_PKEY             *pkey;
    PKCS8_PRIV_KEY_INFO  *p8;
    unsigned char        *der;
    int                   n, rc;

    if (publen > 0) {
        pub_b64[0] = '\0';
    }

    if (privlen > 0) {
        priv_b64[0] = '\0';
    }

    pkey = EVP_EC_gen("P-256");
    if (pkey == NULL) {
        return -1;
    }

    rc = -1;

    der = NULL;
    n = i2d_PUBKEY(pkey, &der);

    if (n <= 0 || bc_base64_encode(der, (size_t) n, pub_b64, publen) == 0) {
        OPENSSL_free(der);
        goto done;
    }

    OPENSSL_free(der);

    p8 = EVP_PKEY2PKCS8(pkey);
    if (p8 == NULL) {
        goto done;
    }

    der = NULL;
    n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
    PKCS8_PRIV_KEY_INFO_free(p8);

    if (n > 0 && bc_base64_encode(der, (size_t) n, priv_b64, privlen) != 0) {
        rc = 0;
    }

    if (der != NULL) {
        OPENSSL_clear_free(der, (size_t) (n > 0 ? n : 0));
    }

done:

    EVP_PKEY_free(pkey);

    if (rc != 0) {
        if (publen > 0) {
            pub_b64[0] = '\0';
        }

        if (privlen > 0) {
            OPENSSL_cleanse(priv_b64, privlen);
            priv_b64[0] = '\0';
        }
    }

    return rc;
}


/* --- Meta X-Hub-Signature-256 -------------------------------------------- */

/* HMAC-SHA256 into mac[32]; returns 0, or -1 */
static int
bc_hmac_sha256(const char *key, size_t key_len, const char *data,
    size_t data_len, unsigned char mac[32])
{
    return bc_hmac(1, key, key_len, data, data_len, mac, 32);
}


int
bc_meta_verify(const char *app_secret, size_t secret_len,
    const char *body, size_t body_len, const char *header, size_t header_len)
{
    unsigned char  claimed[32], actual[32];
    size_t         i;
    int            hi, lo, bad;

    if (app_secret == NULL || secret_len == 0 || header == NULL
        || header_len != BC_META_SIG_LEN
        || memcmp(header, "sha256=", 7) != 0
        || (body == NULL && body_len != 0))
    {
        return 0;
    }

    bad = 0;
    for (i = 0; i < 32; i++) {
        hi = bc_hex_value((unsigned char) header[7 + 2 * i]);
        lo = bc_hex_value((unsigned char) header[7 + 2 * i + 1]);
        bad |= (hi < 0) | (lo < 0);
        claimed[i] = (unsigned char) (((hi & 0x0f) << 4) | (lo & 0x0f));
    }

    if (bad) {
        return 0;
    }

    if (bc_hmac_sha256(app_secret, secret_len, body, body_len, actual) != 0) {
        return 0;
    }

    return CRYPTO_memcmp(claimed, actual, 32) == 0;
}


void
bc_meta_sign(const char *app_secret, size_t secret_len,
    const char *body, size_t body_len, char out[BC_META_SIG_LEN + 1])
{
    static const char  hex[] = "0123456789abcdef";
    unsigned char      mac[32];
    size_t             i;

    memcpy(out, "sha256=", 7);

    if (bc_hmac_sha256(app_secret, secret_len, body, body_len, mac) != 0) {
        /* cannot happen with a working libcrypto; never match anything */
        memset(out + 7, 'x', 64);
        out[BC_META_SIG_LEN] = '\0';
        return;
    }

    for (i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[mac[i] >> 4];
        out[7 + 2 * i + 1] = hex[mac[i] & 0x0f];
    }

    out[BC_META_SIG_LEN] = '\0';
}

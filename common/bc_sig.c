/*
 * The shared crypto helpers behind the provider signatures (OpenSSL
 * libcrypto): the per-thread HMAC contexts, constant-time comparison,
 * SHA-256, random tokens and base64. The providers' own signature code is
 * in bc_sig_twilio.c, bc_sig_meta.c and bc_sig_sendgrid.c.
 */
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "bc_sig.h"
#include "bc_sig_hmac.h"


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
 * be had (then bc_hmac() falls back to the one-shot call).
 */
EVP_MAC_CTX *
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
int
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


/* the label keeps this MAC from equalling any other use of the token */
#define BC_CSRF_LABEL  "broadcast-csrf-v1"

int
bc_csrf_token(const char *session, size_t len, char out[65])
{
    static const char  hex[] = "0123456789abcdef";
    unsigned char      mac[32];
    unsigned int       i;

    if (bc_hmac(1, session, len, BC_CSRF_LABEL, sizeof(BC_CSRF_LABEL) - 1,
                mac, sizeof(mac))
        != 0)
    {
        out[0] = '\0';
        return -1;
    }

    for (i = 0; i < 32; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 0x0f];
    }

    out[64] = '\0';

    return 0;
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


/* strict base64 decoding (bc_base64_decode_into) */

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


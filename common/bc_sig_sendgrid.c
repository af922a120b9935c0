/*
 * SendGrid's signed Event Webhook: ECDSA P-256 with SHA-256 over the
 * timestamp and the raw body; key loading, verification, and the signing
 * and key generation the simulator uses (bc_sig.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "bc_sig.h"


/* no key, signature or SPKI we accept is anywhere near this long */
#define BC_B64_MAX  16384



static void
bc_set_err(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0) {
        snprintf(err, errlen, "%s", msg);
    }
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

/*
 * Meta's (WhatsApp Cloud API) X-Hub-Signature-256: HMAC-SHA256 of the raw
 * body keyed with the app secret (bc_sig.h).
 */
#include <string.h>

#include <openssl/crypto.h>

#include "bc_sig.h"
#include "bc_sig_hmac.h"


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

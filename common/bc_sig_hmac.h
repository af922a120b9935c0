/*
 * The HMAC helpers the provider signature files share (bc_sig.c). Not part
 * of the public API in bc_sig.h: only common/bc_sig*.c include this.
 */
#ifndef BC_SIG_HMAC_H
#define BC_SIG_HMAC_H

#include <stddef.h>

#include <openssl/evp.h>

/*
 * This thread's HMAC context for the digest (SHA-256 if sha256, else SHA-1)
 * and key, re-initialised and ready for EVP_MAC_update(); NULL if none can
 * be had (then bc_hmac() falls back to the one-shot call).
 */
EVP_MAC_CTX *bc_hmac_ctx(int sha256, const void *key_data, size_t key_len);

/* HMAC-SHA1 (mac_len 20) or HMAC-SHA256 (32); returns 0, or -1 */
int bc_hmac(int sha256, const char *key, size_t key_len, const char *data,
    size_t data_len, unsigned char *mac, size_t mac_len);

#endif /* BC_SIG_HMAC_H */

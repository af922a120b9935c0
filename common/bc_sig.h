/*
 * Provider signatures and small crypto helpers (OpenSSL libcrypto).
 * Shared by the nginx module, the sender, the simulator and the unit tests.
 */
#ifndef BC_SIG_H
#define BC_SIG_H

#include <stddef.h>

#include "bc_form.h"

/* base64 of a 20-byte HMAC-SHA1 is 28 chars */
#define BC_TWILIO_SIG_LEN  28

/*
 * Twilio X-Twilio-Signature: base64(HMAC-SHA1(token, url + concat(sorted
 * name+value))). Params are sorted by name, then value (twilio-node), in
 * place. out gets BC_TWILIO_SIG_LEN chars and a NUL. Returns 0 on success.
 */
int bc_twilio_sign(const char *token, size_t token_len,
    const char *url, size_t url_len, bc_kv_t *params, size_t nparams,
    char out[BC_TWILIO_SIG_LEN + 1]);

/*
 * Verifies sig against url as given and against the url with the default
 * port added (or removed if present), as twilio-node does. Compares in
 * constant time. Returns 1 if valid, 0 if not.
 */
int bc_twilio_verify(const char *token, size_t token_len,
    const char *url, size_t url_len, bc_kv_t *params, size_t nparams,
    const char *sig, size_t sig_len);

/*
 * JSON-body variant: url carries bodySHA256=<hex sha256(body)>; the url alone
 * is signed. Returns 1 if the signature and the body hash both match.
 */
int bc_twilio_verify_json(const char *token, size_t token_len,
    const char *url, size_t url_len, const char *body, size_t body_len,
    const char *sig, size_t sig_len);

/* constant-time equality of two byte strings (length leak only) */
int bc_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* lowercase hex SHA-256, out has 64 chars + NUL */
void bc_sha256_hex(const void *data, size_t len, char out[65]);

/*
 * A fresh random credential: prefix + 43 chars of base64url (32 random bytes
 * from RAND_bytes). out must hold strlen(prefix) + 44 bytes. Returns 0 on
 * success.
 */
int bc_random_token(const char *prefix, char *out, size_t outlen);

/* base64 (standard alphabet, padded) of len bytes; returns chars written */
size_t bc_base64_encode(const unsigned char *in, size_t len, char *out,
    size_t outlen);

#endif /* BC_SIG_H */

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
 * Sorts params into the order Twilio signs them: by name, then by value
 * (twilio-node), in place. bc_twilio_sign does it itself; exported for
 * callers that compute the HMAC with a context of their own.
 */
void bc_twilio_sort_params(bc_kv_t *params, size_t nparams);

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
 * The CSRF token of a session: lowercase hex HMAC-SHA256 keyed with the raw
 * session token over a fixed label, so nothing more is stored and it is
 * worthless without the (HttpOnly) cookie. 0, or -1 on a crypto failure.
 */
int bc_csrf_token(const char *session, size_t len, char out[65]);

/*
 * A fresh random credential: prefix + 43 chars of base64url (32 random bytes
 * from RAND_bytes). out must hold strlen(prefix) + 44 bytes. Returns 0 on
 * success.
 */
int bc_random_token(const char *prefix, char *out, size_t outlen);

/* base64 (standard alphabet, padded) of len bytes; returns chars written */
size_t bc_base64_encode(const unsigned char *in, size_t len, char *out,
    size_t outlen);

/* --- SendGrid signed Event Webhook (ECDSA P-256, SHA-256) --------------- */

/*
 * Strict base64: the standard alphabet, padded to whole quartets, ASCII
 * whitespace ignored, '=' only at the end. Decodes into out (cap bytes);
 * 0 and *outn, or -1 if malformed or too long. No allocation.
 */
int bc_base64_decode_into(const char *in, size_t len, unsigned char *out,
    size_t cap, size_t *outn);

/*
 * Loads the verification key as SendGrid shows it: base64 of a DER
 * SubjectPublicKeyInfo (no PEM armour; ASCII whitespace is ignored). The
 * key must be an EC key on P-256. Returns an EVP_PKEY * as void * (free with
 * bc_sendgrid_key_free), or NULL with a sentence in err.
 */
void *bc_sendgrid_key_load(const char *b64_spki, size_t len, char *err,
    size_t errlen);

/* frees a key from bc_sendgrid_key_load or bc_sendgrid_private_key_load */
void bc_sendgrid_key_free(void *key);

/*
 * X-Twilio-Email-Event-Webhook-Signature check: ECDSA P-256 with SHA-256
 * over timestamp || raw body (exact bytes), signature base64 of DER. Safe
 * to call from several threads with one key. Returns 1 valid, 0 not.
 */
int bc_sendgrid_verify(void *key, const char *timestamp, size_t ts_len,
    const char *body, size_t body_len, const char *sig_b64, size_t sig_len);

/*
 * 1 if ts is a decimal unix time (digits only) within tolerance_s seconds
 * of now, in either direction; 0 otherwise.
 */
int bc_sendgrid_timestamp_fresh(const char *ts, size_t len, long now,
    long tolerance_s);

/*
 * For the simulator: base64 of a PKCS#8 DER P-256 private key. Returns an
 * EVP_PKEY * as void * (free with bc_sendgrid_key_free), or NULL with err.
 */
void *bc_sendgrid_private_key_load(const char *b64_pkcs8_der, size_t len,
    char *err, size_t errlen);

/*
 * Signs timestamp || body as SendGrid does; out_b64 gets the base64 DER
 * signature and a NUL (at most 97 bytes; 100 is enough). Returns 0, or -1.
 */
int bc_sendgrid_sign(void *private_key, const char *ts, size_t ts_len,
    const char *body, size_t body_len, char *out_b64, size_t outlen);

/*
 * A fresh P-256 key pair: pub_b64 gets base64 DER SubjectPublicKeyInfo
 * (124 chars + NUL), priv_b64 base64 PKCS#8 DER (about 188 chars + NUL;
 * 256 is enough). Returns 0, or -1.
 */
int bc_sendgrid_keypair_generate(char *pub_b64, size_t publen,
    char *priv_b64, size_t privlen);

/* --- Meta (WhatsApp Cloud API) X-Hub-Signature-256 ---------------------- */

#define BC_META_SIG_LEN  (7 + 64)   /* "sha256=" + 64 hex */

/*
 * header is "sha256=<64 hex>" (either case of hex): HMAC-SHA256 keyed with
 * the app secret over the raw body, compared in constant time. An empty
 * secret never verifies. Returns 1 valid, 0 not.
 */
int bc_meta_verify(const char *app_secret, size_t secret_len,
    const char *body, size_t body_len, const char *header, size_t header_len);

/* writes "sha256=<lowercase hex>" and a NUL, as Meta sends it */
void bc_meta_sign(const char *app_secret, size_t secret_len,
    const char *body, size_t body_len, char out[BC_META_SIG_LEN + 1]);

#endif /* BC_SIG_H */

/*
 * Encryption at rest (docs/DESIGN.md, "Privacy"): AES-256-GCM with a random
 * 96-bit IV per value, the key id stored with each value so keys rotate.
 * Shared by the module (reads), the sender (writes) and broadcastctl
 * (rotate-key, erase tooling).
 *
 * Stored form, text so every existing TEXT column keeps it:
 *
 *     $bce1$<key_id>$<base64(iv[12] | ciphertext | tag[16])>
 *
 * A value without that form is plaintext (rows written before a key file
 * was configured, or by a stack without one) and reads as it is, so a table
 * may mix both during an upgrade or a rotation. The additional data of the
 * GCM tag is the "$bce1$<key_id>$" prefix: a value moved to another key id
 * fails its check.
 *
 * Key file: one key per line, "<key_id> <base64 of 32 bytes>"; '#' lines
 * and blank lines are skipped; the LAST key is the current one (encrypts),
 * every key decrypts. A ring is read-only once loaded: threads share it.
 */
#ifndef BC_CRYPT_H
#define BC_CRYPT_H

#include <stddef.h>

#define BC_CRYPT_PREFIX      "$bce1$"
#define BC_CRYPT_KEY_LEN     32
#define BC_CRYPT_KID_MAX     32

typedef struct {
    char           kid[BC_CRYPT_KID_MAX + 1];
    unsigned char  key[BC_CRYPT_KEY_LEN];
} bc_crypt_key_t;

typedef struct {
    bc_crypt_key_t  *keys;
    size_t           nkeys;
    size_t           current;     /* index of the key that encrypts */
} bc_crypt_ring_t;

/* bc_crypt_open results */
#define BC_CRYPT_PLAIN        0   /* not sealed: *out is a copy */
#define BC_CRYPT_OK           1   /* sealed and authentic: *out is the text */
#define BC_CRYPT_NO_KEY      -1   /* sealed with a key id the ring lacks */
#define BC_CRYPT_TAMPERED    -2   /* the tag does not match: altered value */
#define BC_CRYPT_ERROR       -3   /* out of memory, OpenSSL failure */

/*
 * Adds the keys of a key file to ring; its last key becomes the current
 * one. A key id already in the ring with other bytes is an error (two files
 * must not disagree). 0, or -1 with err set (the line number and what is
 * wrong).
 */
int bc_crypt_ring_load(bc_crypt_ring_t *ring, const char *path, char *err,
    size_t errlen);

void bc_crypt_ring_free(bc_crypt_ring_t *ring);

/* the process-wide ring every reader decrypts with (empty until loaded) */
bc_crypt_ring_t *bc_crypt_default(void);

/* 1 if the ring has a current key (values are sealed), else 0 */
int bc_crypt_enabled(const bc_crypt_ring_t *ring);

/* 1 if s[0..len) has the sealed form's prefix */
int bc_crypt_is_sealed(const char *s, size_t len);

/* 1 if s is sealed under the ring's current key */
int bc_crypt_is_current(const bc_crypt_ring_t *ring, const char *s,
    size_t len);

/*
 * Seals p[0..len) with the current key into a malloc'd NUL-terminated
 * string (*outlen its length). Without a current key it is a copy of p
 * (plaintext, as before key files existed). NULL on failure.
 */
char *bc_crypt_seal(const bc_crypt_ring_t *ring, const char *p, size_t len,
    size_t *outlen);

/*
 * Opens a stored value: *out is a malloc'd NUL-terminated copy of the text
 * (BC_CRYPT_PLAIN, BC_CRYPT_OK) or NULL (the errors above).
 */
int bc_crypt_open(const bc_crypt_ring_t *ring, const char *s, size_t len,
    char **out, size_t *outlen);

/* a short sentence for a bc_crypt_open error */
const char *bc_crypt_strerror(int rc);

/*
 * Salted SHA-256 (hex, 64 chars + NUL) of an address already normalised
 * (+E164, lower-cased e-mail): how an erased person's opt-out and audit row
 * name them without the address.
 */
void bc_crypt_address_hash(const char *salt, const char *addr,
    char out[65]);

#endif /* BC_CRYPT_H */

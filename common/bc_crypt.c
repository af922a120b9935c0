/*
 * AES-256-GCM sealing of stored personal text (bc_crypt.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "bc_crypt.h"


#define BC_CRYPT_IV_LEN   12
#define BC_CRYPT_TAG_LEN  16
#define BC_CRYPT_PLEN     (sizeof(BC_CRYPT_PREFIX) - 1)


static bc_crypt_ring_t  bc_crypt_ring;


bc_crypt_ring_t *
bc_crypt_default(void)
{
    return &bc_crypt_ring;
}


int
bc_crypt_enabled(const bc_crypt_ring_t *ring)
{
    return ring != NULL && ring->nkeys > 0;
}


void
bc_crypt_ring_free(bc_crypt_ring_t *ring)
{
    if (ring->keys != NULL) {
        OPENSSL_cleanse(ring->keys, ring->nkeys * sizeof(bc_crypt_key_t));
        free(ring->keys);
    }
    memset(ring, 0, sizeof(*ring));
}


static int
bc_crypt_kid_char(int c)
{
    return isalnum(c) || c == '_' || c == '-' || c == '.';
}


/* standard base64 (with padding) of src into dst; returns the length */
static size_t
bc_crypt_b64_encode(char *dst, const unsigned char *src, size_t len)
{
    return (size_t) EVP_EncodeBlock((unsigned char *) dst, src, (int) len);
}


/* decodes padded base64; -1 if malformed, else the byte length */
static long
bc_crypt_b64_decode(unsigned char *dst, const char *src, size_t len)
{
    int     n;
    size_t  pad = 0;

    if (len == 0 || len % 4 != 0) {
        return -1;
    }
    if (src[len - 1] == '=') {
        pad++;
        if (src[len - 2] == '=') {
            pad++;
        }
    }
    n = EVP_DecodeBlock(dst, (const unsigned char *) src, (int) len);
    if (n < 0 || (size_t) n < pad) {
        return -1;
    }
    return (long) ((size_t) n - pad);
}


static const bc_crypt_key_t *
bc_crypt_find(const bc_crypt_ring_t *ring, const char *kid, size_t len)
{
    size_t  i;

    for (i = 0; ring != NULL && i < ring->nkeys; i++) {
        if (strlen(ring->keys[i].kid) == len
            && memcmp(ring->keys[i].kid, kid, len) == 0)
        {
            return &ring->keys[i];
        }
    }
    return NULL;
}


/* one key line "<kid> <base64>" into *k; 0, or -1 with why */
static int
bc_crypt_parse_line(char *line, bc_crypt_key_t *k, const char **why)
{
    char           *p = line, *kid, *b64, *end;
    unsigned char   raw[64];
    long            n;

    kid = p;
    while (*p && bc_crypt_kid_char((unsigned char) *p)) {
        p++;
    }
    if (p == kid || (size_t) (p - kid) > BC_CRYPT_KID_MAX
        || (*p != ' ' && *p != '\t'))
    {
        *why = "a key id is 1 to 32 of A-Z a-z 0-9 _ - . followed by a space";
        return -1;
    }
    memcpy(k->kid, kid, (size_t) (p - kid));
    k->kid[p - kid] = '\0';
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    b64 = p;
    end = b64 + strlen(b64);
    while (end > b64 && isspace((unsigned char) end[-1])) {
        *--end = '\0';
    }
    if ((size_t) (end - b64) > 64
        || (n = bc_crypt_b64_decode(raw, b64, (size_t) (end - b64)))
           != BC_CRYPT_KEY_LEN)
    {
        *why = "the key must be the base64 of exactly 32 bytes";
        return -1;
    }
    memcpy(k->key, raw, BC_CRYPT_KEY_LEN);
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}


/* adds k (or checks it against the same id); its index, or -1 */
static long
bc_crypt_ring_add(bc_crypt_ring_t *ring, const bc_crypt_key_t *k)
{
    const bc_crypt_key_t  *old;
    bc_crypt_key_t        *keys;

    old = bc_crypt_find(ring, k->kid, strlen(k->kid));
    if (old != NULL) {
        return memcmp(old->key, k->key, BC_CRYPT_KEY_LEN) == 0
               ? (long) (old - ring->keys) : -1;
    }
    keys = realloc(ring->keys, (ring->nkeys + 1) * sizeof(bc_crypt_key_t));
    if (keys == NULL) {
        return -1;
    }
    ring->keys = keys;
    keys[ring->nkeys] = *k;
    return (long) ring->nkeys++;
}


int
bc_crypt_ring_load(bc_crypt_ring_t *ring, const char *path, char *err,
    size_t errlen)
{
    FILE            *f;
    char             line[512], *p;
    const char      *why;
    unsigned         lineno = 0;
    long             idx, last = -1;
    bc_crypt_key_t   k;

    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open the key file \"%s\"", path);
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        for (p = line; *p == ' ' || *p == '\t'; p++) { /* void */ }
        if (*p == '#' || *p == '\n' || *p == '\r' || *p == '\0') {
            continue;
        }
        if (bc_crypt_parse_line(p, &k, &why) != 0) {
            snprintf(err, errlen, "%s line %u: %s", path, lineno, why);
            goto failed;
        }
        idx = bc_crypt_ring_add(ring, &k);
        OPENSSL_cleanse(&k, sizeof(k));
        if (idx < 0) {
            snprintf(err, errlen, "%s line %u: key id \"%.32s\" is already "
                     "loaded with other bytes", path, lineno, line);
            goto failed;
        }
        last = idx;
    }
    fclose(f);
    if (last < 0) {
        snprintf(err, errlen, "the key file \"%s\" holds no key", path);
        return -1;
    }
    ring->current = (size_t) last;
    return 0;

failed:
    fclose(f);
    return -1;
}


int
bc_crypt_is_sealed(const char *s, size_t len)
{
    return s != NULL && len > BC_CRYPT_PLEN
           && memcmp(s, BC_CRYPT_PREFIX, BC_CRYPT_PLEN) == 0;
}


/* the key id of a sealed value: its start and length, or NULL */
static const char *
bc_crypt_kid_of(const char *s, size_t len, size_t *kidlen)
{
    const char  *kid, *end;

    if (!bc_crypt_is_sealed(s, len)) {
        return NULL;
    }
    kid = s + BC_CRYPT_PLEN;
    end = memchr(kid, '$', len - BC_CRYPT_PLEN);
    if (end == NULL || end == kid || end - kid > BC_CRYPT_KID_MAX) {
        return NULL;
    }
    *kidlen = (size_t) (end - kid);
    return kid;
}


int
bc_crypt_is_current(const bc_crypt_ring_t *ring, const char *s, size_t len)
{
    const char  *kid;
    size_t       kidlen;

    if (!bc_crypt_enabled(ring)) {
        return !bc_crypt_is_sealed(s, len);
    }
    kid = bc_crypt_kid_of(s, len, &kidlen);
    return kid != NULL && kidlen == strlen(ring->keys[ring->current].kid)
           && memcmp(kid, ring->keys[ring->current].kid, kidlen) == 0;
}


static char *
bc_crypt_copy(const char *p, size_t len, size_t *outlen)
{
    char  *out = malloc(len + 1);

    if (out != NULL) {
        memcpy(out, p, len);
        out[len] = '\0';
        *outlen = len;
    }
    return out;
}


char *
bc_crypt_seal(const bc_crypt_ring_t *ring, const char *p, size_t len,
    size_t *outlen)
{
    const bc_crypt_key_t  *k;
    EVP_CIPHER_CTX        *c = NULL;
    unsigned char         *raw = NULL;
    char                  *out = NULL;
    size_t                 hdr, rawlen;
    int                    n, fin;

    if (!bc_crypt_enabled(ring)) {
        return bc_crypt_copy(p, len, outlen);
    }
    k = &ring->keys[ring->current];
    rawlen = BC_CRYPT_IV_LEN + len + BC_CRYPT_TAG_LEN;
    raw = malloc(rawlen);
    out = malloc(BC_CRYPT_PLEN + BC_CRYPT_KID_MAX + 2 + (rawlen + 2) / 3 * 4
                 + 1);
    c = EVP_CIPHER_CTX_new();
    if (raw == NULL || out == NULL || c == NULL
        || RAND_bytes(raw, BC_CRYPT_IV_LEN) != 1)
    {
        goto failed;
    }
    hdr = (size_t) sprintf(out, BC_CRYPT_PREFIX "%s$", k->kid);
    if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1
        || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, BC_CRYPT_IV_LEN,
                               NULL) != 1
        || EVP_EncryptInit_ex(c, NULL, NULL, k->key, raw) != 1
        || EVP_EncryptUpdate(c, NULL, &n, (unsigned char *) out, (int) hdr)
           != 1
        || EVP_EncryptUpdate(c, raw + BC_CRYPT_IV_LEN, &n,
                             (const unsigned char *) p, (int) len) != 1
        || EVP_EncryptFinal_ex(c, raw + BC_CRYPT_IV_LEN + n, &fin) != 1
        || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, BC_CRYPT_TAG_LEN,
                               raw + BC_CRYPT_IV_LEN + len) != 1)
    {
        goto failed;
    }
    *outlen = hdr + bc_crypt_b64_encode(out + hdr, raw, rawlen);
    EVP_CIPHER_CTX_free(c);
    free(raw);
    return out;

failed:
    EVP_CIPHER_CTX_free(c);
    free(raw);
    free(out);
    return NULL;
}


/* decrypts raw (iv | ct | tag) with k, hdr as additional data */
static int
bc_crypt_decrypt(const bc_crypt_key_t *k, const char *hdr, size_t hdrlen,
    unsigned char *raw, size_t rawlen, char **out, size_t *outlen)
{
    EVP_CIPHER_CTX  *c;
    size_t           ctlen = rawlen - BC_CRYPT_IV_LEN - BC_CRYPT_TAG_LEN;
    char            *text;
    int              n, fin, rc = BC_CRYPT_ERROR;

    text = malloc(ctlen + 1);
    c = EVP_CIPHER_CTX_new();
    if (text == NULL || c == NULL) {
        goto done;
    }
    if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1
        || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, BC_CRYPT_IV_LEN,
                               NULL) != 1
        || EVP_DecryptInit_ex(c, NULL, NULL, k->key, raw) != 1
        || EVP_DecryptUpdate(c, NULL, &n, (const unsigned char *) hdr,
                             (int) hdrlen) != 1
        || EVP_DecryptUpdate(c, (unsigned char *) text, &n,
                             raw + BC_CRYPT_IV_LEN, (int) ctlen) != 1
        || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, BC_CRYPT_TAG_LEN,
                               raw + rawlen - BC_CRYPT_TAG_LEN) != 1)
    {
        goto done;
    }
    if (EVP_DecryptFinal_ex(c, (unsigned char *) text + n, &fin) != 1) {
        rc = BC_CRYPT_TAMPERED;
        goto done;
    }
    text[ctlen] = '\0';
    *out = text;
    *outlen = ctlen;
    text = NULL;
    rc = BC_CRYPT_OK;

done:
    EVP_CIPHER_CTX_free(c);
    free(text);
    return rc;
}


int
bc_crypt_open(const bc_crypt_ring_t *ring, const char *s, size_t len,
    char **out, size_t *outlen)
{
    const bc_crypt_key_t  *k;
    const char            *kid, *b64;
    unsigned char         *raw;
    size_t                 kidlen, hdrlen;
    long                   rawlen;
    int                    rc;

    *out = NULL;
    kid = bc_crypt_kid_of(s, len, &kidlen);
    if (kid == NULL) {
        *out = bc_crypt_copy(s, len, outlen);
        return *out ? BC_CRYPT_PLAIN : BC_CRYPT_ERROR;
    }
    k = bc_crypt_find(ring, kid, kidlen);
    if (k == NULL) {
        return BC_CRYPT_NO_KEY;
    }
    b64 = kid + kidlen + 1;
    hdrlen = (size_t) (b64 - s);
    raw = malloc((len - hdrlen) / 4 * 3 + 3);
    if (raw == NULL) {
        return BC_CRYPT_ERROR;
    }
    rawlen = bc_crypt_b64_decode(raw, b64, len - hdrlen);
    if (rawlen < BC_CRYPT_IV_LEN + BC_CRYPT_TAG_LEN) {
        free(raw);
        return BC_CRYPT_TAMPERED;
    }
    rc = bc_crypt_decrypt(k, s, hdrlen, raw, (size_t) rawlen, out, outlen);
    free(raw);
    return rc;
}


const char *
bc_crypt_strerror(int rc)
{
    switch (rc) {
    case BC_CRYPT_NO_KEY:
        return "encrypted with a key that is not in the key file";
    case BC_CRYPT_TAMPERED:
        return "the stored value failed its integrity check";
    default:
        return "the stored value could not be decrypted";
    }
}


void
bc_crypt_address_hash(const char *salt, const char *addr, char out[65])
{
    static const char  hex[] = "0123456789abcdef";
    unsigned char      md[32];
    unsigned int       mdlen = 0, i;
    EVP_MD_CTX        *c;

    c = EVP_MD_CTX_new();
    if (c == NULL
        || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(c, salt, strlen(salt)) != 1
        || EVP_DigestUpdate(c, ":", 1) != 1
        || EVP_DigestUpdate(c, addr, strlen(addr)) != 1
        || EVP_DigestFinal_ex(c, md, &mdlen) != 1)
    {
        mdlen = 0;
    }
    EVP_MD_CTX_free(c);
    memset(md + mdlen, 0, sizeof(md) - mdlen);
    for (i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

/*
 * ULIDs for message and batch ids.
 */
#ifndef BC_ID_H
#define BC_ID_H

#define BC_ULID_LEN  26

/* writes 26 Crockford base32 chars and a NUL; returns 0, -1 on RNG failure */
int bc_ulid(char out[BC_ULID_LEN + 1]);

/*
 * The ULID of a millisecond timestamp and 10 random bytes: 26 chars and a
 * NUL. For callers that draw their random bytes their own way.
 */
void bc_ulid_encode(unsigned long long ms, const unsigned char rnd[10],
    char out[BC_ULID_LEN + 1]);

/* 1 if s (len chars) is a syntactically valid ULID */
int bc_ulid_valid(const char *s, unsigned long len);

#endif /* BC_ID_H */

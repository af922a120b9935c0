/*
 * ULIDs for message and batch ids: 48-bit ms timestamp + 80 random bits,
 * 26 chars of Crockford base32.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "bc_id.h"


static const char  bc_crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";


void
bc_ulid_encode(unsigned long long ms, const unsigned char rnd[10],
    char out[BC_ULID_LEN + 1])
{
    uint64_t  bits;
    int       i, nbits, pos;

    /* 10 chars of timestamp: 50 bits, the top two are zero */
    for (i = 9; i >= 0; i--) {
        out[i] = bc_crockford[ms & 0x1f];
        ms >>= 5;
    }

    /* 16 chars of randomness: exactly 80 bits, 5 at a time, MSB first */
    bits = 0;
    nbits = 0;
    pos = 10;

    for (i = 0; i < 10; i++) {
        bits = bits << 8 | rnd[i];
        nbits += 8;

        while (nbits >= 5) {
            nbits -= 5;
            out[pos++] = bc_crockford[(bits >> nbits) & 0x1f];
        }
    }

    out[BC_ULID_LEN] = '\0';
}


int
bc_ulid(char out[BC_ULID_LEN + 1])
{
    struct timespec  ts;
    unsigned char    rnd[10];

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        return -1;
    }

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return -1;
    }

    bc_ulid_encode((unsigned long long) ts.tv_sec * 1000
                   + (unsigned long long) ts.tv_nsec / 1000000, rnd, out);

    return 0;
}


int
bc_ulid_valid(const char *s, unsigned long len)
{
    unsigned long  i;

    if (s == NULL || len != BC_ULID_LEN) {
        return 0;
    }

    /* the first char holds only 3 bits: anything above '7' overflows */
    if (s[0] < '0' || s[0] > '7') {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (s[i] == '\0' || strchr(bc_crockford, s[i]) == NULL) {
            return 0;
        }
    }

    return 1;
}

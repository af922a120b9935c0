/*
 * libFuzzer target: bc_crypt_open on any stored value (a column someone
 * could have altered), with a ring of two keys; what opens re-seals and
 * opens to the same text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bc_crypt.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static bc_crypt_ring_t *
fuzz_ring(void)
{
    static bc_crypt_key_t   keys[2];
    static bc_crypt_ring_t  ring = { keys, 2, 1 };

    if (keys[0].kid[0] == '\0') {
        strcpy(keys[0].kid, "k1");
        strcpy(keys[1].kid, "k2");
        memset(keys[0].key, 1, BC_CRYPT_KEY_LEN);
        memset(keys[1].key, 2, BC_CRYPT_KEY_LEN);
    }
    return &ring;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bc_crypt_ring_t  *ring = fuzz_ring();
    char             *text, *sealed, *again;
    size_t            tlen, slen, alen;

    if (bc_crypt_open(ring, (const char *) data, size, &text, &tlen) < 0) {
        return 0;
    }
    sealed = bc_crypt_seal(ring, text, tlen, &slen);
    if (sealed != NULL) {
        if (bc_crypt_open(ring, sealed, slen, &again, &alen) != BC_CRYPT_OK
            || alen != tlen || memcmp(again, text, tlen) != 0)
        {
            abort();
        }
        free(again);
        free(sealed);
    }
    free(text);
    return 0;
}

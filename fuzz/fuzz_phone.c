/*
 * libFuzzer target: bc_phone_normalize. The first two bytes are the
 * default region.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bc_phone.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char         region[3], out[BC_PHONE_MAX], *copy;
    const char  *reason;
    size_t       n;

    if (size < 2) {
        return 0;
    }

    region[0] = (char) data[0];
    region[1] = (char) data[1];
    region[2] = '\0';

    n = size - 2;
    copy = malloc(n ? n : 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data + 2, n);
    reason = NULL;

    if (bc_phone_normalize(copy, n, region, out, &reason) == 0) {
        if (out[0] != '+' || strlen(out) >= BC_PHONE_MAX) {
            abort();
        }

    } else if (reason == NULL) {
        abort();
    }

    (void) bc_phone_normalize(copy, n, "US", out, &reason);
    (void) bc_phone_region_valid(region);

    free(copy);

    return 0;
}

/*
 * libFuzzer target: bc_form_parse, bc_form_get and bc_query_get.
 * Input: the first byte picks a name length; that many bytes are the name,
 * the rest is the body / query string.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bc_form.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bc_form_t    form;
    char         name[64], out[256], dec[512];
    const char  *body, *v;
    size_t       nlen, blen, i, outn;
    char        *copy;

    if (size == 0) {
        return 0;
    }

    nlen = data[0] % sizeof(name);
    if (nlen > size - 1) {
        nlen = size - 1;
    }

    memcpy(name, data + 1, nlen);
    name[nlen] = '\0';

    /* an exact-size heap copy, so ASan sees any overread */
    blen = size - 1 - nlen;
    copy = malloc(blen ? blen : 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data + 1 + nlen, blen);
    body = copy;

    if (bc_form_parse(body, blen, &form) == 0) {
        for (i = 0; i < form.n; i++) {
            /* touch every byte of every item */
            if (form.items[i].name_len > 0) {
                (void) memchr(form.items[i].name, 0x7f,
                              form.items[i].name_len);
            }

            if (form.items[i].value_len > 0) {
                (void) memchr(form.items[i].value, 0x7f,
                              form.items[i].value_len);
            }
        }

        v = bc_form_get(&form, name);
        if (v != NULL) {
            (void) strlen(v);
        }

        bc_form_free(&form);
    }

    (void) bc_query_get(body, blen, name, out, sizeof(out));
    (void) bc_query_get(body, blen, name, out, 1 + data[0] % 8);
    (void) bc_url_decode(body, blen, dec, sizeof(dec), &outn);

    free(copy);

    return 0;
}

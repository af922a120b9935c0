/*
 * libFuzzer target: bc_twilio_verify (and the JSON variant).
 * Input: token \0 url \0 signature \0 urlencoded params.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bc_form.h"
#include "bc_sig.h"
#include "fuzz_field.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t  *p = data;
    size_t          left = size, tlen, ulen, slen, blen;
    char           *token, *url, *sig, *body;
    bc_form_t       form;
    char            good[BC_TWILIO_SIG_LEN + 1];

    token = field(&p, &left, &tlen);
    url = field(&p, &left, &ulen);
    sig = field(&p, &left, &slen);
    body = field(&p, &left, &blen);

    if (token && url && sig && body) {
        if (bc_form_parse(body, blen, &form) == 0) {
            (void) bc_twilio_verify(token, tlen, url, ulen, form.items,
                                    form.n, sig, slen);

            /* a signature we made must verify */
            if (bc_twilio_sign(token, tlen, url, ulen, form.items, form.n,
                               good) == 0
                && !bc_twilio_verify(token, tlen, url, ulen, form.items,
                                     form.n, good, BC_TWILIO_SIG_LEN))
            {
                abort();
            }

            bc_form_free(&form);
        }

        (void) bc_twilio_verify(token, tlen, url, ulen, NULL, 0, sig, slen);
        (void) bc_twilio_verify_json(token, tlen, url, ulen, body, blen, sig,
                                     slen);
    }

    free(token);
    free(url);
    free(sig);
    free(body);

    return 0;
}

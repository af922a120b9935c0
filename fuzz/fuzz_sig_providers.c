/*
 * libFuzzer target: the SendGrid and Meta webhook checks (the base64 and hex
 * decoders, key loading). Input: selector byte, then a \0 separated
 * timestamp, signature/header and body.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bc_sig.h"
#include "fuzz_field.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


#define SG_PUBLIC_KEY                                                        \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqI"  \
    "M8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="

static void  *key;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t  *p;
    size_t          left, tlen, slen, blen;
    char           *ts, *sig, *body, err[128];
    char            meta[BC_META_SIG_LEN + 1];
    void           *k;

    if (size == 0) {
        return 0;
    }

    if (key == NULL) {
        key = bc_sendgrid_key_load(SG_PUBLIC_KEY, strlen(SG_PUBLIC_KEY), err,
                                   sizeof(err));
        if (key == NULL) {
            abort();
        }
    }

    p = data + 1;
    left = size - 1;

    ts = field(&p, &left, &tlen);
    sig = field(&p, &left, &slen);
    body = field(&p, &left, &blen);

    if (ts && sig && body) {
        switch (data[0] % 4) {

        case 0:
            (void) bc_sendgrid_verify(key, ts, tlen, body, blen, sig, slen);
            break;

        case 1:
            k = bc_sendgrid_key_load(sig, slen, err, sizeof(err));
            bc_sendgrid_key_free(k);
            k = bc_sendgrid_private_key_load(sig, slen, err, sizeof(err));
            bc_sendgrid_key_free(k);
            break;

        case 2:
            (void) bc_sendgrid_timestamp_fresh(ts, tlen, 1600000000L, 300);
            (void) bc_meta_verify(ts, tlen, body, blen, sig, slen);
            break;

        default:
            bc_meta_sign(ts, tlen, body, blen, meta);
            if (tlen > 0
                && !bc_meta_verify(ts, tlen, body, blen, meta,
                                   BC_META_SIG_LEN))
            {
                abort();
            }
            break;
        }
    }

    free(ts);
    free(sig);
    free(body);

    return 0;
}

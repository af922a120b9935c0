/*
 * SendGrid signed Event Webhook and Meta X-Hub-Signature-256.
 * SendGrid vector: sendgrid-python test/unit/test_eventwebhook.py.
 * Meta vectors: computed independently with
 *   printf '%s' BODY | openssl dgst -sha256 -hmac SECRET
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "bc_unit.h"
#include "bc_sig.h"


#define SG_PUBLIC_KEY                                                        \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqI"  \
    "M8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="

#define SG_OTHER_KEY                                                         \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZ"  \
    "kLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA=="

#define SG_SIGNATURE                                                         \
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0J"  \
    "uG+luQAbPIqHh89M15TluLtEZtM="

#define SG_BAD_SIGNATURE                                                     \
    "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6"  \
    "BpSzoQsbVRamr2nlxFDWYNH3j/0="

#define SG_TIMESTAMP  "1600112502"

/* json.dumps(..., sort_keys=True, separators=(',', ':')) + '\r\n' */
#define SG_PAYLOAD                                                           \
    "[{\"email\":\"hello@world.com\",\"event\":\"dropped\","                 \
    "\"reason\":\"Bounced Address\","                                        \
    "\"sg_event_id\":\"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA\"," \
    "\"sg_message_id\":\"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-"         \
    "756b745b58-kmzbl-18-5F5FC76C-9.0\","                                    \
    "\"smtp-id\":\"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>\"," \
    "\"timestamp\":1600112492}]\r\n"

#define META_SECRET  "app-secret-123"

/* the wire bytes {"a":"\u00e4"}: Meta signs the escaped form */
#define META_BODY_U  "{\"a\":\"\\u00e4\"}"
#define META_SIG_U                                                           \
    "sha256=a0b0739545bf8c1a63a7fffef33df6a383547f33cedb46598e97a04977fe920a"

#define META_BODY_CRLF  "{\"object\":\"whatsapp_business_account\"}\r\n"
#define META_SIG_CRLF                                                        \
    "sha256=ba8bbe1f8a5f7ec693e7fe8e34fb680579a63e797225db8e749ed6a02f046ace"


static void *
load(const char *b64)
{
    char  err[128];

    err[0] = '\0';

    return bc_sendgrid_key_load(b64, strlen(b64), err, sizeof(err));
}


static int
sg_verify(void *key, const char *ts, const char *body, size_t body_len,
    const char *sig)
{
    return bc_sendgrid_verify(key, ts, strlen(ts), body, body_len, sig,
                              strlen(sig));
}


static void
test_sendgrid_vector(void **state)
{
    void  *key;

    (void) state;

    assert_int_equal(sizeof(SG_PAYLOAD) - 1, 327);

    key = load(SG_PUBLIC_KEY);
    assert_non_null(key);

    assert_int_equal(sg_verify(key, SG_TIMESTAMP, SG_PAYLOAD,
                               sizeof(SG_PAYLOAD) - 1, SG_SIGNATURE), 1);

    /* the trailing \r\n is signed */
    assert_int_equal(sg_verify(key, SG_TIMESTAMP, SG_PAYLOAD,
                               sizeof(SG_PAYLOAD) - 3, SG_SIGNATURE), 0);

    bc_sendgrid_key_free(key);
}


static void
test_sendgrid_tampered(void **state)
{
    char   body[sizeof(SG_PAYLOAD)];
    void  *key, *other;

    (void) state;

    key = load(SG_PUBLIC_KEY);
    assert_non_null(key);

    /* timestamp changed */
    assert_int_equal(sg_verify(key, "1600112503", SG_PAYLOAD,
                               sizeof(SG_PAYLOAD) - 1, SG_SIGNATURE), 0);
    assert_int_equal(sg_verify(key, "timestamp", SG_PAYLOAD,
                               sizeof(SG_PAYLOAD) - 1, SG_SIGNATURE), 0);
    assert_int_equal(sg_verify(key, "", SG_PAYLOAD,
                               sizeof(SG_PAYLOAD) - 1, SG_SIGNATURE), 0);

    /* payload changed by one byte */
    memcpy(body, SG_PAYLOAD, sizeof(SG_PAYLOAD));
    body[10] ^= 0x01;
    assert_int_equal(sg_verify(key, SG_TIMESTAMP, body, sizeof(body) - 1,
                               SG_SIGNATURE), 0);

    assert_int_equal(sg_verify(key, SG_TIMESTAMP, "payload", 7,
                               SG_SIGNATURE), 0);

    /* the library's other signature, and broken base64 */
    assert_int_equal(sg_verify(key, SG_TIMESTAMP, SG_PAYLOAD,
                               sizeof(SG_PAYLOAD) - 1, SG_BAD_SIGNATURE), 0);
    assert_int_equal(sg_verify(key, SG_TIMESTAMP, SG_PAYLOAD,
                               sizeof(SG_PAYLOAD) - 1, ""), 0);
    assert_int_equal(sg_verify(key, SG_TIMESTAMP, SG_PAYLOAD,
                               sizeof(SG_PAYLOAD) - 1, "MEUCIGHQ*tGj"), 0);
    assert_int_equal(sg_verify(key, SG_TIMESTAMP, SG_PAYLOAD,
                               sizeof(SG_PAYLOAD) - 1, "MEUCIGHQVtG"), 0);
    assert_int_equal(sg_verify(NULL, SG_TIMESTAMP, SG_PAYLOAD,
                               sizeof(SG_PAYLOAD) - 1, SG_SIGNATURE), 0);

    /* a valid key that did not sign it */
    other = load(SG_OTHER_KEY);
    assert_non_null(other);
    assert_int_equal(sg_verify(other, SG_TIMESTAMP, SG_PAYLOAD,
                               sizeof(SG_PAYLOAD) - 1, SG_SIGNATURE), 0);

    bc_sendgrid_key_free(other);
    bc_sendgrid_key_free(key);
}


#define PASTED                                                               \
    " MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqI"  \
    "M8kF9mN1flpVKS3GRqe62gw+\n2fNNRaINXvVpiglSI8eNEc6wEA3F+g==\r\n"


static void
test_sendgrid_bad_key(void **state)
{
    char   err[128];
    char   key[sizeof(SG_PUBLIC_KEY)];
    void  *k;

    (void) state;

    /* not base64 */
    err[0] = '\0';
    k = bc_sendgrid_key_load("not base64!", 11, err, sizeof(err));
    assert_null(k);
    assert_true(strlen(err) > 0);

    /* empty */
    err[0] = '\0';
    assert_null(bc_sendgrid_key_load("", 0, err, sizeof(err)));
    assert_true(strlen(err) > 0);

    /* base64, but not DER */
    err[0] = '\0';
    assert_null(bc_sendgrid_key_load("aGVsbG8gd29ybGQ=", 16, err,
                                     sizeof(err)));
    assert_true(strlen(err) > 0);

    /* truncated SPKI */
    err[0] = '\0';
    assert_null(bc_sendgrid_key_load(SG_PUBLIC_KEY, 64, err, sizeof(err)));
    assert_true(strlen(err) > 0);

    /* a point not on the curve */
    memcpy(key, SG_PUBLIC_KEY, sizeof(key));
    key[40] = key[40] == 'A' ? 'B' : 'A';
    assert_null(bc_sendgrid_key_load(key, strlen(key), err, sizeof(err)));

    /* a private key is not a public key */
    assert_null(bc_sendgrid_private_key_load(SG_PUBLIC_KEY,
                                             strlen(SG_PUBLIC_KEY), err,
                                             sizeof(err)));

    /* whitespace (a pasted key) is ignored; NULL err is allowed */
    k = bc_sendgrid_key_load(PASTED, sizeof(PASTED) - 1, NULL, 0);
    assert_non_null(k);
    bc_sendgrid_key_free(k);

    bc_sendgrid_key_free(NULL);
}


static void
test_sendgrid_round_trip(void **state)
{
    char         pub[200], priv[256], sig[100], err[128];
    void        *pk, *sk;
    const char  *body = "[{\"event\":\"delivered\"}]\r\n";

    (void) state;

    assert_int_equal(bc_sendgrid_keypair_generate(pub, sizeof(pub), priv,
                                                  sizeof(priv)), 0);
    assert_int_equal(strlen(pub), 124);
    assert_true(strlen(priv) > 100);

    pk = bc_sendgrid_key_load(pub, strlen(pub), err, sizeof(err));
    assert_non_null(pk);
    sk = bc_sendgrid_private_key_load(priv, strlen(priv), err, sizeof(err));
    assert_non_null(sk);

    assert_int_equal(bc_sendgrid_sign(sk, "1700000000", 10, body,
                                      strlen(body), sig, sizeof(sig)), 0);
    assert_true(strlen(sig) > 80);

    assert_int_equal(sg_verify(pk, "1700000000", body, strlen(body), sig), 1);
    assert_int_equal(sg_verify(pk, "1700000001", body, strlen(body), sig), 0);
    assert_int_equal(sg_verify(pk, "1700000000", body, strlen(body) - 1, sig),
                     0);

    /* an empty body is signed as the timestamp alone */
    assert_int_equal(bc_sendgrid_sign(sk, "1", 1, NULL, 0, sig, sizeof(sig)),
                     0);
    assert_int_equal(sg_verify(pk, "1", "", 0, sig), 1);

    /* the published key did not sign it */
    bc_sendgrid_key_free(pk);
    pk = load(SG_PUBLIC_KEY);
    assert_int_equal(sg_verify(pk, "1", "", 0, sig), 0);

    /* too small buffers */
    assert_int_equal(bc_sendgrid_sign(sk, "1", 1, "x", 1, sig, 20), -1);
    assert_int_equal(bc_sendgrid_keypair_generate(pub, 50, priv,
                                                  sizeof(priv)), -1);

    /* the public key cannot sign */
    assert_int_equal(bc_sendgrid_sign(pk, "1", 1, "x", 1, sig, sizeof(sig)),
                     -1);

    bc_sendgrid_key_free(pk);
    bc_sendgrid_key_free(sk);
}


#define SG_THREADS  4
#define SG_ROUNDS   200


static void *
sg_thread(void *arg)
{
    long  i, ok;

    ok = 0;
    for (i = 0; i < SG_ROUNDS; i++) {
        ok += sg_verify(arg, SG_TIMESTAMP, SG_PAYLOAD,
                        sizeof(SG_PAYLOAD) - 1, SG_SIGNATURE);
        ok += !sg_verify(arg, "1600112503", SG_PAYLOAD,
                         sizeof(SG_PAYLOAD) - 1, SG_SIGNATURE);
    }

    return (void *) ok;
}


/* one key, concurrent verifies (run under `make asan` / TSan to be sure) */
static void
test_sendgrid_threads(void **state)
{
    pthread_t   t[SG_THREADS];
    void       *key, *ok;
    int         i;

    (void) state;

    key = load(SG_PUBLIC_KEY);
    assert_non_null(key);

    for (i = 0; i < SG_THREADS; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, sg_thread, key), 0);
    }

    for (i = 0; i < SG_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], &ok), 0);
        assert_int_equal((long) ok, 2 * SG_ROUNDS);
    }

    bc_sendgrid_key_free(key);
}


static void
test_sendgrid_timestamp(void **state)
{
    (void) state;

    assert_int_equal(bc_sendgrid_timestamp_fresh("1600112502", 10,
                                                 1600112502, 300), 1);
    assert_int_equal(bc_sendgrid_timestamp_fresh("1600112502", 10,
                                                 1600112802, 300), 1);
    assert_int_equal(bc_sendgrid_timestamp_fresh("1600112502", 10,
                                                 1600112803, 300), 0);
    assert_int_equal(bc_sendgrid_timestamp_fresh("1600112502", 10,
                                                 1600112202, 300), 1);
    assert_int_equal(bc_sendgrid_timestamp_fresh("1600112502", 10,
                                                 1600112201, 300), 0);
    assert_int_equal(bc_sendgrid_timestamp_fresh("", 0, 0, 300), 0);
    assert_int_equal(bc_sendgrid_timestamp_fresh("-5", 2, 0, 300), 0);
    assert_int_equal(bc_sendgrid_timestamp_fresh("+5", 2, 0, 300), 0);
    assert_int_equal(bc_sendgrid_timestamp_fresh("16001125 2", 10,
                                                 1600112502, 300), 0);
    assert_int_equal(bc_sendgrid_timestamp_fresh("timestamp", 9, 0, 300), 0);
    assert_int_equal(bc_sendgrid_timestamp_fresh("99999999999999999999", 20,
                                                 1600112502, 300), 0);
    assert_int_equal(bc_sendgrid_timestamp_fresh("1600112502", 10,
                                                 1600112502, -1), 0);
    assert_int_equal(bc_sendgrid_timestamp_fresh(NULL, 0, 0, 300), 0);
}


static int
meta(const char *secret, const char *body, size_t body_len,
    const char *header)
{
    return bc_meta_verify(secret, strlen(secret), body, body_len, header,
                          strlen(header));
}


static void
test_meta_vectors(void **state)
{
    char  out[BC_META_SIG_LEN + 1];

    (void) state;

    bc_meta_sign(META_SECRET, strlen(META_SECRET), META_BODY_U,
                 strlen(META_BODY_U), out);
    assert_string_equal(out, META_SIG_U);

    bc_meta_sign(META_SECRET, strlen(META_SECRET), META_BODY_CRLF,
                 strlen(META_BODY_CRLF), out);
    assert_string_equal(out, META_SIG_CRLF);

    assert_int_equal(meta(META_SECRET, META_BODY_U, strlen(META_BODY_U),
                          META_SIG_U), 1);
    assert_int_equal(meta(META_SECRET, META_BODY_CRLF,
                          strlen(META_BODY_CRLF), META_SIG_CRLF), 1);

    /* the CRLF is part of what is signed */
    assert_int_equal(meta(META_SECRET, META_BODY_CRLF,
                          strlen(META_BODY_CRLF) - 2, META_SIG_CRLF), 0);

    /* the unescaped UTF-8 form is different bytes */
    assert_int_equal(meta(META_SECRET, "{\"a\":\"\xc3\xa4\"}", 11,
                          META_SIG_U), 0);
}


static void
test_meta_rejects(void **state)
{
    char         hdr[BC_META_SIG_LEN + 2];
    size_t       i;
    const char  *b = META_BODY_U;

    (void) state;

    /* wrong secret, empty secret */
    assert_int_equal(meta("app-secret-124", b, strlen(b), META_SIG_U), 0);
    assert_int_equal(meta("", b, strlen(b), META_SIG_U), 0);

    /* missing or wrong prefix */
    assert_int_equal(meta(META_SECRET, b, strlen(b), META_SIG_U + 7), 0);
    memcpy(hdr, META_SIG_U, sizeof(META_SIG_U));
    memcpy(hdr, "sha1=", 5);
    assert_int_equal(meta(META_SECRET, b, strlen(b), hdr), 0);
    memcpy(hdr, "SHA256=", 7);
    assert_int_equal(meta(META_SECRET, b, strlen(b), hdr), 0);

    /* truncated and extended hex */
    assert_int_equal(bc_meta_verify(META_SECRET, strlen(META_SECRET), b,
                                    strlen(b), META_SIG_U,
                                    BC_META_SIG_LEN - 1), 0);
    assert_int_equal(bc_meta_verify(META_SECRET, strlen(META_SECRET), b,
                                    strlen(b), META_SIG_U,
                                    BC_META_SIG_LEN - 2), 0);
    memcpy(hdr, META_SIG_U, sizeof(META_SIG_U));
    hdr[BC_META_SIG_LEN] = '0';
    hdr[BC_META_SIG_LEN + 1] = '\0';
    assert_int_equal(meta(META_SECRET, b, strlen(b), hdr), 0);
    assert_int_equal(meta(META_SECRET, b, strlen(b), ""), 0);
    assert_int_equal(meta(META_SECRET, b, strlen(b), "sha256="), 0);

    /* one hex digit changed, and a non-hex digit */
    memcpy(hdr, META_SIG_U, sizeof(META_SIG_U));
    hdr[20] = hdr[20] == '0' ? '1' : '0';
    assert_int_equal(meta(META_SECRET, b, strlen(b), hdr), 0);
    memcpy(hdr, META_SIG_U, sizeof(META_SIG_U));
    hdr[BC_META_SIG_LEN - 1] = 'g';
    assert_int_equal(meta(META_SECRET, b, strlen(b), hdr), 0);

    /* uppercase hex is the same bytes */
    memcpy(hdr, META_SIG_U, sizeof(META_SIG_U));
    for (i = 7; i < BC_META_SIG_LEN; i++) {
        if (hdr[i] >= 'a' && hdr[i] <= 'f') {
            hdr[i] = (char) (hdr[i] - 'a' + 'A');
        }
    }
    assert_int_equal(meta(META_SECRET, b, strlen(b), hdr), 1);

    /* empty body */
    bc_meta_sign(META_SECRET, strlen(META_SECRET), NULL, 0, hdr);
    assert_int_equal(meta(META_SECRET, "", 0, hdr), 1);
    assert_int_equal(meta(META_SECRET, "x", 1, hdr), 0);
}


/* the strict base64 shared by the module and the daemons */
static void
test_base64_strict(void **state)
{
    unsigned char  out[16];
    size_t         n;
    size_t         i;
    static const char *const bad[] = {
        "", "   ", "QQ", "QQ=", "Q===", "QQ==QQ==", "QQ=A", "Q Q=\t=x",
        "QUJD$", "QUJDRA=", "QUJD-A==",
    };

    (void) state;

    assert_int_equal(bc_base64_decode_into("QUJD", 4, out, sizeof(out), &n),
                     0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "ABC", 3);

    /* padding, and whitespace anywhere (SendGrid's headers may wrap) */
    assert_int_equal(bc_base64_decode_into(" QU\r\nJDRA==\n", 12, out,
                                           sizeof(out), &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "ABCD", 4);
    assert_int_equal(bc_base64_decode_into("QUJDREU=", 8, out, sizeof(out),
                                           &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "ABCDE", 5);

    /* too long for the caller's buffer */
    assert_int_equal(bc_base64_decode_into("QUJDREU=", 8, out, 4, &n), -1);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(bc_base64_decode_into(bad[i], strlen(bad[i]), out,
                                               sizeof(out), &n), -1);
    }
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_base64_strict),
    cmocka_unit_test(test_sendgrid_vector),
    cmocka_unit_test(test_sendgrid_tampered),
    cmocka_unit_test(test_sendgrid_bad_key),
    cmocka_unit_test(test_sendgrid_round_trip),
    cmocka_unit_test(test_sendgrid_threads),
    cmocka_unit_test(test_sendgrid_timestamp),
    cmocka_unit_test(test_meta_vectors),
    cmocka_unit_test(test_meta_rejects)
)

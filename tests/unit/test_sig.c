/*
 * Known-answer tests of the Twilio signature and the crypto helpers.
 * Vectors: twilio-python tests/unit/test_request_validator.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "bc_unit.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bc_sig.h"


#define TOKEN  "12345"
#define URL    "https://mycompany.com/myapp.php?foo=1&bar=2"
#define KV(n, v)  { n, sizeof(n) - 1, v, sizeof(v) - 1 }


/* twilio-python's params, deliberately not in sorted order */
static void
vector_params(bc_kv_t *p)
{
    bc_kv_t  params[5] = {
        KV("CallSid", "CA1234567890ABCDE"),
        KV("Digits", "1234"),
        KV("From", "+14158675309"),
        KV("To", "+18005551212"),
        KV("Caller", "+14158675309"),
    };

    memcpy(p, params, sizeof(params));
}


/* the signature OpenSSL's one-shot HMAC() gives, base64 */
static void
reference_sig(const char *key, size_t key_len, const char *data,
    char out[BC_TWILIO_SIG_LEN + 1])
{
    unsigned char  mac[20];
    unsigned int   mac_len = 0;

    assert_non_null(HMAC(EVP_sha1(), key, (int) key_len,
                         (const unsigned char *) data, strlen(data), mac,
                         &mac_len));
    assert_int_equal(mac_len, 20);
    EVP_EncodeBlock((unsigned char *) out, mac, 20);
}


static int
verify(const char *url, bc_kv_t *p, size_t n, const char *sig)
{
    return bc_twilio_verify(TOKEN, strlen(TOKEN), url, strlen(url), p, n,
                            sig, strlen(sig));
}


static void
test_sign_vector(void **state)
{
    bc_kv_t  p[5];
    char     sig[BC_TWILIO_SIG_LEN + 1];

    (void) state;

    vector_params(p);
    assert_int_equal(bc_twilio_sign(TOKEN, 5, URL, strlen(URL), p, 5, sig),
                     0);
    assert_string_equal(sig, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");

    /* sorted in place by name */
    assert_string_equal(p[0].name, "CallSid");
    assert_string_equal(p[1].name, "Caller");
    assert_string_equal(p[4].name, "To");

    vector_params(p);
    assert_true(verify(URL, p, 5, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
}


/*
 * The HMAC context is kept per thread and key: a new key re-keys it, the
 * old one again gives the old answer, and a key too long for the cache
 * takes the one-shot path with the same result.
 */
static void
test_sign_keys(void **state)
{
    bc_kv_t  p[1] = { KV("A", "1") };
    char     sig[BC_TWILIO_SIG_LEN + 1], ref[BC_TWILIO_SIG_LEN + 1];
    char     long_key[300];
    size_t   i;

    (void) state;

    for (i = 0; i < 3; i++) {
        const char *key = i == 1 ? "another-token" : TOKEN;

        assert_int_equal(bc_twilio_sign(key, strlen(key), "https://x/y", 11,
                                        p, 1, sig), 0);
        reference_sig(key, strlen(key), "https://x/yA1", ref);
        assert_string_equal(sig, ref);
    }

    memset(long_key, 'k', sizeof(long_key));
    assert_int_equal(bc_twilio_sign(long_key, sizeof(long_key),
                                    "https://x/y", 11, p, 1, sig), 0);
    reference_sig(long_key, sizeof(long_key), "https://x/yA1", ref);
    assert_string_equal(sig, ref);
}


static void
test_sign_duplicates(void **state)
{
    bc_kv_t  p[4] = {
        KV("Sid", "CA123"),
        KV("SidAccount", "AC123"),
        KV("Digits", "5678"),
        KV("Digits", "1234"),
    };
    char     sig[BC_TWILIO_SIG_LEN + 1];

    (void) state;

    assert_int_equal(bc_twilio_sign(TOKEN, 5, URL, strlen(URL), p, 4, sig),
                     0);
    assert_string_equal(sig, "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    assert_string_equal(p[0].value, "1234");
    assert_string_equal(p[1].value, "5678");
}


static void
test_verify_ports(void **state)
{
    size_t       i;
    bc_kv_t      p[5];
    char         sig[BC_TWILIO_SIG_LEN + 1];
    const char  *with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
    static const struct {
        const char  *url;
        const char  *sig;
        int          ok;
    } ports[] = {
        /* signed without a port, presented with :443 */
        { "https://mycompany.com:443/myapp.php?foo=1&bar=2",
          "RSOYDt4T1cUTdK1PDd93/VVr8B8=", 1 },
        /* any port is removed: twilio-python test_validation_removes_port_* */
        { "https://mycompany.com:1234/myapp.php?foo=1&bar=2",
          "RSOYDt4T1cUTdK1PDd93/VVr8B8=", 1 },
        { "http://mycompany.com:1234/myapp.php?foo=1&bar=2",
          "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", 1 },
        /* http adds :80 */
        { "http://mycompany.com/myapp.php?foo=1&bar=2",
          "0ZXoZLH/DfblKGATFgpif+LLRf4=", 1 },
        /* but http is not https */
        { "http://mycompany.com/myapp.php?foo=1&bar=2",
          "RSOYDt4T1cUTdK1PDd93/VVr8B8=", 0 },
    };

    (void) state;

    /* signed with :443, presented without */
    vector_params(p);
    assert_true(verify(URL, p, 5, "kvajT1Ptam85bY51eRf/AJRuM3w="));

    vector_params(p);
    assert_int_equal(bc_twilio_sign(TOKEN, 5, with_port, strlen(with_port),
                                    p, 5, sig), 0);
    assert_string_equal(sig, "kvajT1Ptam85bY51eRf/AJRuM3w=");

    for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
        vector_params(p);
        assert_int_equal(verify(ports[i].url, p, 5, ports[i].sig) != 0,
                         ports[i].ok);
    }
}


static void
test_verify_tampered(void **state)
{
    bc_kv_t  p[5];

    (void) state;

    vector_params(p);
    p[1].value = "1235";
    assert_false(verify(URL, p, 5, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));

    vector_params(p);
    assert_false(verify(URL, p, 4, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));

    vector_params(p);
    assert_false(verify(URL "&x=1", p, 5, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));

    vector_params(p);
    assert_false(verify(URL, p, 5, "RSOYDt4T1cUTdK1PDd93/VVr8B8"));
    assert_false(verify(URL, p, 5, ""));

    vector_params(p);
    assert_false(bc_twilio_verify("12346", 5, URL, strlen(URL), p, 5,
                                  "RSOYDt4T1cUTdK1PDd93/VVr8B8=", 28));
}


static void
test_verify_json(void **state)
{
    const char  *body = "{\"property\": \"value\", \"boolean\": true}";
    const char  *hash =
        "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
    const char  *url = URL "&bodySHA256="
        "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
    const char  *sig = "a9nBmqA0ju/hNViExpshrM61xv4=";
    char         hex[65];

    (void) state;

    bc_sha256_hex(body, strlen(body), hex);
    assert_string_equal(hex, hash);

    assert_true(bc_twilio_verify_json(TOKEN, 5, url, strlen(url), body,
                                      strlen(body), sig, strlen(sig)));

    /* a different body no longer matches the signed hash */
    assert_false(bc_twilio_verify_json(TOKEN, 5, url, strlen(url), "{}", 2,
                                       sig, strlen(sig)));

    /* no bodySHA256 in the URL */
    assert_false(bc_twilio_verify_json(TOKEN, 5, URL, strlen(URL), body,
                                       strlen(body), sig, strlen(sig)));

    /* wrong signature */
    assert_false(bc_twilio_verify_json(TOKEN, 5, url, strlen(url), body,
                                       strlen(body),
                                       "RSOYDt4T1cUTdK1PDd93/VVr8B8=", 28));
}


static void
test_ct_equal(void **state)
{
    (void) state;

    assert_true(bc_ct_equal("abc", 3, "abc", 3));
    assert_false(bc_ct_equal("abc", 3, "abd", 3));
    assert_false(bc_ct_equal("abc", 3, "abcd", 4));
    assert_true(bc_ct_equal("", 0, "", 0));
}


static void
test_sha256(void **state)
{
    char  hex[65];

    (void) state;

    bc_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
                             "b00361a396177a9cb410ff61f20015ad");

    bc_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb924"
                             "27ae41e4649b934ca495991b7852b855");
}


static void
test_base64(void **state)
{
    char  out[16];

    (void) state;

    assert_int_equal(bc_base64_encode((const unsigned char *) "foob", 4, out,
                                      sizeof(out)), 8);
    assert_string_equal(out, "Zm9vYg==");
    assert_int_equal(bc_base64_encode((const unsigned char *) "", 0, out,
                                      sizeof(out)), 0);
    assert_string_equal(out, "");

    /* too small: nothing written */
    assert_int_equal(bc_base64_encode((const unsigned char *) "foob", 4, out,
                                      8), 0);
}


static void
test_random_token(void **state)
{
    char    a[4 + 44], b[4 + 44];
    size_t  i;

    (void) state;

    assert_int_equal(bc_random_token("bck_", a, sizeof(a)), 0);
    assert_int_equal(bc_random_token("bck_", b, sizeof(b)), 0);
    assert_int_equal(strlen(a), 47);
    assert_memory_equal(a, "bck_", 4);
    assert_string_not_equal(a, b);

    for (i = 4; i < strlen(a); i++) {
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                               "qrstuvwxyz0123456789-_", a[i]));
    }

    assert_int_equal(bc_random_token("bck_", a, 47), -1);
}


/* the CSRF token: hex HMAC-SHA256 keyed with the session token over the
   label, so a test computes it with OpenSSL's one-shot HMAC() */
static void
test_csrf_token(void **state)
{
    static const char  hex[] = "0123456789abcdef";
    const char        *session = "bcs_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    char               got[65], other[65], want[65];
    unsigned char      mac[32];
    unsigned int       mac_len = 0, i;

    (void) state;

    assert_int_equal(bc_csrf_token(session, strlen(session), got), 0);

    assert_non_null(HMAC(EVP_sha256(), session, (int) strlen(session),
                         (const unsigned char *) "broadcast-csrf-v1", 17, mac,
                         &mac_len));
    assert_int_equal(mac_len, 32);

    for (i = 0; i < 32; i++) {
        want[2 * i] = hex[mac[i] >> 4];
        want[2 * i + 1] = hex[mac[i] & 0x0f];
    }

    want[64] = '\0';
    assert_string_equal(got, want);

    /* another session, another token; never the session's own hash */
    assert_int_equal(bc_csrf_token(session, strlen(session) - 1, other), 0);
    assert_string_not_equal(got, other);
    bc_sha256_hex(session, strlen(session), other);
    assert_string_not_equal(got, other);
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_sign_vector),
    cmocka_unit_test(test_sign_keys),
    cmocka_unit_test(test_sign_duplicates),
    cmocka_unit_test(test_verify_ports),
    cmocka_unit_test(test_verify_tampered),
    cmocka_unit_test(test_verify_json),
    cmocka_unit_test(test_ct_equal),
    cmocka_unit_test(test_sha256),
    cmocka_unit_test(test_base64),
    cmocka_unit_test(test_random_token),
    cmocka_unit_test(test_csrf_token)
)

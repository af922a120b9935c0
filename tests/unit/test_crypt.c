/*
 * Sealing at rest: round trip, key rotation by key id, plaintext passes
 * through, a changed byte is detected, key files are checked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "bc_unit.h"
#include "bc_crypt.h"


#define K1 "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
#define K2 "k2 HxwdHhobGBkWFxQVEhMQEQ4PDA0KCwgJBgcEBQIDAAE=\n"


static void
load(bc_crypt_ring_t *ring, const char *text)
{
    char  path[64], err[256];

    bc_unit_write_temp(path, "/tmp/bc_crypt_XXXXXX", text);
    assert_int_equal(bc_crypt_ring_load(ring, path, err, sizeof(err)), 0);
    unlink(path);
}


static void
test_round_trip_and_rotation(void **state)
{
    bc_crypt_ring_t  r1 = { 0 }, r2 = { 0 }, only2 = { 0 };
    char            *sealed, *text;
    size_t           len, tlen;

    (void) state;
    load(&r1, "# comment\n" K1);
    load(&r2, K1 K2);
    load(&only2, K2);

    sealed = bc_crypt_seal(&r1, "hello \xc3\xa9", 8, &len);
    assert_non_null(sealed);
    assert_memory_equal(sealed, "$bce1$k1$", 9);
    assert_null(strstr(sealed, "hello"));
    assert_true(bc_crypt_is_current(&r1, sealed, len));
    assert_false(bc_crypt_is_current(&r2, sealed, len));

    /* an older key still opens; a ring without it cannot */
    assert_int_equal(bc_crypt_open(&r2, sealed, len, &text, &tlen),
                     BC_CRYPT_OK);
    assert_int_equal(tlen, 8);
    assert_string_equal(text, "hello \xc3\xa9");
    free(text);
    assert_int_equal(bc_crypt_open(&only2, sealed, len, &text, &tlen),
                     BC_CRYPT_NO_KEY);

    /* one changed byte of the ciphertext fails the tag */
    sealed[len - 6] = sealed[len - 6] == 'A' ? 'B' : 'A';
    assert_int_equal(bc_crypt_open(&r1, sealed, len, &text, &tlen),
                     BC_CRYPT_TAMPERED);
    assert_null(text);
    free(sealed);

    /* plaintext rows read as they are; no key file seals nothing */
    assert_int_equal(bc_crypt_open(&r1, "plain", 5, &text, &tlen),
                     BC_CRYPT_PLAIN);
    assert_string_equal(text, "plain");
    free(text);
    sealed = bc_crypt_seal(NULL, "x", 1, &len);
    assert_string_equal(sealed, "x");
    free(sealed);

    bc_crypt_ring_free(&r1);
    bc_crypt_ring_free(&r2);
    bc_crypt_ring_free(&only2);
}


static void
test_bad_key_files(void **state)
{
    bc_crypt_ring_t  r = { 0 };
    char             path[64], err[256];

    (void) state;
    bc_unit_write_temp(path, "/tmp/bc_crypt_XXXXXX", "k1 c2hvcnQ=\n");
    assert_int_equal(bc_crypt_ring_load(&r, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "32 bytes"));
    unlink(path);
    bc_unit_write_temp(path, "/tmp/bc_crypt_XXXXXX", "# none\n");
    assert_int_equal(bc_crypt_ring_load(&r, path, err, sizeof(err)), -1);
    unlink(path);
    bc_crypt_ring_free(&r);
}


static void
test_address_hash(void **state)
{
    char  a[65], b[65];

    (void) state;
    bc_crypt_address_hash("salt", "+15551234567", a);
    bc_crypt_address_hash("salt", "+15551234567", b);
    assert_string_equal(a, b);
    bc_crypt_address_hash("pepper", "+15551234567", b);
    assert_string_not_equal(a, b);
    assert_int_equal(strlen(a), 64);
}


BC_UNIT_MAIN(cmocka_unit_test(test_round_trip_and_rotation),
             cmocka_unit_test(test_bad_key_files),
             cmocka_unit_test(test_address_hash))

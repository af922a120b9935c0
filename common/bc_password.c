#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <argon2.h>
#include <openssl/rand.h>

#include "bc_password.h"


static pthread_once_t  bc_password_dummy_once = PTHREAD_ONCE_INIT;
static char           *bc_password_dummy;


char *
bc_password_hash(const char *pw, size_t len, const char **why)
{
    unsigned char  salt[BC_ARGON2_SALT];
    size_t         enclen;
    char          *enc;
    int            rc;

    if (RAND_bytes(salt, sizeof(salt)) != 1) {
        *why = "no random bytes for the salt (RAND_bytes failed)";
        return NULL;
    }

    enclen = argon2_encodedlen(BC_ARGON2_T, BC_ARGON2_M, BC_ARGON2_P,
                               BC_ARGON2_SALT, BC_ARGON2_HASH, Argon2_id);
    enc = malloc(enclen);
    if (enc == NULL) {
        *why = "out of memory";
        return NULL;
    }

    rc = argon2id_hash_encoded(BC_ARGON2_T, BC_ARGON2_M, BC_ARGON2_P, pw, len,
                               salt, sizeof(salt), BC_ARGON2_HASH, enc,
                               enclen);
    if (rc != ARGON2_OK) {
        *why = argon2_error_message(rc);
        free(enc);
        return NULL;
    }

    return enc;
}


/* the dummy lives as long as the process: one hash, made on first use */
static void
bc_password_dummy_init(void)
{
    const char  *why;

    bc_password_dummy = bc_password_hash("no such user", 12, &why);
}


int
bc_password_verify(const char *hash, const char *pw, size_t len)
{
    if (hash != NULL) {
        return argon2id_verify(hash, pw, len) == ARGON2_OK;
    }

    pthread_once(&bc_password_dummy_once, bc_password_dummy_init);

    if (bc_password_dummy != NULL) {
        (void) argon2id_verify(bc_password_dummy, pw, len);
    }

    return 0;
}


int
bc_username_valid(const char *name, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len == 0 || len > BC_USERNAME_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) name[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9'))
        {
            continue;
        }

        if (i == 0 || (c != '.' && c != '_' && c != '@' && c != '-')) {
            return 0;
        }
    }

    return 1;
}

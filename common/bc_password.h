/*
 * Admin passwords: argon2id, one set of parameters for every program that
 * hashes (broadcastctl) or verifies (the module's login).
 */
#ifndef BC_PASSWORD_H
#define BC_PASSWORD_H

#include <stddef.h>

#define BC_ARGON2_T     3          /* passes */
#define BC_ARGON2_M     65536      /* KiB */
#define BC_ARGON2_P     1          /* lanes */
#define BC_ARGON2_SALT  16
#define BC_ARGON2_HASH  32

/* the rules of a user's credentials, for every program that sets them */
#define BC_PASSWORD_MIN  12        /* bytes */
#define BC_PASSWORD_MAX  1024
#define BC_USERNAME_MAX  64        /* bytes, as admin_users.username */

/* 1 if name is 1..BC_USERNAME_MAX of [A-Za-z0-9._@-], starting with a
   letter or digit: printable in logs and the console, no look-alikes */
int bc_username_valid(const char *name, size_t len);

/* the encoded hash of pw (malloc'd, caller frees), NULL on failure with
   *why set to a static sentence */
char *bc_password_hash(const char *pw, size_t len, const char **why);

/*
 * 1 if pw matches the encoded hash. With hash NULL (no such user) it
 * verifies against a dummy hash of the same cost and returns 0, so an
 * unknown username costs as much time as a wrong password and cannot be
 * told apart by timing. Thread-safe.
 */
int bc_password_verify(const char *hash, const char *pw, size_t len);

#endif /* BC_PASSWORD_H */

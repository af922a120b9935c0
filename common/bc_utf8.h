/*
 * UTF-8 checks for text that goes into utf8mb4 columns: in strict mode a
 * broken character fails the whole statement, and with it every row of a
 * batch (a provider's callback is signed, not necessarily well-formed).
 */
#ifndef BC_UTF8_H
#define BC_UTF8_H

#include <stddef.h>

/* length of the longest prefix of s[0..len) that is well-formed UTF-8
   (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF) */
size_t bc_utf8_valid(const char *s, size_t len);

/* replaces every byte of each ill-formed sequence in s[0..len) with '?',
   in place; returns the number of bytes replaced */
size_t bc_utf8_repair(char *s, size_t len);

#endif /* BC_UTF8_H */

/*
 * Media types (RFC 9110 8.3.1): "type/subtype" followed only by optional
 * whitespace and ";" parameters. One rule for every body the module takes,
 * so "application/jsonx" or "text/csvfoo" is never taken for JSON or CSV.
 */
#ifndef BC_MEDIA_H
#define BC_MEDIA_H

#include <stddef.h>

/* 1 if the Content-Type value v (len bytes, not NUL-terminated) names the
   media type type (lower-case "type/subtype"), ASCII case-insensitively */
int bc_media_type_is(const char *v, size_t len, const char *type);

#endif /* BC_MEDIA_H */

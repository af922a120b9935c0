/*
 * application/x-www-form-urlencoded parsing and building.
 */
#include <stdlib.h>
#include <string.h>

#include "bc_form.h"


/* value of one hex digit (either case), or -1 */
int
bc_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


/*
 * Decodes in[0..len) into out, which must hold at least len bytes (decoding
 * never grows). Returns the decoded length, or -1 on a bad escape.
 */
static long
bc_decode_into(const char *in, size_t len, char *out)
{
    size_t  i, n;
    int     hi, lo;

    n = 0;

    for (i = 0; i < len; i++) {

        if (in[i] == '+') {
            out[n++] = ' ';
            continue;
        }

        if (in[i] != '%') {
            out[n++] = in[i];
            continue;
        }

        if (len - i < 3) {
            return -1;
        }

        hi = bc_hex_value((unsigned char) in[i + 1]);
        lo = bc_hex_value((unsigned char) in[i + 2]);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        out[n++] = (char) (hi << 4 | lo);
        i += 2;
    }

    return (long) n;
}


int
bc_form_parse(const char *body, size_t len, bc_form_t *form)
{
    size_t       i, npairs, start, end, eq;
    char        *arena, *p;
    long         dn;
    bc_kv_t     *items, *kv;

    form->items = NULL;
    form->n = 0;
    form->arena = NULL;

    if (len == 0) {
        return 0;
    }

    npairs = 1;
    for (i = 0; i < len; i++) {
        if (body[i] == '&') {
            npairs++;
        }
    }

    /* every name and value gets its own NUL; decoding never grows */
    items = malloc(npairs * sizeof(bc_kv_t));
    arena = malloc(len + 2 * npairs + 1);

    if (items == NULL || arena == NULL) {
        free(items);
        free(arena);
        return -1;
    }

    p = arena;
    start = 0;

    while (start <= len) {

        end = start;
        while (end < len && body[end] != '&') {
            end++;
        }

        /* "a=1&&b=2" and a trailing '&' carry no pair */
        if (end > start) {
            eq = start;
            while (eq < end && body[eq] != '=') {
                eq++;
            }

            kv = &items[form->n];

            dn = bc_decode_into(body + start, eq - start, p);
            if (dn < 0) {
                goto failed;
            }

            kv->name = p;
            kv->name_len = (size_t) dn;
            p += dn;
            *p++ = '\0';

            if (eq < end) {
                dn = bc_decode_into(body + eq + 1, end - eq - 1, p);
                if (dn < 0) {
                    goto failed;
                }

            } else {
                dn = 0;
            }

            kv->value = p;
            kv->value_len = (size_t) dn;
            p += dn;
            *p++ = '\0';

            form->n++;
        }

        start = end + 1;
    }

    form->items = items;
    form->arena = arena;

    return 0;

failed:

    free(items);
    free(arena);
    form->n = 0;

    return -1;
}


void
bc_form_free(bc_form_t *form)
{
    free(form->items);
    free(form->arena);
    form->items = NULL;
    form->arena = NULL;
    form->n = 0;
}


const char *
bc_form_get(const bc_form_t *form, const char *name)
{
    size_t  i, len;

    len = strlen(name);

    for (i = 0; i < form->n; i++) {
        if (form->items[i].name_len == len
            && memcmp(form->items[i].name, name, len) == 0)
        {
            return form->items[i].value;
        }
    }

    return NULL;
}


static int
bc_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9')
           || c == '-' || c == '.' || c == '_' || c == '~';
}


int
bc_reserve(char **buf, size_t len, size_t *cap, size_t more, size_t first)
{
    size_t   ncap;
    char    *nbuf;

    if (*buf != NULL && *cap - len > more) {
        return 0;
    }

    ncap = *cap ? *cap : first;
    while (ncap - len <= more) {
        ncap *= 2;
    }

    nbuf = realloc(*buf, ncap);
    if (nbuf == NULL) {
        return -1;
    }

    *buf = nbuf;
    *cap = ncap;

    return 0;
}


static void
bc_encode_into(char *out, size_t *n, const char *in, size_t len)
{
    static const char  hex[] = "0123456789ABCDEF";
    size_t             i;
    unsigned char      c;

    for (i = 0; i < len; i++) {
        c = (unsigned char) in[i];

        if (bc_unreserved(c)) {
            out[(*n)++] = (char) c;

        } else {
            out[(*n)++] = '%';
            out[(*n)++] = hex[c >> 4];
            out[(*n)++] = hex[c & 0x0f];
        }
    }
}


int
bc_form_append(char **buf, size_t *len, size_t *cap,
    const char *name, const char *value, size_t value_len)
{
    size_t  name_len, need, n;

    name_len = strlen(name);

    /* worst case every byte becomes %XX; plus '&', '=' and a NUL */
    need = 3 * (name_len + value_len) + 3;

    if (bc_reserve(buf, *len, cap, need, 256) != 0) {
        return -1;
    }

    n = *len;

    if (n > 0) {
        (*buf)[n++] = '&';
    }

    bc_encode_into(*buf, &n, name, name_len);
    (*buf)[n++] = '=';
    bc_encode_into(*buf, &n, value, value_len);
    (*buf)[n] = '\0';

    *len = n;

    return 0;
}


int
bc_url_decode(const char *in, size_t len, char *out, size_t outlen,
    size_t *outn)
{
    char  *tmp;
    long   dn;

    if (outlen == 0) {
        return -1;
    }

    if (len < outlen) {
        dn = bc_decode_into(in, len, out);

    } else {
        /* the decoded text may still fit: decode aside, then check */
        tmp = malloc(len);
        if (tmp == NULL) {
            return -1;
        }

        dn = bc_decode_into(in, len, tmp);

        if (dn >= 0 && (size_t) dn < outlen) {
            memcpy(out, tmp, (size_t) dn);

        } else {
            dn = -1;
        }

        free(tmp);
    }

    if (dn < 0) {
        return -1;
    }

    out[dn] = '\0';

    if (outn) {
        *outn = (size_t) dn;
    }

    return 0;
}


int
bc_query_get(const char *query, size_t qlen, const char *name,
    char *out, size_t outlen)
{
    size_t  start, end, eq, name_len;
    char    decoded[256];
    long    dn;

    name_len = strlen(name);
    start = 0;

    while (start < qlen) {

        end = start;
        while (end < qlen && query[end] != '&') {
            end++;
        }

        eq = start;
        while (eq < end && query[eq] != '=') {
            eq++;
        }

        /* names are compared decoded, so "mi%64" finds "mid" */
        if (end > start && eq - start < sizeof(decoded)) {
            dn = bc_decode_into(query + start, eq - start, decoded);

            if (dn < 0) {
                return -1;
            }

            if ((size_t) dn == name_len && memcmp(decoded, name, name_len) == 0)
            {
                if (eq == end) {
                    return bc_url_decode("", 0, out, outlen, NULL) == 0
                           ? 1 : -1;
                }

                return bc_url_decode(query + eq + 1, end - eq - 1, out,
                                     outlen, NULL) == 0 ? 1 : -1;
            }
        }

        start = end + 1;
    }

    return 0;
}

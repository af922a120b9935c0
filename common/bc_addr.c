/*
 * Address rules shared by every program (bc_addr.h).
 */
#include <string.h>
#include <strings.h>

#include "bc_addr.h"


int
bc_wa_prefixed(const char *s, size_t len)
{
    return len >= BC_WA_PREFIX_LEN
           && strncasecmp(s, BC_WA_PREFIX, BC_WA_PREFIX_LEN) == 0;
}


const char *
bc_wa_strip(const char *addr)
{
    return strncmp(addr, BC_WA_PREFIX, BC_WA_PREFIX_LEN) == 0
           ? addr + BC_WA_PREFIX_LEN : addr;
}


int
bc_email_valid(const char *s, size_t len, char *out)
{
    char           buf[BC_EMAIL_MAX + 1];
    size_t         i, at;
    unsigned char  c;

    if (len == 0 || len > BC_EMAIL_MAX) {
        return 0;
    }

    if (out == NULL) {
        out = buf;
    }

    at = len;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c <= 0x20 || c == 0x7f || strchr("<>(),;:\\\"[]", c) != NULL) {
            return 0;
        }

        if (c == '@') {
            if (at != len) {
                return 0;
            }

            at = i;
        }

        out[i] = (char) (c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }

    out[len] = '\0';

    if (at == 0 || at == len || at + 1 == len) {
        return 0;
    }

    /* a dot inside the domain, not first or last, no empty labels */
    if (strchr(out + at + 1, '.') == NULL || out[at + 1] == '.'
        || out[len - 1] == '.' || strstr(out + at, "..") != NULL)
    {
        return 0;
    }

    return 1;
}


int
bc_email_mailbox(const char *s, size_t len, char *out)
{
    const char  *lt, *gt, *end = s + len;

    /* the last '<' opens the address; a display name may hold '<' quoted */
    for (lt = end; lt > s && lt[-1] != '<'; lt--) { /* void */ }

    if (lt > s) {
        gt = memchr(lt, '>', (size_t) (end - lt));
        return gt != NULL && bc_email_valid(lt, (size_t) (gt - lt), out);
    }

    while (s < end && (*s == ' ' || *s == '\t')) {
        s++;
    }

    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'
                       || end[-1] == '\n'))
    {
        end--;
    }

    return bc_email_valid(s, (size_t) (end - s), out);
}

#include <string.h>
#include <strings.h>

#include "bc_media.h"


int
bc_media_type_is(const char *v, size_t len, const char *type)
{
    size_t  tlen = strlen(type);

    /* leading whitespace is allowed by the field's grammar (OWS) */
    while (len && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }

    if (len < tlen || strncasecmp(v, type, tlen) != 0) {
        return 0;
    }

    v += tlen;
    len -= tlen;

    while (len && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }

    return len == 0 || *v == ';';
}

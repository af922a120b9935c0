/*
 * libFuzzer target: the Inbound Parse checks the module runs on a body
 * anyone may post (bc_mp_boundary, bc_mp_complete, bc_mp_field,
 * bc_email_mailbox) and the media-type rule of every body.
 * Input: a Content-Type line, "\n", then the body.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bc_addr.h"
#include "bc_media.h"
#include "bc_multipart.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char         boundary[BC_MP_BOUNDARY_MAX + 1], addr[BC_EMAIL_MAX + 1];
    char        *copy, *from;
    const char  *nl, *body;
    size_t       ctlen, blen;

    nl = memchr(data, '\n', size);
    if (nl == NULL) {
        return 0;
    }

    /* exact-size copies: a read past either end is reported by ASan */
    ctlen = (size_t) (nl - (const char *) data);
    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    body = copy + ctlen + 1;
    blen = size - ctlen - 1;

    (void) bc_media_type_is(copy, ctlen, "multipart/form-data");

    if (bc_mp_boundary(copy, ctlen, boundary) == 0) {
        (void) bc_mp_complete(body, blen, boundary);
        from = bc_mp_field(body, blen, boundary, "from");
        if (from != NULL) {
            (void) bc_email_mailbox(from, strlen(from), addr);
            free(from);
        }
    }

    (void) bc_email_mailbox(body, blen, addr);

    free(copy);
    return 0;
}

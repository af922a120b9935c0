/*
 * Top-level members of a JSON object through yajl's callbacks (see
 * bc_json.h). Only values at depth 1 are looked at; nested objects and
 * arrays are walked by yajl (so they are validated) and skipped.
 */
#include <string.h>

#include <yajl/yajl_parse.h>

#include "bc_json.h"


typedef struct {
    bc_json_field_t  *fields;
    size_t            nfields;
    int               depth;        /* 1: inside the top-level object */
    int               seen_root;
    bc_json_field_t  *want;         /* the field the next value fills */
} bc_json_walk_t;


static int
bc_json_value(bc_json_walk_t *w, const char *v, size_t len)
{
    bc_json_field_t  *f = w->want;

    if (w->depth == 0) {
        return 0;                   /* a scalar document: not an object */
    }

    w->want = NULL;

    if (f != NULL) {
        if (v != NULL && len < f->size) {
            memcpy(f->out, v, len);
            f->out[len] = '\0';

        } else {
            f->out[0] = '\0';
        }
    }

    return 1;
}


static int
bc_json_null(void *ctx)
{
    return bc_json_value(ctx, NULL, 0);
}


static int
bc_json_boolean(void *ctx, int b)
{
    (void) b;
    return bc_json_value(ctx, NULL, 0);
}


static int
bc_json_number(void *ctx, const char *v, size_t len)
{
    return bc_json_value(ctx, v, len);
}


static int
bc_json_string(void *ctx, const unsigned char *v, size_t len)
{
    /* a decoded string with a NUL inside is no C string: treat as absent */
    if (memchr(v, '\0', len) != NULL) {
        return bc_json_value(ctx, NULL, 0);
    }

    return bc_json_value(ctx, (const char *) v, len);
}


static int
bc_json_key(void *ctx, const unsigned char *key, size_t len)
{
    bc_json_walk_t  *w = ctx;
    size_t           i;

    w->want = NULL;

    if (w->depth != 1) {
        return 1;
    }

    for (i = 0; i < w->nfields; i++) {
        if (strlen(w->fields[i].name) == len
            && memcmp(w->fields[i].name, key, len) == 0)
        {
            w->want = &w->fields[i];
            break;
        }
    }

    return 1;
}


static int
bc_json_open(void *ctx)
{
    bc_json_walk_t  *w = ctx;

    if (w->depth == 0) {
        if (w->seen_root) {
            return 0;
        }

        w->seen_root = 1;

    } else if (w->want != NULL) {
        w->want->out[0] = '\0';     /* a container is no text value */
        w->want = NULL;
    }

    w->depth++;

    return 1;
}


static int
bc_json_close(void *ctx)
{
    bc_json_walk_t  *w = ctx;

    w->depth--;
    w->want = NULL;

    return 1;
}


static int
bc_json_open_array(void *ctx)
{
    bc_json_walk_t  *w = ctx;

    if (w->depth == 0) {
        return 0;                   /* the document is an array */
    }

    return bc_json_open(ctx);
}


static const yajl_callbacks  bc_json_callbacks = {
    bc_json_null,
    bc_json_boolean,
    NULL,                           /* integers and doubles: as written, */
    NULL,                           /* through bc_json_number */
    bc_json_number,
    bc_json_string,
    bc_json_open,
    bc_json_key,
    bc_json_close,
    bc_json_open_array,
    bc_json_close
};


int
bc_json_fields(const char *json, size_t len, bc_json_field_t *fields,
    size_t nfields)
{
    size_t           i;
    yajl_handle      h;
    yajl_status      st;
    bc_json_walk_t   w;

    for (i = 0; i < nfields; i++) {
        fields[i].out[0] = '\0';
    }

    memset(&w, 0, sizeof(w));
    w.fields = fields;
    w.nfields = nfields;

    h = yajl_alloc(&bc_json_callbacks, NULL, &w);
    if (h == NULL) {
        return -1;
    }

    st = yajl_parse(h, (const unsigned char *) json, len);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    yajl_free(h);

    if (st != yajl_status_ok || !w.seen_root || w.depth != 0) {
        for (i = 0; i < nfields; i++) {
            fields[i].out[0] = '\0';
        }

        return -1;
    }

    return 0;
}

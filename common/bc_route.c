/*
 * The route table compiled into a segment tree (bc_route.h).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_route.h"


typedef struct bc_route_node_s  bc_route_node_t;

struct bc_route_node_s {
    const char         *seg;       /* literal segment, into router->text */
    size_t              seg_len;
    bc_route_node_t   **lits;      /* literal children: by length, bytes */
    size_t              nlits;
    bc_route_node_t    *param;     /* the {name} child */
    const bc_route_t  **rows;      /* the rows whose pattern ends here */
    size_t              nrows;
    unsigned            allowed;   /* their methods */
};

/* a pattern without {name} segments, by its whole path */
typedef struct {
    const char             *path;      /* NULL: a free slot */
    size_t                  len;
    const bc_route_node_t  *node;
} bc_route_exact_t;

struct bc_router_s {
    bc_route_node_t    *root;
    bc_route_t         *rows;      /* copies, HEAD added where GET is */
    char               *text;      /* the patterns, copied */
    bc_route_exact_t   *exact;     /* open addressing, a power of 2 long */
    unsigned            exact_bits;
};


static const bc_route_node_t *bc_route_walk(const bc_route_node_t *node,
    const char *p, const char *end, bc_route_match_t *match, size_t nparams);


static void
bc_route_err(char *err, size_t err_len, const char *fmt, ...)
{
    va_list  args;

    if (err == NULL || err_len == 0) {
        return;
    }

    va_start(args, fmt);
    vsnprintf(err, err_len, fmt, args);
    va_end(args);
}


static int
bc_route_cmp(const char *a, size_t a_len, const char *b, size_t b_len)
{
    /* length first: most segments differ in length, and it is one compare */
    if (a_len != b_len) {
        return a_len < b_len ? -1 : 1;
    }

    return memcmp(a, b, a_len);
}


/* the index of the literal child seg, or where it would go (*found 0) */
static size_t
bc_route_search(const bc_route_node_t *node, const char *seg, size_t len,
    int *found)
{
    int     c;
    size_t  lo, hi, mid;

    lo = 0;
    hi = node->nlits;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        c = bc_route_cmp(seg, len, node->lits[mid]->seg,
                         node->lits[mid]->seg_len);

        if (c == 0) {
            *found = 1;
            return mid;
        }

        if (c < 0) {
            hi = mid;

        } else {
            lo = mid + 1;
        }
    }

    *found = 0;

    return lo;
}


static void
bc_route_node_free(bc_route_node_t *node)
{
    size_t  i;

    if (node == NULL) {
        return;
    }

    for (i = 0; i < node->nlits; i++) {
        bc_route_node_free(node->lits[i]);
    }

    bc_route_node_free(node->param);
    free(node->lits);
    free(node->rows);
    free(node);
}


/* the literal child seg of node, added if missing; NULL: no memory */
static bc_route_node_t *
bc_route_literal(bc_route_node_t *node, const char *seg, size_t len)
{
    int                found;
    size_t             at;
    bc_route_node_t   *child, **lits;

    at = bc_route_search(node, seg, len, &found);
    if (found) {
        return node->lits[at];
    }

    lits = realloc(node->lits, (node->nlits + 1) * sizeof(*lits));
    if (lits == NULL) {
        return NULL;
    }

    node->lits = lits;

    child = calloc(1, sizeof(bc_route_node_t));
    if (child == NULL) {
        return NULL;
    }

    child->seg = seg;
    child->seg_len = len;

    memmove(&lits[at + 1], &lits[at], (node->nlits - at) * sizeof(*lits));
    lits[at] = child;
    node->nlits++;

    return child;
}


/* the node of row's pattern, added if missing; NULL with err set */
static bc_route_node_t *
bc_route_insert(bc_router_t *router, const bc_route_t *row, char *err,
    size_t err_len)
{
    size_t            len, nparams;
    const char       *p, *end, *seg, *brace;
    bc_route_node_t  *node;

    p = row->pattern;
    end = p + strlen(p);
    node = router->root;
    nparams = 0;

    if (*p != '/') {
        bc_route_err(err, err_len, "route \"%s\": does not start with '/'",
                     row->pattern);
        return NULL;
    }

    while (p < end) {
        seg = p + 1;
        p = memchr(seg, '/', end - seg);
        if (p == NULL) {
            p = end;
        }

        len = p - seg;
        brace = len ? memchr(seg + 1, '{', len - 1) : NULL;

        if (len == 0 || brace != NULL
            || memchr(seg, '}', len ? len - 1 : 0) != NULL
            || (seg[0] == '{') != (seg[len - 1] == '}')
            || (seg[0] == '{' && len < 3))
        {
            bc_route_err(err, err_len, "route \"%s\": empty or malformed "
                         "segment", row->pattern);
            return NULL;
        }

        if (seg[0] != '{') {
            node = bc_route_literal(node, seg, len);

        } else if (++nparams > BC_ROUTE_PARAMS_MAX) {
            bc_route_err(err, err_len, "route \"%s\": more than %d "
                         "parameters", row->pattern, BC_ROUTE_PARAMS_MAX);
            return NULL;

        } else {
            if (node->param == NULL) {
                node->param = calloc(1, sizeof(bc_route_node_t));
            }

            node = node->param;
        }

        if (node == NULL) {
            bc_route_err(err, err_len, "out of memory");
            return NULL;
        }
    }

    return node;
}


static int
bc_route_add(bc_router_t *router, const bc_route_t *row, char *err,
    size_t err_len)
{
    bc_route_node_t    *node;
    const bc_route_t  **rows;

    if (row->methods == 0) {
        bc_route_err(err, err_len, "route \"%s\": no methods", row->pattern);
        return -1;
    }

    node = bc_route_insert(router, row, err, err_len);
    if (node == NULL) {
        return -1;
    }

    /* rows of one pattern are told apart by method alone */
    if (node->allowed & row->methods) {
        bc_route_err(err, err_len, "route \"%s\": a method is served twice",
                     row->pattern);
        return -1;
    }

    rows = realloc(node->rows, (node->nrows + 1) * sizeof(*rows));
    if (rows == NULL) {
        bc_route_err(err, err_len, "out of memory");
        return -1;
    }

    node->rows = rows;
    node->rows[node->nrows++] = row;
    node->allowed |= row->methods;

    return 0;
}


/*
 * The slot of a whole path: its length and last 8 bytes (they tell the
 * exact paths of a route table apart; a collision costs one more probe)
 * through one multiplication, top bits taken.
 */
static size_t
bc_route_hash(const char *path, size_t len, unsigned bits)
{
    uint64_t  w;

    w = 0;

    if (len >= 8) {
        memcpy(&w, path + len - 8, 8);

    } else if (len > 0) {
        memcpy(&w, path, len);
    }

    w = (w ^ len) * UINT64_C(0x9e3779b97f4a7c15);

    return (size_t) (w >> (64 - bits));
}


static const bc_route_node_t *
bc_route_exact(const bc_router_t *router, const char *path, size_t len)
{
    size_t                   i, mask;
    const bc_route_exact_t  *e;

    mask = ((size_t) 1 << router->exact_bits) - 1;
    i = bc_route_hash(path, len, router->exact_bits);

    for ( ;; ) {
        e = &router->exact[i];

        if (e->path == NULL) {
            return NULL;
        }

        if (e->len == len && memcmp(e->path, path, len) == 0) {
            return e->node;
        }

        i = (i + 1) & mask;
    }
}


/* the patterns without {name} segments by whole path: at most half full */
static int
bc_route_exact_build(bc_router_t *router, size_t n)
{
    size_t             i, len, mask;
    unsigned           bits;
    const char        *path;
    bc_route_exact_t  *e;

    for (bits = 3; ((size_t) 1 << bits) < 2 * n; bits++) {
        /* void */
    }

    router->exact_bits = bits;
    router->exact = calloc((size_t) 1 << bits, sizeof(bc_route_exact_t));
    if (router->exact == NULL) {
        return -1;
    }

    mask = ((size_t) 1 << bits) - 1;

    for (i = 0; i < n; i++) {
        path = router->rows[i].pattern;
        len = strlen(path);

        if (memchr(path, '{', len) != NULL
            || bc_route_exact(router, path, len) != NULL)
        {
            continue;
        }

        e = &router->exact[bc_route_hash(path, len, bits)];

        while (e->path != NULL) {
            e = &router->exact[(e - router->exact + 1) & mask];
        }

        e->path = path;
        e->len = len;
        e->node = bc_route_walk(router->root, path, path + len, NULL, 0);
    }

    return 0;
}


bc_router_t *
bc_router_new(const bc_route_t *rows, size_t n, unsigned get_method,
    unsigned head_method, char *err, size_t err_len)
{
    char         *text;
    size_t        i, len;
    bc_router_t  *router;

    router = calloc(1, sizeof(bc_router_t));
    if (router == NULL) {
        bc_route_err(err, err_len, "out of memory");
        return NULL;
    }

    len = 0;

    for (i = 0; i < n; i++) {
        len += strlen(rows[i].pattern) + 1;
    }

    router->root = calloc(1, sizeof(bc_route_node_t));
    router->rows = calloc(n ? n : 1, sizeof(bc_route_t));
    router->text = malloc(len ? len : 1);

    if (router->root == NULL || router->rows == NULL || router->text == NULL)
    {
        bc_route_err(err, err_len, "out of memory");
        bc_router_free(router);
        return NULL;
    }

    text = router->text;

    for (i = 0; i < n; i++) {
        len = strlen(rows[i].pattern) + 1;
        memcpy(text, rows[i].pattern, len);

        router->rows[i] = rows[i];
        router->rows[i].pattern = text;
        text += len;

        if (router->rows[i].methods & get_method) {
            router->rows[i].methods |= head_method;
        }
    }

    for (i = 0; i < n; i++) {
        if (bc_route_add(router, &router->rows[i], err, err_len) != 0) {
            bc_router_free(router);
            return NULL;
        }
    }

    if (bc_route_exact_build(router, n) != 0) {
        bc_route_err(err, err_len, "out of memory");
        bc_router_free(router);
        return NULL;
    }

    return router;
}


void
bc_router_free(bc_router_t *router)
{
    if (router == NULL) {
        return;
    }

    bc_route_node_free(router->root);
    free(router->exact);
    free(router->rows);
    free(router->text);
    free(router);
}


/*
 * The node where path (at a '/' or its end) ends below node, params from
 * nparams on captured in match; NULL: no pattern. A literal child is tried
 * before the {name} one, which only a dead end below the literal reaches.
 */
static const bc_route_node_t *
bc_route_walk(const bc_route_node_t *node, const char *p, const char *end,
    bc_route_match_t *match, size_t nparams)
{
    int                     found;
    size_t                  len, at;
    const char             *seg, *next;
    const bc_route_node_t  *hit;

    if (p == end) {
        if (node->nrows == 0) {
            return NULL;
        }

        if (match) {
            match->nparams = nparams;
        }

        return node;
    }

    if (*p != '/') {
        return NULL;
    }

    seg = p + 1;
    next = memchr(seg, '/', end - seg);
    if (next == NULL) {
        next = end;
    }

    len = next - seg;
    if (len == 0) {
        return NULL;
    }

    if (node->nlits) {
        at = bc_route_search(node, seg, len, &found);

        if (found) {
            hit = bc_route_walk(node->lits[at], next, end, match, nparams);
            if (hit) {
                return hit;
            }
        }
    }

    /* nparams < BC_ROUTE_PARAMS_MAX: no pattern has more {name} segments */
    if (node->param && match) {
        match->params[nparams].data = seg;
        match->params[nparams].len = len;

        return bc_route_walk(node->param, next, end, match, nparams + 1);
    }

    return NULL;
}


bc_route_result_t
bc_router_find(const bc_router_t *router, unsigned method, const char *path,
    size_t len, bc_route_match_t *match)
{
    size_t                  i;
    const bc_route_node_t  *node;

    match->route = NULL;
    match->allowed = 0;
    match->nparams = 0;

    /* the common case, a path of literal segments: one probe */
    node = bc_route_exact(router, path, len);

    if (node == NULL) {
        node = bc_route_walk(router->root, path, path + len, match, 0);
    }

    if (node == NULL) {
        match->nparams = 0;
        return BC_ROUTE_NO_PATH;
    }

    match->allowed = node->allowed;

    for (i = 0; i < node->nrows; i++) {
        if (node->rows[i]->methods & method) {
            match->route = node->rows[i];
            return BC_ROUTE_FOUND;
        }
    }

    return BC_ROUTE_NO_METHOD;
}

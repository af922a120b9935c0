/*
 * A path router for tables of routes: each row is a set of methods, a path
 * pattern and the caller's data. The table is compiled once into a hash of
 * the patterns without {name} segments (a path like /api/send/sms costs one
 * hash and one compare) and a segment tree for the others (one node per path
 * segment, a binary search among the literal children), so no lookup
 * compares the path with every row, and the order of the rows does not
 * matter.
 *
 * Patterns start with '/' and are made of non-empty segments:
 *   /api/send/sms            literal segments, matched exactly
 *   /api/keys/{id}/revoke    {name}: one non-empty segment without '/'
 * A literal segment wins over a {name} one at the same place; when the rest
 * of the path cannot match below the literal, the {name} branch is tried.
 * Parameters are returned by position (their names document the pattern).
 *
 * Methods are opaque bits (the nginx module passes NGX_HTTP_GET etc.): the
 * same pattern may have several rows with disjoint method sets, and a path
 * that matches with no row for the method reports the methods it has, for
 * an Allow header. No nginx headers here: the router is unit-tested alone.
 */
#ifndef BC_ROUTE_H
#define BC_ROUTE_H

#include <stddef.h>

/* most {name} segments in one pattern */
#define BC_ROUTE_PARAMS_MAX  4

typedef struct {
    unsigned     methods;   /* opaque method bits, not 0 */
    const char  *pattern;
    const void  *data;      /* the caller's: handler, scope, ... */
} bc_route_t;

typedef struct {
    const char  *data;      /* into the looked-up path, not terminated */
    size_t       len;
} bc_route_param_t;

typedef struct {
    const bc_route_t  *route;      /* BC_ROUTE_FOUND: the row */
    unsigned           allowed;    /* FOUND, NO_METHOD: the path's methods */
    size_t             nparams;
    bc_route_param_t   params[BC_ROUTE_PARAMS_MAX];
} bc_route_match_t;

typedef enum {
    BC_ROUTE_FOUND = 0,
    BC_ROUTE_NO_PATH,           /* no pattern matches the path: 404 */
    BC_ROUTE_NO_METHOD          /* a pattern matches, not the method: 405 */
} bc_route_result_t;

typedef struct bc_router_s  bc_router_t;

/*
 * Compiles n rows (copied: the table may be temporary). A row whose methods
 * include get_method also serves head_method (GET implies HEAD; pass 0 and
 * 0 for no such rule). NULL on a malformed pattern, rows of one pattern
 * sharing a method, or no memory, with the reason in err.
 */
bc_router_t *bc_router_new(const bc_route_t *rows, size_t n,
    unsigned get_method, unsigned head_method, char *err, size_t err_len);

void bc_router_free(bc_router_t *router);

/* the row serving method on path (len bytes, no query string) */
bc_route_result_t bc_router_find(const bc_router_t *router, unsigned method,
    const char *path, size_t len, bc_route_match_t *match);

#endif /* BC_ROUTE_H */

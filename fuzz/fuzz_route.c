/*
 * libFuzzer target: bc_router_new and bc_router_find (common/bc_route.c),
 * against a reference matcher written from the contract in bc_route.h.
 * Input: route rows, one a line ("<m><pattern>", m's low 4 bits the
 * methods), an empty line, then lookups ("<m><path>", 1 << (m % 5) the
 * method; bit 16 is a method no row has).
 * Invariants:
 *   - the table compiles exactly when every pattern is well formed (starts
 *     with '/', non-empty segments, literal ones brace-free, {name} ones
 *     "{" + brace-free name + "}", at most BC_ROUTE_PARAMS_MAX), every row
 *     has methods, and no two rows of one shape share a method (GET
 *     implies HEAD)
 *   - a lookup finds a path exactly when some pattern matches it, and the
 *     one it finds is the matching shape that prefers a literal segment
 *     at the first place they differ; FOUND names a row of that shape
 *     with the method, NO_METHOD means none, and allowed is the OR of the
 *     shape's methods
 *   - the parameters are the path's segments at the {name} places
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bc_route.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROWS_MAX  16
#define SEGS_MAX  16
#define M_GET     1u
#define M_HEAD    2u

typedef struct {
    const char  *p[SEGS_MAX];
    size_t       len[SEGS_MAX];
    size_t       n;
} segs_t;


/* splits "/a/b" into its segments; -1 if it does not start with '/' or has
   an empty segment, -2 if it has more than SEGS_MAX (the input is then
   skipped: such a pattern is not in the reference's reach, and such a
   path matches none of the patterns it does check) */
static int
split(const char *s, size_t len, segs_t *out)
{
    const char  *end = s + len, *seg, *next;

    out->n = 0;
    if (len == 0 || *s != '/') {
        return -1;
    }
    while (s < end) {
        seg = s + 1;
        next = memchr(seg, '/', end - seg);
        if (next == NULL) {
            next = end;
        }
        if (next == seg) {
            return -1;
        }
        if (out->n == SEGS_MAX) {
            return -2;
        }
        out->p[out->n] = seg;
        out->len[out->n++] = next - seg;
        s = next;
    }
    return 0;
}


static int
is_param(const segs_t *s, size_t i)
{
    return s->p[i][0] == '{';
}


/* the reference's well-formedness of a pattern: 1, 0, or -2 (too long
   for the reference) */
static int
pattern_ok(const char *pat, segs_t *segs)
{
    size_t  i, k, params = 0;
    int     rc;

    rc = split(pat, strlen(pat), segs);
    if (rc != 0) {
        return rc == -2 ? -2 : 0;
    }
    for (i = 0; i < segs->n; i++) {
        const char  *s = segs->p[i];
        size_t       n = segs->len[i];

        if (s[0] == '{') {
            if (n < 3 || s[n - 1] != '}' || ++params > BC_ROUTE_PARAMS_MAX) {
                return 0;
            }
            for (k = 1; k < n - 1; k++) {
                if (s[k] == '{' || s[k] == '}') {
                    return 0;
                }
            }
        } else if (memchr(s, '{', n) || memchr(s, '}', n)) {
            return 0;
        }
    }
    return 1;
}


/* 1 if two patterns have one shape (equal up to the names of params) */
static int
same_shape(const segs_t *a, const segs_t *b)
{
    size_t  i;

    if (a->n != b->n) {
        return 0;
    }
    for (i = 0; i < a->n; i++) {
        if (is_param(a, i) != is_param(b, i)
            || (!is_param(a, i) && (a->len[i] != b->len[i]
                                    || memcmp(a->p[i], b->p[i], a->len[i]))))
        {
            return 0;
        }
    }
    return 1;
}


static int
matches(const segs_t *pat, const segs_t *path)
{
    size_t  i;

    if (pat->n != path->n) {
        return 0;
    }
    for (i = 0; i < pat->n; i++) {
        if (!is_param(pat, i) && (pat->len[i] != path->len[i]
                                  || memcmp(pat->p[i], path->p[i],
                                            pat->len[i]) != 0))
        {
            return 0;
        }
    }
    return 1;
}


/* <0 when a is preferred to b: a literal segment before a {name} one */
static int
prefer(const segs_t *a, const segs_t *b)
{
    size_t  i;

    for (i = 0; i < a->n; i++) {
        if (is_param(a, i) != is_param(b, i)) {
            return is_param(a, i) ? 1 : -1;
        }
    }
    return 0;
}


static unsigned
served(unsigned m)
{
    return (m & M_GET) ? m | M_HEAD : m;
}


static void
lookup(const bc_router_t *router, const bc_route_t *rows, const segs_t *pats,
    size_t n, unsigned method, const char *path, size_t len)
{
    bc_route_match_t   match;
    bc_route_result_t  rc;
    segs_t             ps;
    size_t             i, best = n, j, k;
    unsigned           allowed = 0;

    rc = bc_router_find(router, method, path, len, &match);

    if (split(path, len, &ps) == 0) {
        for (i = 0; i < n; i++) {
            if (matches(&pats[i], &ps)
                && (best == n || prefer(&pats[i], &pats[best]) < 0))
            {
                best = i;
            }
        }
    }

    if (best == n) {
        if (rc != BC_ROUTE_NO_PATH) {
            abort();
        }
        return;
    }

    for (i = 0; i < n; i++) {
        if (same_shape(&pats[i], &pats[best])) {
            allowed |= served(rows[i].methods);
        }
    }
    if (rc == BC_ROUTE_NO_PATH || match.allowed != allowed
        || (rc == BC_ROUTE_FOUND) != ((allowed & method) != 0))
    {
        abort();
    }
    if (rc == BC_ROUTE_FOUND) {
        /* the router's rows are copies: ours are told apart by data */
        j = (size_t) (uintptr_t) match.route->data - 1;
        if (j >= n || match.route->methods != served(rows[j].methods)
            || !same_shape(&pats[j], &pats[best])
            || !(served(match.route->methods) & method))
        {
            abort();
        }
    }

    /* the parameters: the path's segments at the {name} places */
    for (i = 0, k = 0; i < pats[best].n; i++) {
        if (is_param(&pats[best], i)) {
            if (k >= match.nparams || match.params[k].data != ps.p[i]
                || match.params[k].len != ps.len[i])
            {
                abort();
            }
            k++;
        }
    }
    if (k != match.nparams) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bc_route_t    rows[ROWS_MAX];
    segs_t        pats[ROWS_MAX];
    char         *copy, *line, *eol, *end, err[256];
    size_t        n = 0, i, j;
    int           ok = 1, wf;
    bc_router_t  *router;

    copy = malloc(size + 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    copy[size] = '\0';
    end = copy + size;

    /* the rows, up to an empty line (a NUL ends the pattern too) */
    for (line = copy; line < end && *line != '\n'; line = eol + 1) {
        eol = memchr(line, '\n', end - line);
        if (eol == NULL) {
            eol = end;
        }
        *eol = '\0';
        if (n == ROWS_MAX) {
            continue;
        }
        rows[n].methods = (unsigned char) line[0] & 0x0f;
        rows[n].pattern = line[0] ? line + 1 : line;
        rows[n].data = (const void *) (uintptr_t) (n + 1);
        wf = pattern_ok(rows[n].pattern, &pats[n]);
        if (wf == -2) {
            free(copy);
            return 0;
        }
        ok &= rows[n].methods != 0 && wf;
        n++;
    }
    for (i = 0; ok && i < n; i++) {
        for (j = 0; j < i; j++) {
            if (same_shape(&pats[i], &pats[j])
                && (served(rows[i].methods) & served(rows[j].methods)))
            {
                ok = 0;
            }
        }
    }

    router = bc_router_new(rows, n, M_GET, M_HEAD, err, sizeof(err));
    if ((router != NULL) != ok) {
        abort();
    }

    if (router != NULL) {
        line = line < end ? line + 1 : end;
        while (line < end) {
            eol = memchr(line, '\n', end - line);
            if (eol == NULL) {
                eol = end;
            }
            if (eol > line) {
                lookup(router, rows, pats, n, 1u << ((unsigned char) line[0] % 5),
                       line + 1, (size_t) (eol - line - 1));
            }
            line = eol + 1;
        }
        bc_router_free(router);
    }

    free(copy);
    return 0;
}

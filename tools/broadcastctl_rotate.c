/*
 * broadcastctl rotate-key --config FILE [--key-file F] [--batch N]
 *
 * Re-seals every stored value that is not under the key file's current key
 * (older keys, and plaintext rows from before a key file) while the stack
 * runs: each table is walked by primary key, N rows at a time (default
 * 500), and each batch's updates are one short transaction. Values that
 * cannot be opened (a key missing from the file, a damaged value) are left
 * as they are and counted. Idempotent: a second run changes nothing.
 * The key file is --key-file, else the config's encryption_key_file.
 *
 * broadcastctl unseal --key-file F VALUE...
 *
 * Prints each stored VALUE opened (plaintext as it is), one per line: what
 * an operator holding the key file (or a test) reads a raw column with.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

#include "bc_conf.h"
#include "bc_crypt.h"
#include "bc_db.h"
#include "bc_mysql_conf.h"

#include "broadcastctl.h"


/* the sealed columns (docs/DESIGN.md "Privacy"), per table */
typedef struct {
    const char  *table;
    int          text_key;        /* CHAR(26) ULID, else BIGINT */
    const char  *cols[3];
    size_t       ncols;
} rot_table_t;

static const rot_table_t  rot_tables[] = {
    { "messages", 1, { "body", "subject", "payload" }, 3 },
    { "message_events", 0, { "payload", NULL, NULL }, 1 },
};

typedef struct {
    long long  seen, resealed, unreadable;
} rot_count_t;


/* the value re-sealed under the current key (malloc'd), or NULL: already
   current (*bad 0) or unreadable (*bad 1) */
static char *
rot_reseal(const bc_crypt_ring_t *ring, const char *v, unsigned long len,
    size_t *outlen, int *bad)
{
    char    *text, *sealed;
    size_t   tlen;

    *bad = 0;
    if (bc_crypt_is_current(ring, v, len)) {
        return NULL;
    }
    if (bc_crypt_open(ring, v, len, &text, &tlen) < 0) {
        *bad = 1;
        return NULL;
    }
    sealed = bc_crypt_seal(ring, text, tlen, outlen);
    free(text);
    if (sealed == NULL) {
        *bad = 1;
    }
    return sealed;
}


/* appends "col=<quoted sealed>" for each value of row that needs it */
static int
rot_row(MYSQL *m, const bc_crypt_ring_t *ring, const rot_table_t *t,
    MYSQL_ROW row, unsigned long *lens, char **sql, size_t *len,
    rot_count_t *c)
{
    char    *sealed, *q, *p;
    size_t   slen, i, need;
    int      bad, n = 0;

    for (i = 0; i < t->ncols; i++) {
        if (row[i + 1] == NULL) {
            continue;
        }
        c[i].seen++;
        sealed = rot_reseal(ring, row[i + 1], lens[i + 1], &slen, &bad);
        c[i].unreadable += bad;
        if (sealed == NULL) {
            continue;
        }
        q = bc_db_quote(m, sealed, slen);
        free(sealed);
        if (q == NULL) {
            return -1;
        }
        need = *len + strlen(q) + strlen(t->cols[i]) + 4;
        p = realloc(*sql, need + 1);
        if (p == NULL) {
            free(q);
            return -1;
        }
        *sql = p;
        *len += (size_t) sprintf(p + *len, "%s%s=%s", n++ ? "," : "",
                                 t->cols[i], q);
        free(q);
        c[i].resealed++;
    }
    return n;
}


/* one batch after *cursor: reads, re-seals, writes in one transaction;
   rows read, or -1 */
static long
rot_batch(MYSQL *m, const bc_crypt_ring_t *ring, const rot_table_t *t,
    char *cursor, size_t curlen, long batch, rot_count_t *c)
{
    char           sel[512], *upd = NULL, *q;
    size_t         ulen, i;
    long           rows = 0;
    int            n, rc = 0;
    MYSQL_RES     *res;
    MYSQL_ROW      row;
    unsigned long *lens;

    i = (size_t) snprintf(sel, sizeof(sel), "SELECT id");
    for (n = 0; n < (int) t->ncols; n++) {
        i += (size_t) snprintf(sel + i, sizeof(sel) - i, ",%s", t->cols[n]);
    }
    q = bc_db_quote(m, cursor, strlen(cursor));
    if (q == NULL) {
        return -1;
    }
    snprintf(sel + i, sizeof(sel) - i, " FROM %s WHERE id>%s ORDER BY id "
             "LIMIT %ld", t->table, t->text_key ? q : cursor, batch);
    free(q);
    if (mysql_query(m, "START TRANSACTION") != 0 || mysql_query(m, sel) != 0
        || (res = mysql_store_result(m)) == NULL)
    {
        fprintf(stderr, "broadcastctl: %s: %s\n", t->table, mysql_error(m));
        return -1;
    }
    while (rc == 0 && (row = mysql_fetch_row(res)) != NULL) {
        lens = mysql_fetch_lengths(res);
        rows++;
        snprintf(cursor, curlen, "%s", row[0]);
        ulen = 0;
        upd = malloc(64);
        if (upd == NULL) {
            rc = -1;
            break;
        }
        ulen = (size_t) sprintf(upd, "UPDATE %s SET ", t->table);
        n = rot_row(m, ring, t, row, lens, &upd, &ulen, c);
        if (n < 0 || (upd = realloc(upd, ulen + 64)) == NULL) {
            rc = -1;
        } else if (n > 0) {
            ulen += (size_t) sprintf(upd + ulen, t->text_key
                                     ? " WHERE id='%s'" : " WHERE id=%s",
                                     row[0]);
            if (mysql_real_query(m, upd, ulen) != 0) {
                fprintf(stderr, "broadcastctl: %s: %s\n", t->table,
                        mysql_error(m));
                rc = -1;
            }
        }
        free(upd);
    }
    mysql_free_result(res);
    if (rc != 0 || mysql_query(m, "COMMIT") != 0) {
        (void) mysql_query(m, "ROLLBACK");
        return -1;
    }
    return rows;
}


static int
rot_table(MYSQL *m, const bc_crypt_ring_t *ring, const rot_table_t *t,
    long batch)
{
    char         cursor[64];
    long         n;
    size_t       i;
    rot_count_t  c[3];

    memset(c, 0, sizeof(c));
    strcpy(cursor, t->text_key ? "" : "0");
    do {
        n = rot_batch(m, ring, t, cursor, sizeof(cursor), batch, c);
        if (n < 0) {
            return -1;
        }
    } while (n == batch);
    for (i = 0; i < t->ncols; i++) {
        printf("%s.%s: %lld values, %lld re-encrypted, %lld unreadable\n",
               t->table, t->cols[i], c[i].seen, c[i].resealed,
               c[i].unreadable);
    }
    return 0;
}


int
ctl_rotate_key(int argc, char **argv)
{
    const char       *config = ctl_opt(argc, argv, "--config"),
                     *keyfile = ctl_opt(argc, argv, "--key-file"),
                     *b = ctl_opt(argc, argv, "--batch");
    bc_conf_t         cf;
    bc_db_conf_t      db;
    bc_crypt_ring_t   ring = { 0 };
    char              err[512];
    long              batch = b ? atol(b) : 500;
    MYSQL            *m;
    size_t            i;
    int               rc = 0;

    memset(&cf, 0, sizeof(cf));
    if (config == NULL || batch < 1 || batch > 100000) {
        fprintf(stderr, "usage: broadcastctl rotate-key --config FILE "
                "[--key-file F] [--batch 1..100000]\n");
        return 2;
    }
    if (bc_conf_load(&cf, config, err, sizeof(err)) != 0) {
        fprintf(stderr, "broadcastctl: %s\n", err);
        return 1;
    }
    if (keyfile == NULL) {
        keyfile = bc_conf_get(&cf, "encryption_key_file", "");
    }
    if (keyfile[0] == '\0'
        || bc_crypt_ring_load(&ring, keyfile, err, sizeof(err)) != 0)
    {
        fprintf(stderr, "broadcastctl: %s\n", keyfile[0] ? err
                : "no key file: give --key-file or encryption_key_file");
        bc_conf_free(&cf);
        return 1;
    }
    printf("current key: %s\n", ring.keys[ring.current].kid);
    m = ctl_connect_conf(&cf, &db);
    bc_conf_free(&cf);
    if (m == NULL) {
        bc_crypt_ring_free(&ring);
        return 1;
    }
    for (i = 0; rc == 0 && i < sizeof(rot_tables) / sizeof(rot_tables[0]);
         i++)
    {
        rc = rot_table(m, &ring, &rot_tables[i], batch);
    }
    mysql_close(m);
    bc_crypt_ring_free(&ring);
    return rc == 0 ? 0 : 1;
}


int
ctl_unseal(int argc, char **argv)
{
    const char       *keyfile = ctl_opt(argc, argv, "--key-file");
    bc_crypt_ring_t   ring = { 0 };
    char              err[512], *text;
    size_t            tlen;
    int               i, rc = 0, r;

    if (keyfile == NULL
        || bc_crypt_ring_load(&ring, keyfile, err, sizeof(err)) != 0)
    {
        fprintf(stderr, "%s\n", keyfile ? err
                : "usage: broadcastctl unseal --key-file F VALUE...");
        return 2;
    }
    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--key-file") == 0) {
            i++;
            continue;
        }
        r = bc_crypt_open(&ring, argv[i], strlen(argv[i]), &text, &tlen);
        if (r < 0) {
            fprintf(stderr, "broadcastctl: value %d: %s\n", i,
                    bc_crypt_strerror(r));
            rc = 1;
            continue;
        }
        fwrite(text, 1, tlen, stdout);
        putchar('\n');
        free(text);
    }
    bc_crypt_ring_free(&ring);
    return rc;
}

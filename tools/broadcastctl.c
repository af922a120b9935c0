/*
 * broadcastctl: operator tool.
 *
 *   broadcastctl migrate --config FILE [--sql-dir DIR] [--to N]
 *   broadcastctl bootstrap-admin --config FILE --username U --password-file F
 *   broadcastctl hash-password            (password on stdin)
 *   broadcastctl rotate-key --config FILE [--key-file F] [--batch N]
 *   broadcastctl unseal --key-file F VALUE...
 *   broadcastctl redis-retag --config FILE
 *                                         (broadcastctl_rotate.c)
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <argon2.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <openssl/rand.h>

#include "bc_conf.h"
#include "bc_db.h"
#include "bc_mysql_conf.h"
#include "bc_password.h"
#include "broadcastctl.h"

#define CTL_MAX_PASSWORD   1024

static void
usage(void)
{
    fprintf(stderr,
        "usage: broadcastctl migrate --config FILE [--sql-dir DIR] "
        "[--to N]\n"
        "       broadcastctl bootstrap-admin --config FILE --username U "
        "--password-file F\n"
        "       broadcastctl hash-password   (reads the password on stdin)\n"
        "       broadcastctl rotate-key --config FILE [--key-file F] "
        "[--batch N]\n"
        "       broadcastctl unseal --key-file F VALUE...\n"
        "       broadcastctl redis-retag --config FILE\n");
}

const char *
ctl_opt(int argc, char **argv, const char *name)
{
    int  i;

    for (i = 2; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return argv[i + 1];
        }
    }
    return NULL;
}

/* the config's mysql_* keys (bc_mysql_conf.h), with the tool's timeouts */
static int
db_conf_from(const bc_conf_t *cf, bc_db_conf_t *db)
{
    char  err[512];

    memset(db, 0, sizeof(*db));
    if (bc_mysql_conf_from(db, cf, err, sizeof(err)) != 0) {
        fprintf(stderr, "broadcastctl: %s\n", err);
        return -1;
    }
    db->connect_timeout = 5;
    db->rw_timeout = 60;
    return 0;
}

MYSQL *
ctl_connect_conf(const bc_conf_t *cf, bc_db_conf_t *db)
{
    char    err[512];
    MYSQL  *m;

    if (db_conf_from(cf, db) != 0) {
        return NULL;
    }
    m = bc_db_connect(db, err, sizeof(err));
    if (m == NULL) {
        fprintf(stderr, "broadcastctl: mysql: %s\n", err);
    }
    return m;
}

static MYSQL *
connect_from_config(const char *path, bc_db_conf_t *db)
{
    bc_conf_t   cf;
    char        err[512];
    MYSQL      *m;

    memset(&cf, 0, sizeof(cf));
    if (bc_conf_load(&cf, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "broadcastctl: %s\n", err);
        return NULL;
    }
    if (db_conf_from(&cf, db) != 0) {
        bc_conf_free(&cf);
        return NULL;
    }
    bc_conf_free(&cf);

    m = bc_db_connect(db, err, sizeof(err));
    if (m == NULL) {
        fprintf(stderr, "broadcastctl: mysql: %s\n", err);
    }
    return m;
}

/* ---- migrate ------------------------------------------------------------ */

typedef struct {
    long   version;
    char  *name;     /* owned */
} mig_file_t;

static int
mig_cmp(const void *a, const void *b)
{
    const mig_file_t *x = a, *y = b;

    return (x->version > y->version) - (x->version < y->version);
}

static char *
read_file(const char *path, size_t *len)
{
    FILE    *f;
    char    *buf;
    long     n;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        fclose(f);
        return NULL;
    }
    buf = malloc((size_t) n + 1);
    if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n) {
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = (size_t) n;
    return buf;
}

/* 1 if the chunk holds something besides white space and -- comments */
static int
chunk_has_sql(const char *s, size_t len)
{
    size_t  i = 0;

    while (i < len) {
        if (isspace((unsigned char) s[i])) {
            i++;
        } else if (s[i] == '-' && i + 1 < len && s[i + 1] == '-') {
            while (i < len && s[i] != '\n') {
                i++;
            }
        } else {
            return 1;
        }
    }
    return 0;
}

/* runs every statement of a file; statements end with ';' at a line end */
static int
apply_sql(MYSQL *m, const char *file, char *sql, size_t len)
{
    size_t  start = 0, i, j, n = 0;

    for (i = 0; i <= len; i++) {
        int end = 0;

        if (i == len) {
            end = 1;
        } else if (sql[i] == ';') {
            j = i + 1;
            while (j < len && (sql[j] == ' ' || sql[j] == '\t'
                               || sql[j] == '\r'))
            {
                j++;
            }
            end = (j == len || sql[j] == '\n');
        }
        if (!end) {
            continue;
        }
        if (chunk_has_sql(sql + start, i - start)) {
            if (mysql_real_query(m, sql + start, i - start) != 0) {
                fprintf(stderr, "broadcastctl: %s: statement %zu: %s\n",
                    file, n + 1, mysql_error(m));
                return -1;
            }
            n++;
            do {
                MYSQL_RES *r = mysql_store_result(m);
                if (r != NULL) {
                    mysql_free_result(r);
                }
            } while (mysql_next_result(m) == 0);
        }
        start = i + 1;
    }
    return 0;
}

static int
version_applied(MYSQL *m, long version, int *applied)
{
    char        q[128];
    MYSQL_RES  *r;

    *applied = 0;
    snprintf(q, sizeof(q),
        "SELECT 1 FROM schema_migrations WHERE version=%ld", version);
    if (mysql_query(m, q) != 0) {
        if (mysql_errno(m) == ER_NO_SUCH_TABLE) {
            return 0;
        }
        fprintf(stderr, "broadcastctl: %s\n", mysql_error(m));
        return -1;
    }
    r = mysql_store_result(m);
    if (r == NULL) {
        fprintf(stderr, "broadcastctl: %s\n", mysql_error(m));
        return -1;
    }
    *applied = mysql_num_rows(r) > 0;
    mysql_free_result(r);
    return 0;
}

static int
cmd_migrate(int argc, char **argv)
{
    const char    *config = ctl_opt(argc, argv, "--config");
    const char    *dir = ctl_opt(argc, argv, "--sql-dir");
    const char    *to_arg = ctl_opt(argc, argv, "--to");
    char          *to_end;
    long           to = -1;     /* --to N: the migrations up to N only */
    bc_db_conf_t   db;
    MYSQL         *m;
    DIR           *d;
    struct dirent *de;
    mig_file_t    *files = NULL;
    size_t         nfiles = 0, i, napplied = 0;
    int            rc = 1;

    if (config == NULL) {
        usage();
        return 2;
    }
    if (dir == NULL) {
        dir = "./sql";
    }
    if (to_arg != NULL) {
        to = strtol(to_arg, &to_end, 10);
        if (to_arg[0] == '\0' || *to_end != '\0' || to < 0) {
            fprintf(stderr, "broadcastctl: --to wants a migration's "
                "number (e.g. --to 10)\n");
            return 2;
        }
    }

    d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "broadcastctl: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    while ((de = readdir(d)) != NULL) {
        const char  *nm = de->d_name;
        size_t       l = strlen(nm);
        char        *endp;
        long         v;
        mig_file_t  *nf;

        if (!isdigit((unsigned char) nm[0]) || l < 5
            || strcmp(nm + l - 4, ".sql") != 0)
        {
            continue;
        }
        v = strtol(nm, &endp, 10);
        if (*endp != '_' || (to >= 0 && v > to)) {
            continue;
        }
        nf = realloc(files, (nfiles + 1) * sizeof(*files));
        if (nf == NULL) {
            closedir(d);
            goto done;
        }
        files = nf;
        files[nfiles].version = v;
        files[nfiles].name = strdup(nm);
        if (files[nfiles].name == NULL) {
            closedir(d);
            goto done;
        }
        nfiles++;
    }
    closedir(d);
    qsort(files, nfiles, sizeof(*files), mig_cmp);
    for (i = 1; i < nfiles; i++) {
        if (files[i].version == files[i - 1].version) {
            fprintf(stderr, "broadcastctl: two migrations with version %ld\n",
                files[i].version);
            goto done;
        }
    }

    m = connect_from_config(config, &db);
    if (m == NULL) {
        goto done;
    }

    for (i = 0; i < nfiles; i++) {
        char    path[4096], q[192], *sql;
        size_t  len;
        int     applied;

        if (version_applied(m, files[i].version, &applied) != 0) {
            goto close;
        }
        if (applied) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
        sql = read_file(path, &len);
        if (sql == NULL) {
            fprintf(stderr, "broadcastctl: %s: %s\n", path, strerror(errno));
            goto close;
        }
        if (apply_sql(m, files[i].name, sql, len) != 0) {
            free(sql);
            goto close;
        }
        free(sql);
        snprintf(q, sizeof(q),
            "INSERT INTO schema_migrations (version, applied_at) "
            "VALUES (%ld, UTC_TIMESTAMP(3))", files[i].version);
        if (mysql_query(m, q) != 0) {
            fprintf(stderr, "broadcastctl: recording %ld: %s\n",
                files[i].version, mysql_error(m));
            goto close;
        }
        printf("applied %s\n", files[i].name);
        napplied++;
    }
    if (napplied == 0) {
        printf("schema up to date (%zu migration%s)\n", nfiles,
            nfiles == 1 ? "" : "s");
    }
    rc = 0;

close:
    mysql_close(m);
done:
    for (i = 0; i < nfiles; i++) {
        free(files[i].name);
    }
    free(files);
    return rc;
}

/* ---- passwords ---------------------------------------------------------- */

/* argon2id encoded hash of pw, malloc'd, or NULL */
static char *
hash_password(const char *pw, size_t len)
{
    const char  *why;
    char        *enc;

    enc = bc_password_hash(pw, len, &why);
    if (enc == NULL) {
        fprintf(stderr, "broadcastctl: argon2: %s\n", why);
    }
    return enc;
}

static int
cmd_hash_password(void)
{
    char    buf[CTL_MAX_PASSWORD + 2], *enc;
    size_t  n;

    n = fread(buf, 1, sizeof(buf) - 1, stdin);
    if (n > CTL_MAX_PASSWORD) {
        fprintf(stderr, "broadcastctl: password too long\n");
        return 1;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        n--;
    }
    buf[n] = '\0';
    if (n == 0) {
        fprintf(stderr, "broadcastctl: empty password\n");
        return 1;
    }
    enc = hash_password(buf, n);
    memset(buf, 0, sizeof(buf));
    if (enc == NULL) {
        return 1;
    }
    printf("%s\n", enc);
    free(enc);
    return 0;
}

static int
cmd_bootstrap_admin(int argc, char **argv)
{
    const char    *config = ctl_opt(argc, argv, "--config");
    const char    *user = ctl_opt(argc, argv, "--username");
    const char    *pwfile = ctl_opt(argc, argv, "--password-file");
    bc_db_conf_t   db;
    MYSQL         *m;
    MYSQL_RES     *r;
    char          *pw, *enc = NULL, *qu = NULL, *qh = NULL, *q = NULL;
    char           err[512];
    size_t         ulen, qlen;
    int            rc = 1, exists;

    if (config == NULL || user == NULL || pwfile == NULL) {
        usage();
        return 2;
    }
    ulen = strlen(user);
    if (ulen == 0 || ulen > 64) {
        fprintf(stderr, "broadcastctl: username must be 1..64 chars\n");
        return 2;
    }
    pw = bc_read_secret_file(pwfile, err, sizeof(err));
    if (pw == NULL) {
        fprintf(stderr, "broadcastctl: %s\n", err);
        return 1;
    }
    if (pw[0] == '\0') {
        fprintf(stderr, "broadcastctl: %s: empty password\n", pwfile);
        free(pw);
        return 1;
    }

    m = connect_from_config(config, &db);
    if (m == NULL) {
        goto done;
    }
    qu = bc_db_quote(m, user, ulen);
    if (qu == NULL) {
        goto close;
    }
    qlen = strlen(qu) + 512;
    q = malloc(qlen + 512);
    if (q == NULL) {
        goto close;
    }
    snprintf(q, qlen, "SELECT id FROM admin_users WHERE username=%s", qu);
    if (mysql_query(m, q) != 0 || (r = mysql_store_result(m)) == NULL) {
        fprintf(stderr, "broadcastctl: %s\n", mysql_error(m));
        goto close;
    }
    exists = mysql_num_rows(r) > 0;
    mysql_free_result(r);
    if (exists) {
        printf("admin %s exists; password unchanged\n", user);
        rc = 0;
        goto close;
    }

    enc = hash_password(pw, strlen(pw));
    if (enc == NULL) {
        goto close;
    }
    qh = bc_db_quote(m, enc, strlen(enc));
    if (qh == NULL) {
        goto close;
    }
    free(q);
    qlen = strlen(qu) + strlen(qh) + 256;
    q = malloc(qlen);
    if (q == NULL) {
        goto close;
    }
    snprintf(q, qlen,
        "INSERT INTO admin_users (username, password_hash, role, created_at) "
        "VALUES (%s, %s, 'admin', UTC_TIMESTAMP(3))", qu, qh);
    if (mysql_query(m, q) != 0) {
        if (mysql_errno(m) == ER_DUP_ENTRY) {
            printf("admin %s exists; password unchanged\n", user);
            rc = 0;
        } else {
            fprintf(stderr, "broadcastctl: %s\n", mysql_error(m));
        }
        goto close;
    }
    printf("admin %s created (id %llu)\n", user,
        (unsigned long long) mysql_insert_id(m));
    rc = 0;

close:
    mysql_close(m);
done:
    free(q);
    free(qu);
    free(qh);
    free(enc);
    memset(pw, 0, strlen(pw));
    free(pw);
    return rc;
}

int
main(int argc, char **argv)
{
    int  rc;

    if (argc < 2) {
        usage();
        return 2;
    }
    if (strcmp(argv[1], "hash-password") == 0) {
        return cmd_hash_password();
    }
    if (strcmp(argv[1], "unseal") == 0) {
        return ctl_unseal(argc, argv);
    }
    if (strcmp(argv[1], "redis-retag") == 0) {
        return ctl_redis_retag(argc, argv);
    }
    if (strcmp(argv[1], "migrate") != 0
        && strcmp(argv[1], "bootstrap-admin") != 0
        && strcmp(argv[1], "rotate-key") != 0)
    {
        usage();
        return 2;
    }

    if (mysql_library_init(0, NULL, NULL) != 0) {
        fprintf(stderr, "broadcastctl: mysql_library_init failed\n");
        return 1;
    }
    if (strcmp(argv[1], "migrate") == 0) {
        rc = cmd_migrate(argc, argv);
    } else if (strcmp(argv[1], "rotate-key") == 0) {
        rc = ctl_rotate_key(argc, argv);
    } else {
        rc = cmd_bootstrap_admin(argc, argv);
    }
    mysql_library_end();
    return rc;
}

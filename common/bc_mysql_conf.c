/*
 * The MySQL connection settings of every program (bc_mysql_conf.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_mysql_conf.h"


enum { BC_MYSQL_STR = 0, BC_MYSQL_PORT, BC_MYSQL_SECRET };

typedef struct {
    const char  *name;       /* bc_mysql_conf_set(), broadcast_mysql */
    const char  *key;        /* in a "key = value" file */
    const char  *def;        /* the file's default */
    size_t       offset;     /* the field in bc_db_conf_t */
    size_t       size;       /* of a string field */
    int          kind;
    int          directive;  /* a name=value parameter of broadcast_mysql */
} bc_mysql_setting_t;


#define BC_MYSQL_FIELD(f)                                                     \
    offsetof(bc_db_conf_t, f), sizeof(((bc_db_conf_t *) 0)->f)

/* in the order a file's keys are checked */
static const bc_mysql_setting_t  bc_mysql_settings[] = {
    { "host", "mysql_host", "", BC_MYSQL_FIELD(host), BC_MYSQL_STR, 0 },
    { "socket", "mysql_socket", "", BC_MYSQL_FIELD(socket), BC_MYSQL_STR,
      0 },
    { "user", "mysql_user", "broadcast", BC_MYSQL_FIELD(user),
      BC_MYSQL_STR, 1 },
    { "database", "mysql_database", "broadcast", BC_MYSQL_FIELD(database),
      BC_MYSQL_STR, 1 },
    { "port", "mysql_port", "3306", BC_MYSQL_FIELD(port), BC_MYSQL_PORT, 0 },
    { "password_file", "mysql_password_file", "", BC_MYSQL_FIELD(password),
      BC_MYSQL_SECRET, 1 },
};

#define BC_MYSQL_NSETTINGS                                                    \
    (sizeof(bc_mysql_settings) / sizeof(bc_mysql_settings[0]))


/* 1..65535 from exactly len digits, else 0 */
static unsigned
bc_mysql_port(const char *p, size_t len)
{
    unsigned long  n = 0;
    size_t         i;

    if (len == 0 || len > 5) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return 0;
        }
        n = n * 10 + (unsigned long) (p[i] - '0');
    }

    return n >= 1 && n <= 65535 ? (unsigned) n : 0;
}


/* the password from the file at path (len bytes), wiped from the heap */
static int
bc_mysql_secret(char *dst, size_t size, const char *path, size_t len,
    const char *label, char *err, size_t errlen)
{
    char   *p, *secret;
    size_t  n;

    p = strndup(path, len);
    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return BC_MYSQL_CONF_SECRET_UNREADABLE;
    }

    secret = bc_read_secret_file(p, err, errlen);
    free(p);
    if (secret == NULL) {
        return BC_MYSQL_CONF_SECRET_UNREADABLE;
    }

    n = strlen(secret);
    if (n >= size) {
        snprintf(err, errlen, "%s is too long", label);
        explicit_bzero(secret, n);
        free(secret);
        return BC_MYSQL_CONF_SECRET_TOO_LONG;
    }

    memcpy(dst, secret, n + 1);
    explicit_bzero(secret, n);
    free(secret);

    return BC_MYSQL_CONF_OK;
}


/* label names the setting in err: its file key, or its parameter name */
static int
bc_mysql_apply(bc_db_conf_t *db, const bc_mysql_setting_t *st,
    const char *value, size_t len, const char *label, char *err,
    size_t errlen)
{
    char  *field = (char *) db + st->offset;

    switch (st->kind) {

    case BC_MYSQL_PORT:
        db->port = bc_mysql_port(value, len);
        if (db->port == 0) {
            snprintf(err, errlen, "%s = \"%.*s\": expected 1..65535", label,
                     (int) len, value);
            return BC_MYSQL_CONF_INVALID;
        }
        return BC_MYSQL_CONF_OK;

    case BC_MYSQL_SECRET:
        if (len == 0) {
            return BC_MYSQL_CONF_OK;
        }
        return bc_mysql_secret(field, st->size, value, len, "mysql password",
                               err, errlen);

    default:
        if (len >= st->size) {
            snprintf(err, errlen, "%s is too long", label);
            return BC_MYSQL_CONF_INVALID;
        }
        memcpy(field, value, len);
        field[len] = '\0';
        return BC_MYSQL_CONF_OK;
    }
}


int
bc_mysql_conf_addr(bc_db_conf_t *db, const char *addr, size_t len)
{
    char            host[sizeof(db->host)];
    size_t          i, hlen;
    unsigned        port;
    const char     *h;
    struct in6_addr a6;
    struct in_addr  a4;

    if (len > 5 && memcmp(addr, "unix:", 5) == 0) {
        if (len - 5 >= sizeof(db->socket)) {
            return BC_MYSQL_CONF_INVALID;
        }
        memcpy(db->socket, addr + 5, len - 5);
        db->socket[len - 5] = '\0';
        return BC_MYSQL_CONF_OK;
    }

    /* the last ':' separates the port, so IPv6 works in brackets too */
    for (i = len; i > 0 && addr[i - 1] != ':'; i--) { /* void */ }

    if (i == 0) {
        return BC_MYSQL_CONF_INVALID;
    }

    port = bc_mysql_port(addr + i, len - i);
    if (port == 0) {
        return BC_MYSQL_CONF_INVALID;
    }

    h = addr;
    hlen = i - 1;
    if (hlen > 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }

    if (hlen == 0 || hlen >= sizeof(host)) {
        return BC_MYSQL_CONF_INVALID;
    }

    memcpy(host, h, hlen);
    host[hlen] = '\0';

    if (inet_pton(AF_INET, host, &a4) != 1
        && inet_pton(AF_INET6, host, &a6) != 1)
    {
        return BC_MYSQL_CONF_INVALID;
    }

    memcpy(db->host, host, hlen + 1);
    db->port = port;

    return BC_MYSQL_CONF_OK;
}


int
bc_mysql_conf_set(bc_db_conf_t *db, const char *name, size_t name_len,
    const char *value, size_t len, int directive, char *err, size_t errlen)
{
    const bc_mysql_setting_t  *st;
    size_t                     i;

    for (i = 0; i < BC_MYSQL_NSETTINGS; i++) {
        st = &bc_mysql_settings[i];

        if (strlen(st->name) != name_len
            || memcmp(st->name, name, name_len) != 0)
        {
            continue;
        }

        if (directive && (!st->directive || len == 0)) {
            break;
        }

        return bc_mysql_apply(db, st, value, len, st->name, err, errlen);
    }

    snprintf(err, errlen, "unknown or empty MySQL setting \"%.*s\"",
             (int) name_len, name);

    return BC_MYSQL_CONF_INVALID;
}


int
bc_mysql_conf_from(bc_db_conf_t *db, const bc_conf_t *cf, char *err,
    size_t errlen)
{
    const bc_mysql_setting_t  *st;
    const char                *v;
    size_t                     i;

    for (i = 0; i < BC_MYSQL_NSETTINGS; i++) {
        st = &bc_mysql_settings[i];
        v = bc_conf_get(cf, st->key, st->def);

        if (bc_mysql_apply(db, st, v, strlen(v), st->key, err, errlen)
            != BC_MYSQL_CONF_OK)
        {
            return -1;
        }
    }

    if (db->host[0] == '\0' && db->socket[0] == '\0') {
        strcpy(db->host, "127.0.0.1");
    }

    return 0;
}


int
bc_mysql_conf_replica_from(bc_db_conf_t *db, const bc_db_conf_t *primary,
    const bc_conf_t *cf, char *err, size_t errlen)
{
    const bc_mysql_setting_t  *st;
    const char                *v;
    char                       key[64];
    size_t                     i;

    v = bc_conf_get(cf, "mysql_replica", NULL);
    if (v == NULL || v[0] == '\0') {
        return 0;
    }

    *db = *primary;
    db->host[0] = '\0';
    db->socket[0] = '\0';

    if (bc_mysql_conf_addr(db, v, strlen(v)) != BC_MYSQL_CONF_OK) {
        snprintf(err, errlen, "mysql_replica: \"%s\" is not <ip>:<port>, "
                 "[<ipv6>]:<port> or unix:<path>", v);
        return -1;
    }

    for (i = 0; i < BC_MYSQL_NSETTINGS; i++) {
        st = &bc_mysql_settings[i];
        if (!st->directive) {
            continue;               /* the address says where */
        }
        snprintf(key, sizeof(key), "mysql_replica_%s", st->name);
        v = bc_conf_get(cf, key, NULL);
        if (v != NULL
            && bc_mysql_apply(db, st, v, strlen(v), key, err, errlen)
               != BC_MYSQL_CONF_OK)
        {
            return -1;
        }
    }

    return 1;
}

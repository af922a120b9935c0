/*
 * MariaDB Connector/C access: connection with timeouts, one retry on a lost
 * connection, and the message row -> JSON shape.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errmsg.h>

#include "bc_crypt.h"
#include "bc_db.h"


static pthread_once_t  bc_db_once = PTHREAD_ONCE_INIT;
static int             bc_db_init_rc;


/*
 * mysql_library_init() is not thread-safe and mysql_init() calls it
 * implicitly: run it exactly once, before the first connection of any thread.
 */
static void
bc_db_library_init(void)
{
    bc_db_init_rc = mysql_library_init(0, NULL, NULL);
}


MYSQL *
bc_db_connect(const bc_db_conf_t *conf, char *err, size_t errlen)
{
    MYSQL        *m;
    unsigned int  timeout;
    my_bool       off;

    pthread_once(&bc_db_once, bc_db_library_init);

    if (bc_db_init_rc != 0) {
        snprintf(err, errlen, "mysql: library initialisation failed");
        return NULL;
    }

    m = mysql_init(NULL);
    if (m == NULL) {
        snprintf(err, errlen, "mysql: out of memory");
        return NULL;
    }

    timeout = conf->connect_timeout ? conf->connect_timeout : 3;
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);

    timeout = conf->rw_timeout ? conf->rw_timeout : 5;
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &timeout);

    /* we reconnect ourselves, where we know whether a retry is safe */
    off = 0;
    mysql_options(m, MYSQL_OPT_RECONNECT, &off);

    mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_options(m, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");

    if (mysql_real_connect(m, conf->host[0] ? conf->host : NULL,
                           conf->user, conf->password,
                           conf->database[0] ? conf->database : NULL,
                           conf->port,
                           conf->socket[0] ? conf->socket : NULL, 0)
        == NULL)
    {
        snprintf(err, errlen, "mysql connect %s: %s",
                 conf->socket[0] ? conf->socket : conf->host, mysql_error(m));
        mysql_close(m);
        return NULL;
    }

    if (mysql_autocommit(m, 1) != 0) {
        snprintf(err, errlen, "mysql autocommit: %s", mysql_error(m));
        mysql_close(m);
        return NULL;
    }

    return m;
}


int
bc_db_conn_error(unsigned errnum)
{
    switch (errnum) {
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
#ifdef CR_SERVER_LOST_EXTENDED
    case CR_SERVER_LOST_EXTENDED:
#endif
        return 1;
    }

    return 0;
}


int
bc_db_query(MYSQL **m, const bc_db_conf_t *conf, const char *sql,
    size_t len, char *err, size_t errlen)
{
    unsigned  errnum;
    int       attempt, in_trans;

    for (attempt = 0; attempt < 2; attempt++) {

        if (*m == NULL) {
            *m = bc_db_connect(conf, err, errlen);
            if (*m == NULL) {
                return -1;
            }
        }

        /*
         * A transaction dies with its connection: re-running only this
         * statement on a new connection (a COMMIT, say) would report success
         * for work that was lost, so then we reconnect but do not retry.
         */
        in_trans = ((*m)->server_status & SERVER_STATUS_IN_TRANS) != 0;

        if (mysql_real_query(*m, sql, (unsigned long) len) == 0) {
            return 0;
        }

        errnum = mysql_errno(*m);
        snprintf(err, errlen, "mysql: %s", mysql_error(*m));

        if (!bc_db_conn_error(errnum)) {
            return -1;
        }

        mysql_close(*m);
        *m = NULL;

        if (in_trans) {
            snprintf(err, errlen,
                     "mysql: connection lost inside a transaction");
            *m = bc_db_connect(conf, err, errlen);
            return -1;
        }
    }

    return -1;
}


char *
bc_db_quote(MYSQL *m, const char *s, size_t len)
{
    char           *out;
    unsigned long   n;

    out = malloc(2 * len + 3);
    if (out == NULL) {
        return NULL;
    }

    out[0] = '\'';
    n = mysql_real_escape_string(m, out + 1, s, (unsigned long) len);

    if (n == (unsigned long) -1) {
        free(out);
        return NULL;
    }

    out[n + 1] = '\'';
    out[n + 2] = '\0';

    return out;
}


enum {
    BC_COL_STRING,
    BC_COL_SEALED,      /* text sealed at rest (bc_crypt.h) */
    BC_COL_INT,
    BC_COL_PRICE,
    BC_COL_TIME
};


typedef struct {
    const char  *key;
    int          type;
} bc_db_column_t;


/* in the order of BC_DB_MESSAGE_COLUMNS */
static const bc_db_column_t  bc_db_message_columns[] = {
    { "id",                    BC_COL_STRING },
    { "batch_id",              BC_COL_STRING },
    { "channel",               BC_COL_STRING },
    { "direction",             BC_COL_STRING },
    { "provider",              BC_COL_STRING },
    { "to",                    BC_COL_STRING },
    { "from",                  BC_COL_STRING },
    { "messaging_service_sid", BC_COL_STRING },
    { "body",                  BC_COL_SEALED },
    { "status",                BC_COL_STRING },
    { "provider_message_id",   BC_COL_STRING },
    { "error_code",            BC_COL_STRING },
    { "error_message",         BC_COL_STRING },
    { "price",                 BC_COL_PRICE },
    { "price_unit",            BC_COL_STRING },
    { "num_segments",          BC_COL_INT },
    { "attempts",              BC_COL_INT },
    { "created_at",            BC_COL_TIME },
    { "updated_at",            BC_COL_TIME },
    { "sent_at",               BC_COL_TIME },
    { "delivered_at",          BC_COL_TIME },
    { "read_at",               BC_COL_TIME },
};


static json_t *
bc_db_column_json(int type, const char *v, unsigned long len)
{
    char       buf[64], *end;
    long long  ll;
    size_t     i;

    if (v == NULL) {
        return json_null();
    }

    switch (type) {

    case BC_COL_INT:
    case BC_COL_PRICE:
        if (len == 0 || len >= sizeof(buf)) {
            return json_null();
        }

        memcpy(buf, v, len);
        buf[len] = '\0';

        if (type == BC_COL_INT) {
            ll = strtoll(buf, &end, 10);
            return *end == '\0' ? json_integer(ll) : json_null();
        }

        /*
         * Money stays decimal text, as Twilio sends it ("-0.00790"): a
         * binary double would print -0.0079000000000000008.
         */
        (void) strtod(buf, &end);
        return *end == '\0' ? json_string(buf) : json_null();

    case BC_COL_TIME:
        /* "....:00.123456Z" from DATE_FORMAT %f: keep milliseconds */
        for (i = 0; i < len && v[i] != '.'; i++) {
            /* void */
        }

        if (i == len || i + 4 >= sizeof(buf)) {
            return json_stringn(v, len);
        }

        memcpy(buf, v, i + 4 <= len ? i + 4 : len);
        i = i + 4 <= len ? i + 4 : len;
        buf[i++] = 'Z';

        return json_stringn(buf, i);

    default:
        return json_stringn(v, len);
    }
}


int
bc_db_set_sealed(json_t *obj, const char *key, const char *v,
    unsigned long len, int as_json)
{
    char     *text, name[64];
    size_t    tlen;
    json_t   *val;
    int       rc;

    if (v == NULL) {
        return json_object_set_new(obj, key, json_null());
    }
    rc = bc_crypt_open(bc_crypt_default(), v, len, &text, &tlen);
    if (rc < 0) {
        /* that one value is lost to the reader, never the whole answer */
        snprintf(name, sizeof(name), "%s_error", key);
        json_object_set_new(obj, name, json_string(
            rc == BC_CRYPT_NO_KEY ? "unknown_key"
            : rc == BC_CRYPT_TAMPERED ? "integrity_check_failed"
            : "undecryptable"));
        return json_object_set_new(obj, key, json_null());
    }
    val = as_json ? json_loadb(text, tlen, 0, NULL) : json_stringn(text, tlen);
    free(text);
    return json_object_set_new(obj, key, val ? val : json_null());
}


json_t *
bc_db_message_json(MYSQL_ROW row, unsigned long *lengths)
{
    json_t         *obj, *val;
    size_t          i;
    unsigned long   len;

    obj = json_object();
    if (obj == NULL) {
        return NULL;
    }

    for (i = 0;
         i < sizeof(bc_db_message_columns) / sizeof(bc_db_message_columns[0]);
         i++)
    {
        len = row[i] ? (lengths ? lengths[i] : strlen(row[i])) : 0;
        if (bc_db_message_columns[i].type == BC_COL_SEALED) {
            if (bc_db_set_sealed(obj, bc_db_message_columns[i].key, row[i],
                                 len, 0) != 0)
            {
                json_decref(obj);
                return NULL;
            }
            continue;
        }
        val = bc_db_column_json(bc_db_message_columns[i].type, row[i], len);

        /* text that is not UTF-8 cannot be a JSON string */
        if (val == NULL) {
            val = json_null();
        }

        if (json_object_set_new(obj, bc_db_message_columns[i].key, val)
            != 0)
        {
            json_decref(obj);
            return NULL;
        }
    }

    return obj;
}

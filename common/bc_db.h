/*
 * MariaDB Connector/C access shared by the module's thread tasks, the sender
 * and broadcastctl: connection with timeouts, one retry on a lost connection,
 * and the message row <-> JSON shape.
 */
#ifndef BC_DB_H
#define BC_DB_H

#include <stddef.h>
#include <mysql.h>
#include <jansson.h>

typedef struct {
    char      host[128];       /* IP literal, or empty with socket set */
    unsigned  port;
    char      socket[256];
    char      user[64];
    char      password[256];
    char      database[64];
    unsigned  connect_timeout; /* seconds */
    unsigned  rw_timeout;      /* seconds, read and write */
} bc_db_conf_t;

/* connects (utf8mb4, autocommit on, time_zone '+00:00'); NULL + err */
MYSQL *bc_db_connect(const bc_db_conf_t *conf, char *err, size_t errlen);

/* 1 if the MySQL error number means the connection is gone */
int bc_db_conn_error(unsigned errnum);

/*
 * Runs sql on *m, reconnecting once (replacing *m) if the connection was
 * lost. Returns 0 on success (results, if any, are left to the caller), -1
 * with err set.
 */
int bc_db_query(MYSQL **m, const bc_db_conf_t *conf, const char *sql,
    size_t len, char *err, size_t errlen);

/* escapes into a malloc'd quoted SQL string literal 'x' (caller frees) */
char *bc_db_quote(MYSQL *m, const char *s, size_t len);

/* columns to SELECT for bc_db_message_json, in order */
#define BC_DB_MESSAGE_COLUMNS                                                 \
    "id,batch_id,channel,direction,provider,to_address,from_address,"         \
    "messaging_service_sid,body,status,provider_message_id,error_code,"       \
    "error_message,price,price_unit,num_segments,attempts,"                   \
    "DATE_FORMAT(created_at,'%Y-%m-%dT%H:%i:%s.%fZ'),"                         \
    "DATE_FORMAT(updated_at,'%Y-%m-%dT%H:%i:%s.%fZ'),"                         \
    "DATE_FORMAT(sent_at,'%Y-%m-%dT%H:%i:%s.%fZ'),"                            \
    "DATE_FORMAT(delivered_at,'%Y-%m-%dT%H:%i:%s.%fZ'),"                       \
    "DATE_FORMAT(read_at,'%Y-%m-%dT%H:%i:%s.%fZ')"

/*
 * obj[key] = the stored value v[0..len) opened with the process's key ring
 * (bc_crypt.h; plaintext passes), as a string or, with as_json, parsed (null
 * if it is not JSON). A value that cannot be opened is null with
 * obj[key + "_error"] = "integrity_check_failed", "unknown_key" or
 * "undecryptable". 0, or -1 (out of memory).
 */
int bc_db_set_sealed(json_t *obj, const char *key, const char *v,
    unsigned long len, int as_json);

/* the message JSON (docs/DESIGN.md) of a row selected with the above */
json_t *bc_db_message_json(MYSQL_ROW row, unsigned long *lengths);

#endif /* BC_DB_H */

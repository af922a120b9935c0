/*
 * How a MySQL connection is named, in one place for every program: the
 * module's broadcast_mysql directive (an address, then name=value
 * parameters) and the mysql_* keys of the sender's and broadcastctl's
 * "key = value" files fill the same bc_db_conf_t through one table of
 * settings.
 */
#ifndef BC_MYSQL_CONF_H
#define BC_MYSQL_CONF_H

#include <stddef.h>

#include "bc_conf.h"
#include "bc_db.h"

enum {
    BC_MYSQL_CONF_OK = 0,
    /* an unknown name, or a value that is empty where it may not be, too
       long or out of range */
    BC_MYSQL_CONF_INVALID = -1,
    /* the password file cannot be read */
    BC_MYSQL_CONF_SECRET_UNREADABLE = -2,
    /* the password file holds more than the password field takes */
    BC_MYSQL_CONF_SECRET_TOO_LONG = -3
};

/*
 * "<ip>:<port>", "[<ipv6>]:<port>" or "unix:<path>" (len bytes) into db's
 * host and port, or socket. The host must be an IP literal: libmariadb
 * would resolve a name with blocking DNS. 0, or BC_MYSQL_CONF_INVALID.
 */
int bc_mysql_conf_addr(bc_db_conf_t *db, const char *addr, size_t len);

/*
 * One setting by name (name_len bytes): host, port, socket, user,
 * database, password_file (the file's content becomes the password; the
 * path must be complete). With directive, only the name=value parameters
 * of broadcast_mysql (database, user, password_file) are taken, and
 * never empty. Returns BC_MYSQL_CONF_*; err gets a sentence.
 */
int bc_mysql_conf_set(bc_db_conf_t *db, const char *name, size_t name_len,
    const char *value, size_t len, int directive, char *err, size_t errlen);

/*
 * db from the mysql_* keys of a "key = value" file (mysql_host,
 * mysql_port, mysql_socket, mysql_user, mysql_database,
 * mysql_password_file), with their defaults: 127.0.0.1 unless a socket is
 * named, port 3306, user and database "broadcast", no password. The
 * timeouts are left to the caller. 0, or -1 with err.
 */
int bc_mysql_conf_from(bc_db_conf_t *db, const bc_conf_t *cf, char *err,
    size_t errlen);

/*
 * A replica from the same file: mysql_replica, an address as
 * bc_mysql_conf_addr takes it, reached as the primary is (its user,
 * database, password and timeouts) unless mysql_replica_user,
 * mysql_replica_database or mysql_replica_password_file say otherwise.
 * 1 configured, 0 not, -1 with err.
 */
int bc_mysql_conf_replica_from(bc_db_conf_t *db, const bc_db_conf_t *primary,
    const bc_conf_t *cf, char *err, size_t errlen);

#endif /* BC_MYSQL_CONF_H */

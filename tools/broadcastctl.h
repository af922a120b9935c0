/*
 * What broadcastctl's commands in other files share with broadcastctl.c.
 */
#ifndef BROADCASTCTL_H
#define BROADCASTCTL_H

#include <mysql.h>

#include "bc_conf.h"
#include "bc_db.h"

/* --name value lookup in argv[2..] */
const char *ctl_opt(int argc, char **argv, const char *name);

/* connects with the config's mysql_* keys; NULL (printed) on failure */
MYSQL *ctl_connect_conf(const bc_conf_t *cf, bc_db_conf_t *db);

/* broadcastctl_rotate.c */
int ctl_rotate_key(int argc, char **argv);
int ctl_unseal(int argc, char **argv);

/* broadcastctl_redis.c */
int ctl_redis_retag(int argc, char **argv);

#endif /* BROADCASTCTL_H */

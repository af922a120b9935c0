/*
 * One Redis client for a single server or a Redis Cluster (docs/DESIGN.md,
 * "Redis Cluster client"). Callers use it as they use one hiredis
 * redisContext: append/get_reply in order, or command; after REDIS_ERR
 * (or a NULL reply) the client is broken: free it and connect again.
 *
 * Single mode is a pass-through over one redisContext. Cluster mode routes
 * each command by its key's slot to the master that serves it, opens
 * master links lazily, follows MOVED and ASK (pipelined commands too),
 * resends a transaction MOVED as a whole, retries TRYAGAIN/CLUSTERDOWN
 * within conf->timeout_ms, and returns replies in append order.
 */
#ifndef BC_RC_H
#define BC_RC_H

#include <stddef.h>
#include <hiredis/hiredis.h>

#include "bc_redis.h"

#define BC_RC_SLOTS  16384

typedef struct bc_rc_s  bc_rc_t;

/*
 * connects to the first reachable seed (conf->seeds, or host/port/socket),
 * authenticates, and detects the mode: several seeds, or one whose INFO
 * says cluster_enabled:1, mean a cluster (the slot map is read now). NULL
 * with err if no seed answers. conf is copied.
 */
bc_rc_t *bc_rc_connect(const bc_redis_conf_t *conf, char *err, size_t errlen);
void bc_rc_free(bc_rc_t *rc);

int bc_rc_is_cluster(const bc_rc_t *rc);

/* bc_redis_alive() over every open link (0 once a link broke, or NULL) */
int bc_rc_alive(const bc_rc_t *rc);

/* REDIS_OK, or REDIS_ERR (bc_rc_errstr) when the client is broken */
int bc_rc_append(bc_rc_t *rc, int argc, const char **argv,
    const size_t *argvlen);

/* the reply of the oldest command appended; REDIS_OK or REDIS_ERR */
int bc_rc_get_reply(bc_rc_t *rc, redisReply **reply);

/* append + get_reply; NULL with bc_rc_errstr on a connection error */
redisReply *bc_rc_command(bc_rc_t *rc, int argc, const char **argv,
    const size_t *argvlen);

const char *bc_rc_errstr(const bc_rc_t *rc);

/* the cluster slot of a key: CRC16 (XMODEM) % 16384 of its {hash tag} */
unsigned bc_key_slot(const char *key, size_t len);
unsigned bc_crc16(const char *buf, size_t len);

/* how a command is routed in a cluster (the command table, bc_rc_map.c) */
typedef enum {
    BC_RC_ROUTE_KEY = 0,     /* by argv[*key] */
    BC_RC_ROUTE_ANY,         /* keyless: any master */
    BC_RC_ROUTE_ALL,         /* to every master (SCRIPT LOAD, FLUSH) */
    BC_RC_ROUTE_MULTI,       /* held until the next keyed command */
    BC_RC_ROUTE_END,         /* EXEC, DISCARD: end of a transaction */
    BC_RC_ROUTE_PREV         /* WAIT: the node of the command before it */
} bc_rc_route_t;

bc_rc_route_t bc_rc_route(int argc, const char **argv,
    const size_t *argvlen, int *key);

#endif /* BC_RC_H */

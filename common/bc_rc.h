/*
 * SHIM (single mode only) until the real client lands from branch rc.
 */
#ifndef BC_RC_H
#define BC_RC_H

#include <stddef.h>
#include <hiredis/hiredis.h>
#include "bc_redis.h"

#define BC_RC_SLOTS  16384
typedef struct bc_rc_s  bc_rc_t;
bc_rc_t *bc_rc_connect(const bc_redis_conf_t *conf, char *err, size_t errlen);
void bc_rc_free(bc_rc_t *rc);
int  bc_rc_is_cluster(const bc_rc_t *rc);
int  bc_rc_alive(const bc_rc_t *rc);
int  bc_rc_append(bc_rc_t *rc, int argc, const char **argv, const size_t *argvlen);
int  bc_rc_get_reply(bc_rc_t *rc, redisReply **reply);
redisReply *bc_rc_command(bc_rc_t *rc, int argc, const char **argv, const size_t *argvlen);
const char *bc_rc_errstr(const bc_rc_t *rc);
unsigned bc_key_slot(const char *key, size_t len);
#endif

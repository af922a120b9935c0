#include <stdlib.h>
#include "bc_rc.h"
struct bc_rc_s { redisContext *c; };
bc_rc_t *bc_rc_connect(const bc_redis_conf_t *conf, char *err, size_t errlen)
{ bc_rc_t *rc = calloc(1, sizeof(*rc)); if (!rc) return NULL; rc->c = bc_redis_connect(conf, err, errlen); if (!rc->c) { free(rc); return NULL; } rc->c->reader->maxbuf = 0; return rc; }
void bc_rc_free(bc_rc_t *rc) { if (rc) { redisFree(rc->c); free(rc); } }
int bc_rc_is_cluster(const bc_rc_t *rc) { (void) rc; return 0; }
int bc_rc_alive(const bc_rc_t *rc) { return rc != NULL && bc_redis_alive(rc->c); }
int bc_rc_append(bc_rc_t *rc, int argc, const char **argv, const size_t *l) { return redisAppendCommandArgv(rc->c, argc, argv, l); }
int bc_rc_get_reply(bc_rc_t *rc, redisReply **r) { return redisGetReply(rc->c, (void **) r); }
redisReply *bc_rc_command(bc_rc_t *rc, int argc, const char **argv, const size_t *l) { return redisCommandArgv(rc->c, argc, argv, l); }
const char *bc_rc_errstr(const bc_rc_t *rc) { return rc->c->errstr; }
unsigned bc_key_slot(const char *key, size_t len) { (void) key; (void) len; return 0; }

/*
 * hiredis helpers and the Redis key names (docs/DESIGN.md).
 */
#ifndef BC_REDIS_H
#define BC_REDIS_H

#include <stddef.h>
#include <hiredis/hiredis.h>

#include "bc_conf.h"
#include "bc_lane.h"

/*
 * Key names. Every key set one MULTI or script touches shares a hash tag,
 * so that on a Redis Cluster it lives in one slot (docs/DESIGN.md, "Redis
 * keys"). The send queue (stream, jobs, batches, retries, idempotency
 * records, the credential cache the send script re-checks, keyword-reply
 * marks queued with their reply) and the events stream (with its dedupe
 * keys and the WhatsApp 24-hour windows the webhook script opens) are
 * spread over lanes, {q}/{q:i} and {ev}/{ev:i}: their names are built by
 * bc_lane_key (bc_lane.h) from the BC_SFX_* suffixes. {calls} holds
 * Twilio call statuses. Keys used alone carry no tag.
 */
#define BC_GROUP_SENDERS      "senders"
#define BC_GROUP_RECORDERS    "recorders"
#define BC_KEY_SENDER_METRICS "bc:metrics:sender"
#define BC_KEY_LOGIN_PREFIX   "bc:login:"
#define BC_KEY_LOGIN_ADDRS_PREFIX "bc:loginaddrs:"
/* Twilio calls (module): bc:{calls}:call:<CallSid> its latest CallStatus,
   EX a day; bc:{calls}:calls:<CallStatus> a sorted set of CallSids by time */
#define BC_KEY_CALL_PREFIX    "bc:{calls}:call:"
#define BC_KEY_CALLS_PREFIX   "bc:{calls}:calls:"
/* in the lanes: bc:{q..}:kwreply:<rule id or help>:<channel>:<peer>, a
   keyword auto-reply sent, EX the sender's keyword_reply_window_s, in the
   lane of "<rule>:<channel>:<peer>"; bc:{ev..}:wawin:<from>:<peer>, a
   WhatsApp customer's 24-hour window opened by the webhook script with the
   event it queues, in the lane of "<from>:<peer>" */

#define BC_MSG_TTL_S     604800
#define BC_DEDUP_TTL_S   172800
#define BC_IDEM_TTL_S    86400
#define BC_CRED_TTL_S    300

/* the same TTLs as command arguments: Redis takes numbers as strings */
#define BC_STR_(x)       #x
#define BC_STR(x)        BC_STR_(x)
#define BC_MSG_TTL       BC_STR(BC_MSG_TTL_S)
#define BC_DEDUP_TTL     BC_STR(BC_DEDUP_TTL_S)
#define BC_IDEM_TTL      BC_STR(BC_IDEM_TTL_S)
#define BC_CRED_TTL      BC_STR(BC_CRED_TTL_S)

/* a Redis Cluster is reached through any of its nodes: the seeds */
#define BC_REDIS_SEEDS_MAX  16

typedef struct {
    char      host[128];    /* IP literal */
    unsigned  port;
} bc_redis_seed_t;

typedef struct {
    /* the first (or only) address: what single-Redis callers connect to */
    char      host[128];    /* IP literal, or empty with socket set */
    unsigned  port;
    char      socket[256];
    /* every ip:port address given, the first one included (seeds[0] is
       host/port); nseeds > 1 means a cluster (bc_rc.h), and so does one
       address whose server reports cluster_enabled:1 */
    bc_redis_seed_t  seeds[BC_REDIS_SEEDS_MAX];
    unsigned         nseeds;
    unsigned  timeout_ms;   /* connect and command timeout */
    /* Redis 6+ ACL user and its password (from a file); an empty user
       with a password authenticates as "default" (requirepass) */
    char      user[64];
    char      password[256];
    /* the send queue's and the events stream's lanes (bc_lane.h); 0 or 1
       is one lane. Every process of a deployment must agree on it */
    unsigned  lanes;
} bc_redis_conf_t;

/*
 * parses "ip:port" or "unix:/path" as the first and only address (the
 * seeds are reset to it); returns 0, -1 if malformed
 */
int bc_redis_conf_parse(bc_redis_conf_t *conf, const char *spec, size_t len);

/*
 * adds one more cluster seed after bc_redis_conf_parse: "ip:port" only (a
 * unix socket can only be the sole address); 0, or -1 with err
 */
int bc_redis_conf_add_seed(bc_redis_conf_t *conf, const char *spec,
    size_t len, char *err, size_t errlen);

/*
 * a list of addresses separated by commas and/or spaces (the sender's
 * "redis" key): the first through bc_redis_conf_parse, the others through
 * bc_redis_conf_add_seed; 0, or -1 with err
 */
/*
 * The Redis settings of a key = value config (the sender's, broadcastctl's):
 * "redis" (bc_redis_conf_parse_list), "redis_user", "redis_password_file",
 * "redis_lanes".
 * 0, or -1 with err naming the key (never the secret)
 */
int bc_redis_conf_from(bc_redis_conf_t *conf, const bc_conf_t *cf,
    char *err, size_t errlen);

int bc_redis_conf_parse_list(bc_redis_conf_t *conf, const char *spec,
    size_t len, char *err, size_t errlen);

/*
 * One setting by name (name_len bytes): "user", "password_file" (a
 * complete path; the file's first line is the password), or "lanes"
 * (1..BC_LANES_MAX). 0, or -1 with err (a sentence without the secret).
 */
int bc_redis_conf_set(bc_redis_conf_t *conf, const char *name,
    size_t name_len, const char *value, size_t len, char *err,
    size_t errlen);

/*
 * The AUTH command for conf, or 0 if it names no password: argc and the
 * argv/argvlen the caller passes to hiredis (they point into conf).
 */
int bc_redis_auth_argv(const bc_redis_conf_t *conf, const char **argv,
    size_t *argvlen);

/* connects with the timeouts and authenticates; NULL + err on failure */
redisContext *bc_redis_connect(const bc_redis_conf_t *conf, char *err,
    size_t errlen);

/*
 * 1 if an idle connection is still usable: no error recorded, and the
 * server has not closed it (a restarted Redis closes every connection; a
 * peek at the socket sees that without a round trip). A dead one must be
 * replaced before a command that must not be sent twice (MULTI/EXEC, a
 * script) is written to it: after a failed read nobody knows whether it ran.
 */
int bc_redis_alive(const redisContext *c);

struct bc_rc_s;      /* bc_rc.h: one Redis server or a cluster */

/*
 * Runs one command (argv form) through the client (bc_rc.h). On a
 * connection error, reconnects once (replacing *rc, which may be NULL on
 * entry) and retries. Returns the reply (caller frees with
 * freeReplyObject) or NULL with err set.
 */
redisReply *bc_redis_cmd(struct bc_rc_s **rc, const bc_redis_conf_t *conf,
    int argc, const char **argv, const size_t *argvlen, char *err,
    size_t errlen);

/* creates the consumer groups (MKSTREAM) of every lane's streams if
   missing; 0 or -1 */
int bc_redis_ensure_groups(struct bc_rc_s *rc, unsigned lanes, char *err,
    size_t errlen);

#endif /* BC_REDIS_H */

/*
 * broadcastctl redis-retag: gives the keys an earlier version wrote the
 * names this version uses (common/bc_redis.h, docs/DESIGN.md "Redis keys":
 * every key set one transaction touches shares a hash tag). Run on the one
 * Redis of a single-Redis deployment, with nginx and the sender stopped,
 * before starting the new version: RENAME keeps a stream with its consumer
 * groups and pending entries, so nothing queued or unacknowledged is lost.
 * Idempotent: a second run finds no old name. The earlier version had one
 * lane: retag before raising redis_lanes / lanes= (bc_lane.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_redis.h"
#include "broadcastctl.h"


typedef struct {
    const char  *from;      /* old name, or old prefix when prefix is 1 */
    const char  *to;
    int          prefix;
} ctl_retag_t;

/* an earlier version had one lane: its keys go to lane 0 */
#define CTL_Q(sfx)   "bc:{" BC_LANE_SEND "}:" sfx
#define CTL_EV(sfx)  "bc:{" BC_LANE_EVENTS "}:" sfx

static const ctl_retag_t  ctl_retags[] = {
    { "bc:stream:send",   CTL_Q(BC_SFX_SEND_STREAM),     0 },
    { "bc:stream:events", CTL_EV(BC_SFX_EVENTS_STREAM),  0 },
    { "bc:retry",         CTL_Q(BC_SFX_RETRY),           0 },
    { "bc:msg:",          CTL_Q(BC_SFX_MSG),             1 },
    { "bc:batch:",        CTL_Q(BC_SFX_BATCH),           1 },
    { "bc:idem:",         CTL_Q(BC_SFX_IDEM),            1 },
    { "bc:cred:",         CTL_Q(BC_SFX_CRED),            1 },
    { "bc:kwreply:",      CTL_Q(BC_SFX_KWREPLY),         1 },
    { "bc:dedup:",        CTL_EV(BC_SFX_DEDUP),          1 },
    { "bc:wawin:",        CTL_EV(BC_SFX_WAWIN),          1 },
    { "bc:call:",         BC_KEY_CALL_PREFIX,    1 },
    { "bc:calls:",        BC_KEY_CALLS_PREFIX,   1 },
};


static redisReply *
ctl_redis(redisContext *c, int argc, const char **argv)
{
    redisReply  *r;

    r = redisCommandArgv(c, argc, argv, NULL);
    if (r == NULL) {
        fprintf(stderr, "broadcastctl: redis: %s\n", c->errstr);
    } else if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "broadcastctl: redis %s: %s\n", argv[0], r->str);
        freeReplyObject(r);
        r = NULL;
    }
    return r;
}


/*
 * An empty stream the new sender created at start (its groups, no entry
 * ever given out) is no conflict: dropped so the old one takes its name.
 * 1 if to is free now, 0 if it holds data, -1 on error.
 */
static int
ctl_retag_free(redisContext *c, const char *to)
{
    const char  *exists[2] = { "EXISTS", to }, *xlen[2] = { "XLEN", to },
                *del[2] = { "DEL", to };
    redisReply  *r;
    long long    n;

    if ((r = ctl_redis(c, 2, exists)) == NULL) {
        return -1;
    }
    n = r->integer;
    freeReplyObject(r);
    if (n == 0) {
        return 1;
    }
    if ((r = ctl_redis(c, 2, xlen)) == NULL) {
        return 0;               /* not a stream: real data */
    }
    n = r->integer;
    freeReplyObject(r);
    if (n != 0 || (r = ctl_redis(c, 2, del)) == NULL) {
        return 0;
    }
    freeReplyObject(r);
    return 1;
}


/*
 * RENAMENX one key; 1 renamed, 0 absent or conflict (reported), -1 error
 */
static int
ctl_retag_key(redisContext *c, const char *from, const char *to)
{
    const char  *argv[3] = { "RENAMENX", from, to },
                *exists[2] = { "EXISTS", from };
    redisReply  *r;
    int          done;

    if ((r = ctl_redis(c, 2, exists)) == NULL) {
        return -1;
    }
    done = (r->integer == 1);
    freeReplyObject(r);
    if (!done) {
        return 0;               /* gone meanwhile, or never written */
    }
    if (ctl_retag_free(c, to) < 0 || (r = ctl_redis(c, 3, argv)) == NULL) {
        return -1;
    }
    done = (r->integer == 1);
    freeReplyObject(r);
    if (!done) {
        fprintf(stderr, "broadcastctl: %s not renamed: %s already holds "
                "data (stop nginx and the sender, then run again)\n", from,
                to);
    }
    return done;
}


/* every key under t->from (SCAN); the count renamed, or -1 */
static long long
ctl_retag_prefix(redisContext *c, const ctl_retag_t *t)
{
    char         cursor[32] = "0", match[64], to[1024];
    const char  *argv[6] = { "SCAN", cursor, "MATCH", match, "COUNT",
                             "1000" };
    redisReply  *r, *keys;
    long long    n = 0;
    size_t       i, plen = strlen(t->from);
    int          ok;

    snprintf(match, sizeof(match), "%s*", t->from);
    do {
        if ((r = ctl_redis(c, 6, argv)) == NULL) {
            return -1;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        keys = r->element[1];
        for (i = 0; i < keys->elements; i++) {
            if (snprintf(to, sizeof(to), "%s%s", t->to,
                         keys->element[i]->str + plen) >= (int) sizeof(to))
            {
                continue;
            }
            ok = ctl_retag_key(c, keys->element[i]->str, to);
            if (ok < 0) {
                freeReplyObject(r);
                return -1;
            }
            n += ok;
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return n;
}


int
ctl_redis_retag(int argc, char **argv)
{
    const char       *config = ctl_opt(argc, argv, "--config");
    bc_conf_t         cf;
    bc_redis_conf_t   rconf;
    redisContext     *c;
    char              err[512];
    size_t            i;
    long long         n;
    int               rc = 0;

    memset(&cf, 0, sizeof(cf));
    if (config == NULL) {
        fprintf(stderr, "usage: broadcastctl redis-retag --config FILE\n");
        return 2;
    }
    if (bc_conf_load(&cf, config, err, sizeof(err)) != 0) {
        fprintf(stderr, "broadcastctl: %s\n", err);
        return 1;
    }
    memset(&rconf, 0, sizeof(rconf));
    if (bc_redis_conf_from(&rconf, &cf, err, sizeof(err)) != 0) {
        fprintf(stderr, "broadcastctl: %s\n", err);
        bc_conf_free(&cf);
        return 1;
    }
    bc_conf_free(&cf);
    rconf.timeout_ms = 10000;
    c = bc_redis_connect(&rconf, err, sizeof(err));
    memset(rconf.password, 0, sizeof(rconf.password));
    if (c == NULL) {
        fprintf(stderr, "broadcastctl: redis: %s\n", err);
        return 1;
    }
    for (i = 0; rc == 0 && i < sizeof(ctl_retags) / sizeof(ctl_retags[0]);
         i++)
    {
        n = ctl_retags[i].prefix ? ctl_retag_prefix(c, &ctl_retags[i])
                                 : ctl_retag_key(c, ctl_retags[i].from,
                                                 ctl_retags[i].to);
        if (n < 0) {
            rc = 1;
            break;
        }
        printf("%s%s -> %s%s: %lld\n", ctl_retags[i].from,
               ctl_retags[i].prefix ? "*" : "", ctl_retags[i].to,
               ctl_retags[i].prefix ? "*" : "", n);
    }
    redisFree(c);
    return rc;
}

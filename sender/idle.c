/*
 * Idle wait of the send loop on the send stream (the events stream has its
 * own thread, which blocks in its XREADGROUP: recorder.c). Reads the
 * group's last-delivered-id (XINFO GROUPS), then blocks in a plain XREAD
 * after that id. Any entry not yet delivered to the group is newer than
 * that id, so XREAD returns at once if one arrived in between (no lost
 * wake-up). XREAD delivers nothing to the group: the next turn's
 * XREADGROUP takes the entries as usual. Also the recorders' lag on the
 * events streams, which paces the recorder's turns (recorder.c).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sender.h"

/* the value of field for group in an XINFO GROUPS reply, or NULL */
static redisReply *
snd_group_field(redisReply *r, const char *group, const char *field)
{
    size_t  i, k;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        return NULL;
    }
    for (i = 0; i < r->elements; i++) {
        redisReply *g = r->element[i], *val = NULL;
        int         ours = 0;
        if (g->type != REDIS_REPLY_ARRAY) {
            continue;
        }
        for (k = 0; k + 1 < g->elements; k += 2) {
            redisReply *f = g->element[k], *v = g->element[k + 1];
            if (f->type != REDIS_REPLY_STRING) {
                continue;
            }
            if (strcmp(f->str, "name") == 0 && v->type == REDIS_REPLY_STRING
                && strcmp(v->str, group) == 0)
            {
                ours = 1;
            } else if (strcmp(f->str, field) == 0) {
                val = v;
            }
        }
        if (ours) {
            return val;
        }
    }
    return NULL;
}

/* last-delivered-id of group in an XINFO GROUPS reply; 0 if found */
static int
snd_idle_last_id(redisReply *r, const char *group, char *out, size_t len)
{
    redisReply  *id = snd_group_field(r, group, "last-delivered-id");

    if (id == NULL || id->type != REDIS_REPLY_STRING || id->len >= len) {
        return -1;
    }
    memcpy(out, id->str, id->len + 1);
    return 0;
}

long long
snd_events_lag(snd_t *s)
{
    const char  *argv[3] = { "XINFO", "GROUPS", NULL };
    redisReply  *r, *lag;
    long long    n = 0;
    unsigned     lane;
    char         stream[64];

    for (lane = 0; lane < SND_LANES(s); lane++) {
        if (snd_redis_ok(s) != 0) {
            return -1;
        }
        argv[2] = snd_events_stream(stream, lane);
        r = snd_redis_argv(s, 3, argv);
        if (r == NULL) {
            return -1;
        }
        /* nil when Redis cannot tell (entries deleted in the range) */
        lag = snd_group_field(r, BC_GROUP_RECORDERS, "lag");
        if (lag == NULL || lag->type != REDIS_REPLY_INTEGER) {
            n = -1;
        } else if (n >= 0) {
            n += lag->integer;
        }
        freeReplyObject(r);
    }
    return n;
}

static void
snd_idle_sleep(int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/*
 * With several lanes, one XREAD over all their streams where they live on
 * one server; on a cluster they live in different slots, so the wait is on
 * one lane at a time, in turn, for block_ms / lanes: an entry in another
 * lane waits at most that long.
 */
void
snd_idle_wait(snd_t *s, int block_ms)
{
    const char  *xinfo[3] = { "XINFO", "GROUPS", NULL };
    const char  *argv[6 + 2 * BC_LANES_MAX];
    char         streams[BC_LANES_MAX][64], ids[BC_LANES_MAX][48], blk[16];
    unsigned     lanes = SND_LANES(s), first = 0, n, i, lane;
    redisReply  *r;
    int          ok;

    if (snd_redis_ok(s) != 0) {
        return;                 /* the loop sleeps while Redis is down */
    }
    n = lanes;
    if (lanes > 1 && bc_rc_is_cluster(s->redis)) {
        first = s->idle_lane++ % lanes;
        n = 1;
        block_ms /= (int) lanes;
        block_ms = block_ms < 10 ? 10 : block_ms;
    }
    for (i = 0; i < n; i++) {
        lane = first + i;
        xinfo[2] = snd_send_stream(streams[i], lane);
        r = snd_redis_argv(s, 3, xinfo);
        if (r == NULL) {
            return;
        }
        ok = snd_idle_last_id(r, BC_GROUP_SENDERS, ids[i], sizeof(ids[i]))
             == 0;
        freeReplyObject(r);
        if (!ok) {
            /* the group is missing (the next read recreates it): do not
               spin */
            snd_idle_sleep(block_ms < 50 ? block_ms : 50);
            return;
        }
    }

    snprintf(blk, sizeof(blk), "%d", block_ms);
    argv[0] = "XREAD";
    argv[1] = "COUNT";
    argv[2] = "1";
    argv[3] = "BLOCK";
    argv[4] = blk;
    argv[5] = "STREAMS";
    for (i = 0; i < n; i++) {
        argv[6 + i] = streams[i];
        argv[6 + n + i] = ids[i];
    }
    r = snd_redis_argv(s, (int) (6 + 2 * n), argv);
    if (r == NULL) {
        return;
    }
    freeReplyObject(r);         /* only a wake-up: entries are read later */
}

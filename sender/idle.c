/*
 * Idle wait on both streams at once. XREADGROUP blocks on one group only
 * and the send and event streams have different groups, so blocking on the
 * send stream left webhook events waiting up to the whole block time.
 * Instead: read each group's last-delivered-id (XINFO GROUPS), then block in
 * one plain XREAD on both streams after those ids. Any entry not yet
 * delivered to its group is newer than that id, so XREAD returns at once if
 * one arrived in between (no lost wake-up), and otherwise as soon as either
 * stream gets one. XREAD delivers nothing to the groups: the next turn's
 * XREADGROUP calls take the entries as usual.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sender.h"

/* last-delivered-id of group in an XINFO GROUPS reply; 0 if found */
static int
snd_idle_last_id(redisReply *r, const char *group, char *out, size_t len)
{
    size_t  i, k;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        return -1;
    }
    for (i = 0; i < r->elements; i++) {
        redisReply *g = r->element[i];
        const char *id = NULL;
        int         ours = 0;
        if (g->type != REDIS_REPLY_ARRAY) {
            continue;
        }
        for (k = 0; k + 1 < g->elements; k += 2) {
            redisReply *f = g->element[k], *v = g->element[k + 1];
            if (f->type != REDIS_REPLY_STRING
                || v->type != REDIS_REPLY_STRING)
            {
                continue;
            }
            if (strcmp(f->str, "name") == 0 && strcmp(v->str, group) == 0) {
                ours = 1;
            } else if (strcmp(f->str, "last-delivered-id") == 0) {
                id = v->str;
            }
        }
        if (ours && id != NULL && strlen(id) < len) {
            strcpy(out, id);
            return 0;
        }
    }
    return -1;
}

static void
snd_idle_sleep(int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

void
snd_idle_wait(snd_t *s, int block_ms)
{
    const char  *xinfo_send[4] = { "XINFO", "GROUPS", BC_KEY_SEND_STREAM };
    const char  *xinfo_ev[4] = { "XINFO", "GROUPS", BC_KEY_EVENTS_STREAM };
    const char  *argv[9];
    char         id_send[48], id_ev[48], blk[16];
    void        *r1 = NULL, *r2 = NULL;
    redisReply  *r;
    int          ok;

    if (snd_redis_ok(s) != 0) {
        return;                 /* the loop sleeps while Redis is down */
    }
    redisAppendCommandArgv(s->redis, 3, xinfo_send, NULL);
    redisAppendCommandArgv(s->redis, 3, xinfo_ev, NULL);
    if (redisGetReply(s->redis, &r1) != REDIS_OK
        || redisGetReply(s->redis, &r2) != REDIS_OK)
    {
        if (r1 != NULL) {
            freeReplyObject(r1);
        }
        snd_redis_lost(s, s->redis->errstr);
        return;
    }
    ok = snd_idle_last_id(r1, BC_GROUP_SENDERS, id_send, sizeof(id_send))
         == 0
         && snd_idle_last_id(r2, BC_GROUP_RECORDERS, id_ev, sizeof(id_ev))
         == 0;
    freeReplyObject(r1);
    freeReplyObject(r2);
    if (!ok) {
        /* a group is missing (the next read recreates it): do not spin */
        snd_idle_sleep(block_ms < 50 ? block_ms : 50);
        return;
    }

    snprintf(blk, sizeof(blk), "%d", block_ms);
    argv[0] = "XREAD";
    argv[1] = "COUNT";
    argv[2] = "1";
    argv[3] = "BLOCK";
    argv[4] = blk;
    argv[5] = "STREAMS";
    argv[6] = BC_KEY_SEND_STREAM;
    argv[7] = BC_KEY_EVENTS_STREAM;
    argv[8] = id_send;
    {
        const char *full[10];
        memcpy(full, argv, sizeof(argv));
        full[9] = id_ev;
        r = redisCommandArgv(s->redis, 10, full, NULL);
    }
    if (r == NULL) {
        snd_redis_lost(s, s->redis->errstr);
        return;
    }
    freeReplyObject(r);         /* only a wake-up: entries are read later */
}

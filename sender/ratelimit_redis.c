/*
 * Pacing shared by every sender process: one token bucket per lane (a
 * provider's sender: Twilio's from address or Messaging Service, Meta's
 * phone number id, SendGrid's account) in Redis, taken from by one Lua
 * script run with EVALSHA. The script reads Redis's clock (TIME), so the
 * senders' clocks do not matter, and each key carries its lane as a hash
 * tag ({...}), so the keys could live on a Redis Cluster.
 *
 * And the other half of holding parked or waiting items: their stream
 * entries are claimed again by us (XCLAIM ... JUSTID, idle reset) so that
 * neither another sender's XAUTOCLAIM nor our own takes them as abandoned
 * while they wait for tokens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sender.h"

#define SND_RATE_KEY_PREFIX  "bc:rate:"

/*
 * KEYS[1] the lane's hash {t = tokens, at = ms, c:<consumer> = ms of its
 * last call}; ARGV rate (tokens/s), burst, need (tokens this call must get
 * to be of use), want (what it would take), the caller's consumer name. A
 * full bucket holds burst tokens; a need larger than the burst (a long SMS
 * on a slow lane) is given once the bucket is full, and the bucket goes
 * below zero: the rate holds, the burst does not grow. Returns {granted,
 * wait_ms, sharers}: granted >= need, or 0 and how long until there is
 * enough; sharers, the consumers that called in the last second (the
 * caller's share of the lane: ratelimit.c); older marks are dropped.
 */
static const char  snd_rate_lua[] =
    "local rate = tonumber(ARGV[1])\n"
    "local burst = tonumber(ARGV[2])\n"
    "local need = tonumber(ARGV[3])\n"
    "local want = tonumber(ARGV[4])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local v = redis.call('HMGET', KEYS[1], 't', 'at')\n"
    "local tokens = tonumber(v[1])\n"
    "local at = tonumber(v[2])\n"
    "if tokens == nil or at == nil then tokens = burst; at = now end\n"
    "if now > at then\n"
    "  tokens = tokens + (now - at) * rate / 1000\n"
    "  if tokens > burst then tokens = burst end\n"
    "  at = now\n"
    "end\n"
    "local enough = need\n"
    "if enough > burst then enough = burst end\n"
    "local granted = 0\n"
    "local wait = 0\n"
    "if tokens >= enough then\n"
    "  granted = math.floor(tokens)\n"
    "  if granted > want then granted = want end\n"
    "  if granted < need then granted = need end\n"
    "  tokens = tokens - granted\n"
    "else\n"
    "  wait = math.ceil((enough - tokens) * 1000 / rate)\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 't', string.format('%.6f', tokens),"
    " 'at', at, 'c:' .. ARGV[5], now)\n"
    "redis.call('PEXPIRE', KEYS[1], 60000)\n"
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "local sharers = 0\n"
    "for i = 1, #all, 2 do\n"
    "  if string.sub(all[i], 1, 2) == 'c:' then\n"
    "    local last = tonumber(all[i + 1]) or 0\n"
    "    if now - last <= 1000 then sharers = sharers + 1\n"
    "    elseif now - last > 5000 then redis.call('HDEL', KEYS[1], all[i])"
    " end\n"
    "  end\n"
    "end\n"
    "return {granted, wait, sharers}\n";

/* SCRIPT LOAD: the script's SHA1 into r->sha; 0 / -1 */
static int
snd_rate_load(snd_t *s, snd_rate_redis_t *r)
{
    const char  *argv[3] = { "SCRIPT", "LOAD", snd_rate_lua };
    redisReply  *rep;
    int          rc = -1;

    rep = snd_redis_argv(s, 3, argv);
    if (rep == NULL) {
        return -1;
    }
    if (rep->type == REDIS_REPLY_STRING && rep->len < sizeof(r->sha)) {
        memcpy(r->sha, rep->str, rep->len);
        r->sha[rep->len] = '\0';
        rc = 0;
    } else {
        snd_log(SND_LOG_ERR, "rate limits: SCRIPT LOAD: %s",
            rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    }
    freeReplyObject(rep);
    return rc;
}

int
snd_rate_redis_take(snd_t *s, snd_rate_redis_t *r, const char *lane,
    double rate, double need, double want, double *granted,
    long long *wait_ms, int *sharers)
{
    char         key[320], a_rate[32], a_burst[32], a_need[32], a_want[32];
    const char  *argv[9];
    redisReply  *rep;
    double       burst;
    int          tries;

    if (s->redis == NULL) {
        return -1;
    }
    /* a fifth of a second of the rate: enough to absorb the loop's
       jitter, small enough that a lane starting full does not skew it */
    burst = rate / 5 < 1 ? 1 : rate / 5;
    snprintf(key, sizeof(key), SND_RATE_KEY_PREFIX "{%s}", lane);
    snprintf(a_rate, sizeof(a_rate), "%.6f", rate);
    snprintf(a_burst, sizeof(a_burst), "%.6f", burst);
    snprintf(a_need, sizeof(a_need), "%.0f", need < 1 ? 1 : need);
    snprintf(a_want, sizeof(a_want), "%.0f", want < need ? need : want);

    for (tries = 0; tries < 2; tries++) {
        if (r->sha[0] == '\0' && snd_rate_load(s, r) != 0) {
            return -1;
        }
        argv[0] = "EVALSHA";
        argv[1] = r->sha;
        argv[2] = "1";
        argv[3] = key;
        argv[4] = a_rate;
        argv[5] = a_burst;
        argv[6] = a_need;
        argv[7] = a_want;
        argv[8] = s->conf.consumer;
        rep = snd_redis_argv(s, 9, argv);
        if (rep == NULL) {
            r->sha[0] = '\0';
            return -1;
        }
        if (rep->type == REDIS_REPLY_ERROR
            && strncmp(rep->str, "NOSCRIPT", 8) == 0)
        {
            /* a restarted or flushed Redis: load it again, once */
            freeReplyObject(rep);
            r->sha[0] = '\0';
            continue;
        }
        break;
    }
    if (tries == 2) {
        return -1;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3
        || rep->element[0]->type != REDIS_REPLY_INTEGER
        || rep->element[1]->type != REDIS_REPLY_INTEGER
        || rep->element[2]->type != REDIS_REPLY_INTEGER)
    {
        snd_log(SND_LOG_ERR, "rate limits: %s",
            rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        freeReplyObject(rep);
        return -1;
    }
    *granted = (double) rep->element[0]->integer;
    *wait_ms = rep->element[1]->integer;
    *sharers = rep->element[2]->integer < 1 ? 1
                                             : (int) rep->element[2]->integer;
    freeReplyObject(rep);
    return 0;
}

/* the stream ids of a list's items of lane as XCLAIM arguments from
   argv[n] */
static int
snd_rate_touch_ids(snd_item_t *list, unsigned lane, const char **argv, int n,
    int max)
{
    snd_item_t  *it;

    for (it = list; it != NULL && n < max; it = it->next) {
        if (it->stream_id[0] != '\0' && it->lane == lane) {
            argv[n++] = it->stream_id;
        }
    }
    return n;
}

#define SND_TOUCH_MAX  4096

/*
 * Items held before their transfer (parked, or claimed and waiting for a
 * token or a throttle's end) can wait longer than reclaim_idle_ms: their
 * entries' idle time is reset every reclaim_idle_ms / 4 so no XAUTOCLAIM
 * (another sender's, or ours, which would take the entry as a duplicate
 * and acknowledge it) takes them.
 */
void
snd_rate_touch(snd_t *s, long long now)
{
    const char  **argv;
    redisReply   *rep;
    long long     every;
    int           n;
    unsigned      lane;
    char          stream[64];

    if (s->redis == NULL || now < s->touch_ms
        || (s->parked == NULL && s->wait == NULL))
    {
        return;
    }
    every = s->conf.reclaim_idle_ms / 4;
    s->touch_ms = now + (every < 100 ? 100 : every);
    argv = malloc(sizeof(char *) * (SND_TOUCH_MAX + 6));
    if (argv == NULL) {
        return;
    }
    for (lane = 0; lane < SND_LANES(s) && s->redis != NULL; lane++) {
        argv[0] = "XCLAIM";
        argv[1] = snd_send_stream(stream, lane);
        argv[2] = BC_GROUP_SENDERS;
        argv[3] = s->conf.consumer;
        argv[4] = "0";
        n = snd_rate_touch_ids(s->parked, lane, argv, 5, SND_TOUCH_MAX + 5);
        n = snd_rate_touch_ids(s->wait, lane, argv, n, SND_TOUCH_MAX + 5);
        if (n > 5) {
            argv[n++] = "JUSTID";
            rep = snd_redis_argv(s, n, argv);
            if (rep != NULL) {
                if (rep->type == REDIS_REPLY_ERROR) {
                    snd_log(SND_LOG_ERR, "XCLAIM of held entries: %s",
                        rep->str);
                }
                freeReplyObject(rep);
            }
        }
    }
    free(argv);
}

/*
 * Meta's messaging limit (the "tier"): how many unique users a business
 * may start conversations with in a rolling 24 hours (250, 2,000, 10,000,
 * 100,000 or unlimited, as Meta grants it), configured per phone number
 * id (meta_messaging_limits). Campaign template messages are admitted
 * against it in Redis before they are queued, so no campaign spends past
 * it, however many senders run: one sorted set per number of the users
 * reached (score: when first reached), trimmed to the window and filled by
 * one Lua script on Redis's clock. A user already reached in the window
 * costs nothing again. Free-form messages (inside a user's own 24 h
 * window) are not business-initiated and are not counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"

#define SND_TIER_KEY_PREFIX  "bc:tier:"
#define SND_TIER_WINDOW_MS   86400000LL

/*
 * KEYS[1] the number's set; ARGV limit, window (ms), then the recipients
 * in queue order. Admits the longest prefix that fits. Returns {admitted,
 * in_window, ms_until_a_slot_frees (0 if one is free)}.
 */
static const char  snd_tier_lua[] =
    "local limit = tonumber(ARGV[1])\n"
    "local window = tonumber(ARGV[2])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)\n"
    "local n = redis.call('ZCARD', KEYS[1])\n"
    "local admitted = 0\n"
    "for i = 3, #ARGV do\n"
    "  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then\n"
    "    admitted = admitted + 1\n"
    "  elseif n < limit then\n"
    "    redis.call('ZADD', KEYS[1], now, ARGV[i])\n"
    "    n = n + 1\n"
    "    admitted = admitted + 1\n"
    "  else\n"
    "    break\n"
    "  end\n"
    "end\n"
    "if n > 0 then redis.call('PEXPIRE', KEYS[1], window) end\n"
    "local wait = 0\n"
    "if n >= limit then\n"
    "  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "  if oldest[2] then wait = tonumber(oldest[2]) + window - now end\n"
    "  if wait < 1 then wait = 1 end\n"
    "end\n"
    "return {admitted, n, wait}\n";

/* the limit of "id:limit" entries in spec for pid ("*" for any other);
   0: unlimited or not configured, -1: the spec is malformed */
long long
snd_tier_limit(const char *spec, const char *pid)
{
    const char  *p = spec, *colon, *end;
    char        *stop;
    long long    n, any = 0, mine = -2;
    size_t       len;

    while (*p != '\0') {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        end = p + strcspn(p, ",");
        colon = memchr(p, ':', (size_t) (end - p));
        if (colon == NULL || colon == p) {
            return -1;
        }
        if (strncmp(colon + 1, "unlimited", 9) == 0) {
            n = 0;
            stop = (char *) colon + 10;
        } else {
            n = strtoll(colon + 1, &stop, 10);
            if (stop == colon + 1 || n <= 0) {
                return -1;
            }
        }
        while (*stop == ' ') {
            stop++;
        }
        if (stop != end) {
            return -1;
        }
        len = (size_t) (colon - p);
        if (len == 1 && *p == '*') {
            any = n;
        } else if (pid != NULL && strlen(pid) == len
                   && strncmp(p, pid, len) == 0)
        {
            mine = n;
        }
        p = end;
    }
    return mine != -2 ? mine : any;
}

/* EVALSHA, loading the script when Redis does not know it */
static redisReply *
snd_tier_eval(snd_disp_t *d, int argc, const char **argv)
{
    const char  *load[3] = { "SCRIPT", "LOAD", snd_tier_lua };
    redisReply  *r;
    int          tries;

    for (tries = 0; tries < 2; tries++) {
        if (d->tier_sha[0] == '\0') {
            r = snd_redis_argv(d->s, 3, load);
            if (r == NULL) {
                return NULL;
            }
            if (r->type == REDIS_REPLY_STRING
                && r->len < sizeof(d->tier_sha))
            {
                memcpy(d->tier_sha, r->str, r->len);
                d->tier_sha[r->len] = '\0';
            }
            freeReplyObject(r);
            if (d->tier_sha[0] == '\0') {
                return NULL;
            }
        }
        argv[1] = d->tier_sha;
        r = snd_redis_argv(d->s, argc, argv);
        if (r == NULL) {
            return NULL;
        }
        if (r->type == REDIS_REPLY_ERROR
            && strncmp(r->str, "NOSCRIPT", 8) == 0)
        {
            freeReplyObject(r);
            d->tier_sha[0] = '\0';
            continue;
        }
        return r;
    }
    return NULL;
}

int
snd_tier_admit(snd_disp_t *d, const char *pid, long long limit,
    const char **to, int n, int *admitted, long long *wait_ms)
{
    const char  **argv;
    char          key[128], a_limit[32], a_window[32];
    redisReply   *r;
    int           i, rc = -1;

    argv = malloc((size_t) (n + 6) * sizeof(*argv));
    if (argv == NULL) {
        return -1;
    }
    snprintf(key, sizeof(key), SND_TIER_KEY_PREFIX "{meta:%s}", pid);
    snprintf(a_limit, sizeof(a_limit), "%lld", limit);
    snprintf(a_window, sizeof(a_window), "%lld", SND_TIER_WINDOW_MS);
    argv[0] = "EVALSHA";
    argv[2] = "1";
    argv[3] = key;
    argv[4] = a_limit;
    argv[5] = a_window;
    for (i = 0; i < n; i++) {
        argv[6 + i] = to[i];
    }
    r = snd_tier_eval(d, n + 6, argv);
    free(argv);
    if (r == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3
        && r->element[0]->type == REDIS_REPLY_INTEGER
        && r->element[2]->type == REDIS_REPLY_INTEGER)
    {
        *admitted = (int) r->element[0]->integer;
        *wait_ms = r->element[2]->integer;
        rc = 0;
    } else {
        snd_log(SND_LOG_ERR, "meta messaging limit: %s",
            r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    }
    freeReplyObject(r);
    return rc;
}

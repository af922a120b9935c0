/*
 * Outbound pacing, per key in one table:
 *  - a lane per provider sender (Twilio segments/s, Meta messages/s,
 *    SendGrid calls/s), whose tokens come from a bucket in Redis shared by
 *    every sender process (ratelimit_redis.c), so that the backlog stays
 *    in our queue rather than the provider's; a local bucket while Redis
 *    is unreachable. The claim takes in only a quarter of a second of a
 *    lane's rate at a time, shared out among the processes taking from
 *    the lane (snd_rate_gate), the rest stays parked unclaimed;
 *  - provider throttles. A provider that answers "slow down" (Twilio 429,
 *    20429, 63017, 21611; Meta 429, 130429, 4, 80007; SendGrid 429) says it
 *    of a sender or of the account, not of one message: every message for
 *    that key then waits, instead of each spending an attempt on the same
 *    answer. The pause lasts what the provider says (SendGrid's
 *    X-RateLimit-Reset) or else 1 s, doubled for each throttle in a row up
 *    to 60 s; a success ends the run.
 */
#include <stdlib.h>
#include <string.h>

#include "sender.h"

#define SND_RATE_BUCKETS  1024

typedef struct snd_bucket_s  snd_bucket_t;

/* one key of the table: a pacing lane ("r <provider> <sender>") or a
   provider throttle ("<provider> <sender>") */
struct snd_bucket_s {
    snd_bucket_t  *next;
    double         tokens;            /* local fallback bucket */
    long long      last_ms;
    long long      paused_until_ms;   /* throttle keys */
    int            streak;            /* throttles in a row */
    /* pacing lanes */
    double         credit;            /* tokens taken from Redis, unspent */
    long long      credit_ms;         /* when they were taken */
    long long      denied_until_ms;   /* Redis said: no token before */
    double         waiting;           /* cost of claimed items not yet
                                         given a token (snd_rate_gate) */
    int            sharers;           /* processes taking from the lane
                                         (Redis says, at each take; 0 is
                                         1): this one's share is 1/n */
    unsigned       gate_pass;         /* the gate's pass that last saw it */
    int            gate_open;         /* in that pass: it takes items */
    char           key[];
};

struct snd_rate_s {
    snd_bucket_t  *table[SND_RATE_BUCKETS];
    unsigned       gate_pass;
    snd_rate_redis_t  redis;
};

#define SND_THROTTLE_MIN_MS   1000
#define SND_THROTTLE_MAX_MS  60000
/* Twilio's default ValidityPeriod: throttled this long, a message fails */
#define SND_THROTTLE_MAX_AGE_MS  (10 * 3600000)

/* tokens taken from Redis are spent within this or given up (so a process
   cannot save up a burst the shared bucket did not allow) */
#define SND_RATE_CREDIT_MS      100
/* one call to Redis takes up to this much of the rate (at least the
   message's cost), so a fast lane is not one round trip per message */
#define SND_RATE_CHUNK_S        0.02
/* the claim lets through at most this much of a lane's rate, divided
   among the sender processes taking from it: a paused campaign's rows
   already claimed, by all of them together, wait no longer than that for
   tokens; and takes more only once half of it is gone, so a slow lane is
   not one claim per message */
#define SND_RATE_AHEAD_S        0.25

static unsigned
snd_rate_hash(const char *k)
{
    unsigned h = 5381;

    while (*k) {
        h = h * 33 + (unsigned char) *k++;
    }
    return h % SND_RATE_BUCKETS;
}

static snd_rate_t *
snd_rate_state(snd_t *s)
{
    if (s->buckets == NULL) {
        s->buckets = calloc(1, sizeof(snd_rate_t));
    }
    return s->buckets;
}

/* the bucket of key, created (full, unpaused) if create; NULL if none */
static snd_bucket_t *
snd_bucket(snd_t *s, const char *key, double tokens, long long now,
    int create)
{
    snd_rate_t     *rs;
    snd_bucket_t   *b;
    unsigned        h;

    rs = create ? snd_rate_state(s) : s->buckets;
    if (rs == NULL) {
        return NULL;
    }
    h = snd_rate_hash(key);
    for (b = rs->table[h]; b != NULL; b = b->next) {
        if (strcmp(b->key, key) == 0) {
            return b;
        }
    }
    if (!create) {
        return NULL;
    }
    b = calloc(1, sizeof(*b) + strlen(key) + 1);
    if (b == NULL) {
        return NULL;
    }
    strcpy(b->key, key);
    b->tokens = tokens;
    b->last_ms = now;
    b->next = rs->table[h];
    rs->table[h] = b;
    return b;
}

/* messages (Meta), segments (Twilio SMS) or calls (SendGrid) a second for
   it's lane; 0 unlimited */
static double
snd_rate_of(snd_t *s, const snd_item_t *it)
{
    const snd_provider_t  *p = snd_prov(it);

    return p->rate != NULL ? p->rate(&s->conf) : 0;
}

/* the tokens it takes: a Twilio SMS its segments, anything else one */
static double
snd_rate_cost(const snd_item_t *it)
{
    const snd_provider_t  *p = snd_prov(it);
    int                    c = p->cost != NULL ? p->cost(it) : 1;

    return c < 1 ? 1 : c;
}

/* a bucket of a fifth of a second of burst, as the shared one's: used
   while Redis is unreachable, so pacing holds per process */
static int
snd_rate_local(snd_bucket_t *b, double rate, double cost, long long now,
    long long *wait_ms)
{
    double  burst = rate / 5 < cost ? cost : rate / 5;

    b->tokens += (double) (now - b->last_ms) * rate / 1000.0;
    if (b->tokens > burst) {
        b->tokens = burst;
    }
    b->last_ms = now;
    if (b->tokens >= cost) {
        b->tokens -= cost;
        return 1;
    }
    *wait_ms = (long long) ((cost - b->tokens) * 1000.0 / rate) + 1;
    return 0;
}

static snd_bucket_t *
snd_rate_lane(snd_t *s, const snd_item_t *it, long long now)
{
    char  key[300];

    snprintf(key, sizeof(key), "r %s %s", snd_prov(it)->name,
        snd_prov(it)->sender_key(it));
    return snd_bucket(s, key, 0, now, 1);
}

int
snd_rate_take(snd_t *s, snd_item_t *it, long long now, long long *wait_ms)
{
    snd_bucket_t  *b;
    double         rate = snd_rate_of(s, it), cost, want, granted;
    long long      wait;
    int            rc;

    if (rate <= 0) {
        return 1;
    }
    cost = snd_rate_cost(it);
    b = snd_rate_lane(s, it, now);
    if (b == NULL) {
        *wait_ms = 100;
        return 0;
    }
    if (b->credit > 0 && now - b->credit_ms > SND_RATE_CREDIT_MS) {
        b->credit = 0;
    }
    if (b->credit < cost) {
        if (now < b->denied_until_ms) {
            *wait_ms = b->denied_until_ms - now;
            return 0;
        }
        want = rate * SND_RATE_CHUNK_S;
        if (want < cost) {
            want = cost;
        }
        rc = snd_rate_redis_take(s, &((snd_rate_t *) s->buckets)->redis,
            b->key + 2, rate, cost - b->credit, want - b->credit, &granted,
            &wait, &b->sharers);
        if (rc != 0) {
            /* no Redis: this process paces alone at its last known share
               of the rate, from an empty bucket (every process starting
               full would burst the lane by a second each) */
            if (!snd_rate_local(b, rate / (b->sharers > 1 ? b->sharers : 1),
                                cost, now, wait_ms))
            {
                return 0;
            }
            goto taken;
        }
        /* while Redis decides, the fallback bucket stays empty */
        b->tokens = 0;
        b->last_ms = now;
        if (granted <= 0) {
            b->denied_until_ms = now + (wait > 0 ? wait : 1);
            *wait_ms = b->denied_until_ms - now;
            return 0;
        }
        b->credit += granted;
        b->credit_ms = now;
    }
    b->credit -= cost;

taken:
    if (it->rate_lane == b) {
        b->waiting -= it->rate_cost;
        it->rate_lane = NULL;
    }
    return 1;
}

void
snd_rate_release(snd_item_t *it)
{
    snd_bucket_t  *b = it->rate_lane;

    if (b != NULL) {
        b->waiting -= it->rate_cost;
        it->rate_lane = NULL;
    }
}

/* 1 if it may be claimed now: its lane (if paced) has less than
   SND_RATE_AHEAD_S of its rate claimed and waiting for tokens, and had at
   most half of that when this pass of the gate first saw it */
static int
snd_rate_admit(snd_t *s, snd_item_t *it, unsigned pass, long long now)
{
    snd_bucket_t  *b;
    double         rate, ahead, cost;

    if (!it->parsed || it->rate_lane != NULL) {
        return 1;               /* not a job, or admitted already (a claim
                                   that failed is tried again) */
    }
    it->prov = snd_prov_of(&it->job);       /* the claim sets it too */
    if (snd_prov(it)->batches) {
        /* a batching provider's item is not one call's cost */
        return 1;
    }
    rate = snd_rate_of(s, it);
    if (rate <= 0) {
        return 1;
    }
    b = snd_rate_lane(s, it, now);
    if (b == NULL) {
        return 1;
    }
    ahead = rate * SND_RATE_AHEAD_S / (b->sharers > 1 ? b->sharers : 1);
    if (b->gate_pass != pass) {
        b->gate_pass = pass;
        b->gate_open = b->waiting <= ahead / 2;
    }
    cost = snd_rate_cost(it);
    if (b->waiting > 0 && (!b->gate_open || b->waiting + cost > ahead)) {
        b->gate_open = 0;       /* the lane keeps its order */
        return 0;
    }
    it->rate_cost = cost;
    it->rate_lane = b;
    b->waiting += cost;
    return 1;
}

/*
 * Before the claim: items of a paced lane that already has a quarter of a
 * second of its rate claimed and waiting stay unclaimed on s->parked (still
 * ours in the stream: snd_rate_touch keeps them from looking idle), in
 * the order read. Parked items go first, so a lane keeps its order; while
 * any is parked the loop reads nothing new. A campaign's row is checked
 * at its claim, so a pause reaches every parked item.
 */
void
snd_rate_gate(snd_t *s)
{
    snd_item_t  *it, *next, *all;
    snd_stage_t  claim, park;
    snd_rate_t  *rs;
    long long    now = snd_now_ms();

    if (s->parked == NULL && s->claim == NULL) {
        return;
    }
    rs = snd_rate_state(s);
    if (rs == NULL) {
        return;                 /* no memory: everything is claimed */
    }
    rs->gate_pass++;
    SND_STAGE_INIT(&claim);
    SND_STAGE_INIT(&park);
    all = s->parked;
    s->parked = NULL;
    if (all == NULL) {
        all = s->claim;
    } else {
        for (it = all; it->next != NULL; it = it->next) { /* void */ }
        it->next = s->claim;
    }
    s->claim = NULL;
    for (it = all; it != NULL; it = next) {
        next = it->next;
        snd_stage_add(snd_rate_admit(s, it, rs->gate_pass, now)
                      ? &claim : &park, it);
    }
    s->claim = claim.head;
    s->parked = park.head;
}

/* what a provider throttles: the sender (Twilio: the Messaging Service if
   any; Meta: the phone number id) or, for SendGrid, the whole account.
   The space keeps these apart from the token buckets' bare addresses. */
static void
snd_throttle_key(const snd_item_t *it, char *key, size_t len)
{
    const snd_provider_t  *p = snd_prov(it);

    snprintf(key, len, "%s %s", p->name, p->sender_key(it));
}

long long
snd_throttle_until(snd_t *s, const snd_item_t *it, long long now)
{
    snd_bucket_t  *b;
    char           key[300];

    snd_throttle_key(it, key, sizeof(key));
    b = snd_bucket(s, key, 0, now, 0);
    return b != NULL && b->paused_until_ms > now ? b->paused_until_ms : 0;
}

long long
snd_throttle_hit(snd_t *s, snd_item_t *it, long long until_ms,
    long long now)
{
    snd_bucket_t  *b;
    char           key[300];
    long long      pause;

    snd_throttle_key(it, key, sizeof(key));
    b = snd_bucket(s, key, 0, now, 1);
    if (b == NULL) {
        until_ms = now + SND_THROTTLE_MIN_MS;
    } else if (b->paused_until_ms > now) {
        /* a call made before the pause began: the pause stands */
        if (until_ms < b->paused_until_ms) {
            until_ms = b->paused_until_ms;
        }
    } else {
        if (until_ms <= now) {
            /* 1 s, 2 s, 4 s ... 60 s while the first calls after each
               pause are throttled again, with no success in between */
            pause = SND_THROTTLE_MIN_MS << (b->streak < 6 ? b->streak : 6);
            until_ms = now + (pause < SND_THROTTLE_MAX_MS
                              ? pause : SND_THROTTLE_MAX_MS);
        }
        b->streak++;
    }
    if (b != NULL) {
        if (until_ms > b->paused_until_ms) {
            b->paused_until_ms = until_ms;
            snd_log(SND_LOG_NOTICE, "%s throttled: no call before %lld ms "
                "from now", key, until_ms - now);
        }
    }
    snd_retry_throttled(s, it, until_ms);
    return until_ms;
}

/*
 * A throttled message was not taken by the provider: it is retried once
 * the pause is over (plus up to 250 ms, so the waiters do not all return
 * in the same millisecond), without spending one of its max_attempts; but
 * not once it is 10 hours old (failed, error_code 'throttled').
 */
void
snd_retry_throttled(snd_t *s, snd_item_t *it, long long until_ms)
{
    s->m_throttles[it->prov]++;
    if (it->job.created_ms > 0
        && until_ms - it->job.created_ms > SND_THROTTLE_MAX_AGE_MS)
    {
        /* as Twilio drops what waited in its queue past the default
           validity period: an SMS half a day late is no longer wanted */
        snprintf(it->error_code, sizeof(it->error_code), "throttled");
        snprintf(it->error_message, sizeof(it->error_message),
            "still rate-limited by the provider %d hours after it was sent",
            SND_THROTTLE_MAX_AGE_MS / 3600000);
        it->outcome = SND_OUT_FAILED;
        s->m[it->prov][SND_M_FAILED]++;
        return;
    }
    it->outcome = SND_OUT_RETRY;
    it->throttled = 1;
    it->retry_due_ms = until_ms + random() % 250;
    s->m[it->prov][SND_M_RETRY]++;
    s->m_retries[it->prov]++;
}

void
snd_throttle_pause(snd_t *s, const snd_item_t *it, long long until_ms,
    long long now)
{
    snd_bucket_t  *b;
    char           key[300];

    snd_throttle_key(it, key, sizeof(key));
    b = snd_bucket(s, key, 0, now, 1);
    if (b != NULL && until_ms > b->paused_until_ms) {
        b->paused_until_ms = until_ms;
    }
}

void
snd_throttle_clear(snd_t *s, const snd_item_t *it)
{
    snd_bucket_t  *b;
    char           key[300];

    snd_throttle_key(it, key, sizeof(key));
    b = snd_bucket(s, key, 0, 0, 0);
    if (b != NULL) {
        b->streak = 0;
    }
}

void
snd_rate_free(snd_t *s)
{
    snd_rate_t    *rs = s->buckets;
    snd_bucket_t  *b;
    int            i;

    if (rs == NULL) {
        return;
    }
    for (i = 0; i < SND_RATE_BUCKETS; i++) {
        while ((b = rs->table[i]) != NULL) {
            rs->table[i] = b->next;
            free(b);
        }
    }
    free(rs);
    s->buckets = NULL;
}

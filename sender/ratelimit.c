/*
 * Outbound pacing, per key in one table:
 *  - a token bucket per sender address (rate_per_sender messages/s), so
 *    that the backlog stays in our queue rather than the provider's;
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

struct snd_bucket_s {
    snd_bucket_t  *next;
    double         tokens;
    long long      last_ms;
    long long      paused_until_ms;   /* throttle keys */
    int            streak;            /* throttles in a row */
    char           key[];
};

#define SND_THROTTLE_MIN_MS   1000
#define SND_THROTTLE_MAX_MS  60000
/* Twilio's default ValidityPeriod: throttled this long, a message fails */
#define SND_THROTTLE_MAX_AGE_MS  (10 * 3600000)

static unsigned
snd_rate_hash(const char *k)
{
    unsigned h = 5381;

    while (*k) {
        h = h * 33 + (unsigned char) *k++;
    }
    return h % SND_RATE_BUCKETS;
}

/* the bucket of key, created (full, unpaused) if create; NULL if none */
static snd_bucket_t *
snd_bucket(snd_t *s, const char *key, double tokens, long long now,
    int create)
{
    snd_bucket_t  **table, *b;
    unsigned        h;

    if (s->buckets == NULL) {
        if (!create) {
            return NULL;
        }
        s->buckets = calloc(SND_RATE_BUCKETS, sizeof(snd_bucket_t *));
        if (s->buckets == NULL) {
            return NULL;
        }
    }
    table = s->buckets;
    h = snd_rate_hash(key);
    for (b = table[h]; b != NULL; b = b->next) {
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
    b->next = table[h];
    table[h] = b;
    return b;
}

int
snd_rate_take(snd_t *s, const char *from, double rate, long long now,
    long long *wait_ms)
{
    snd_bucket_t  *b;
    double         burst = rate < 1 ? 1 : rate;

    b = snd_bucket(s, from, burst, now, 1);
    if (b == NULL) {
        *wait_ms = 100;
        return 0;
    }
    b->tokens += (double) (now - b->last_ms) * rate / 1000.0;
    if (b->tokens > burst) {
        b->tokens = burst;
    }
    b->last_ms = now;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return 1;
    }
    *wait_ms = (long long) ((1.0 - b->tokens) * 1000.0 / rate) + 1;
    return 0;
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

    if (s->buckets == NULL) {
        return 0;
    }
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

    if (s->buckets == NULL) {
        return;
    }
    snd_throttle_key(it, key, sizeof(key));
    b = snd_bucket(s, key, 0, 0, 0);
    if (b != NULL) {
        b->streak = 0;
    }
}

void
snd_rate_free(snd_t *s)
{
    snd_bucket_t  **table = s->buckets, *b;
    int             i;

    if (table == NULL) {
        return;
    }
    for (i = 0; i < SND_RATE_BUCKETS; i++) {
        while ((b = table[i]) != NULL) {
            table[i] = b->next;
            free(b);
        }
    }
    free(table);
    s->buckets = NULL;
}

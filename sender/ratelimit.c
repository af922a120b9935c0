/*
 * Token bucket per sender address (rate_per_sender messages/s), so that the
 * backlog stays in our queue rather than the provider's.
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
    char           key[];
};

static unsigned
snd_rate_hash(const char *k)
{
    unsigned h = 5381;

    while (*k) {
        h = h * 33 + (unsigned char) *k++;
    }
    return h % SND_RATE_BUCKETS;
}

int
snd_rate_take(snd_t *s, const char *from, double rate, long long now,
    long long *wait_ms)
{
    snd_bucket_t  **table, *b;
    double          burst = rate < 1 ? 1 : rate;
    unsigned        h;

    if (s->buckets == NULL) {
        s->buckets = calloc(SND_RATE_BUCKETS, sizeof(snd_bucket_t *));
        if (s->buckets == NULL) {
            *wait_ms = 100;
            return 0;
        }
    }
    table = s->buckets;
    h = snd_rate_hash(from);
    for (b = table[h]; b != NULL; b = b->next) {
        if (strcmp(b->key, from) == 0) {
            break;
        }
    }
    if (b == NULL) {
        b = malloc(sizeof(*b) + strlen(from) + 1);
        if (b == NULL) {
            *wait_ms = 100;
            return 0;
        }
        strcpy(b->key, from);
        b->tokens = burst;
        b->last_ms = now;
        b->next = table[h];
        table[h] = b;
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

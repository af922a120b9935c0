/*
 * The providers' descriptions in one table, and what every provider's
 * answer handling shares: error fields, backoff, JSON members.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sender.h"

#define SND_BACKOFF_MAX_S  300

const snd_provider_t *const snd_providers[SND_PROV_N] = {
    [SND_PROV_TWILIO] = &snd_provider_twilio,
    [SND_PROV_META] = &snd_provider_meta,
    [SND_PROV_SENDGRID] = &snd_provider_sendgrid,
};

int
snd_prov_of(const bc_job_t *job)
{
    int  p;

    for (p = 1; p < SND_PROV_N; p++) {
        if (strcmp(job->provider, snd_providers[p]->name) == 0) {
            return p;
        }
    }
    return SND_PROV_TWILIO;
}

void
snd_peer_of(const char *addr, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", bc_wa_strip(addr));
}

void
snd_provider_done(snd_t *s, snd_item_t *it, CURLcode rc, long status,
    int request_sent)
{
    snd_prov(it)->done(s, it, rc, status, request_sent);
}

void
snd_copy_json_str(json_t *o, const char *key, char *out, size_t outlen)
{
    json_t  *v = json_object_get(o, key);

    out[0] = '\0';
    if (json_is_string(v)) {
        snprintf(out, outlen, "%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(out, outlen, "%lld", (long long) json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(out, outlen, "%.5f", json_real_value(v));
    }
}

/* the provider's error code, else http_<status>; a message if it gave none */
void
snd_error_fill(snd_item_t *it, long code, long status)
{
    if (code != 0) {
        snprintf(it->error_code, sizeof(it->error_code), "%ld", code);
    } else {
        snprintf(it->error_code, sizeof(it->error_code), "http_%ld", status);
    }
    if (it->error_message[0] == '\0') {
        snprintf(it->error_message, sizeof(it->error_message),
            "provider answered HTTP %ld", status);
    }
}

void
snd_retry_or_fail(snd_t *s, snd_item_t *it)
{
    int        next = it->job.attempt + 1;
    long long  delay_ms;

    if (next >= s->conf.max_attempts) {
        it->outcome = SND_OUT_FAILED;
        s->m[it->prov][SND_M_FAILED]++;
        return;
    }
    delay_ms = next >= 9 ? SND_BACKOFF_MAX_S * 1000LL
                         : (1LL << next) * 1000LL;
    if (delay_ms > SND_BACKOFF_MAX_S * 1000LL) {
        delay_ms = SND_BACKOFF_MAX_S * 1000LL;
    }
    delay_ms += random() % (delay_ms / 4 + 1);     /* jitter up to 25% */
    it->outcome = SND_OUT_RETRY;
    it->retry_due_ms = snd_now_ms() + delay_ms;
    s->m[it->prov][SND_M_RETRY]++;
    s->m_retries[it->prov]++;
}

void
snd_connect_failed(snd_t *s, snd_item_t *it, CURLcode rc)
{
    snprintf(it->error_code, sizeof(it->error_code), "connect");
    snprintf(it->error_message, sizeof(it->error_message), "%s",
        curl_easy_strerror(rc));
    snd_retry_or_fail(s, it);
}

/*
 * One entry of bc:{ev}:stream:events -> the recorder's sub-events: the entry's
 * fields, the parser of its provider and kind, and what every parser uses
 * to keep strings with its event and name its dedupe key.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_id.h"
#include "bc_sig.h"
#include "recorder.h"

/* keeps a malloc'd string with the event; NULL stays NULL */
const char *
snd_ev_keep(snd_ev_t *e, char *p)
{
    if (p == NULL) {
        return NULL;
    }
    if (e->nown == SND_EV_OWN) {
        free(p);
        return NULL;
    }
    e->own[e->nown++] = p;
    return p;
}

/* a copy of at most max bytes, cut on a UTF-8 character boundary (strict
   mode rejects over-long values and broken characters) */
const char *
snd_ev_clip(snd_ev_t *e, const char *v, size_t max)
{
    size_t  n;
    char   *p;

    if (v == NULL) {
        return NULL;
    }
    n = snd_utf8_cut(v, max);
    if (v[n] == '\0') {
        return v;
    }
    p = strndup(v, n);
    return snd_ev_keep(e, p);
}

const char *
snd_ev_printf(snd_ev_t *e, const char *fmt, ...)
{
    va_list  ap;
    char    *p = NULL;
    int      n;

    va_start(ap, fmt);
    n = vasprintf(&p, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : snd_ev_keep(e, p);
}

const char *
snd_ev_dump(snd_ev_t *e, json_t *j)
{
    return j == NULL ? NULL : snd_ev_keep(e, json_dumps(j, JSON_COMPACT));
}

/* the event's stored body: the compact JSON of j ("" if it cannot be) */
void
snd_ev_set_body(snd_ev_t *e, json_t *j)
{
    e->body = snd_ev_dump(e, j);
    e->body_len = e->body ? strlen(e->body) : 0;
    if (e->body == NULL) {
        e->body = "";
    }
}

/* the first event of a parsed stream entry holds a reference to its JSON
   root, so the strings the entry's events point into outlive the parse */
void
snd_ev_hold_root(snd_ev_t *e, json_t *root, int *n)
{
    if ((*n)++ == 0) {
        e->root = root;
        json_incref(root);
    }
}

void
snd_ev_dedup(snd_ev_t *e, const char *fmt, ...)
{
    va_list  ap;
    char     buf[512], *p = NULL;
    int      n;

    /* the common case (ids and statuses) fits on the stack */
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t) n < sizeof(buf)) {
        bc_sha256_hex(buf, (size_t) n, e->dedup);
        return;
    }
    va_start(ap, fmt);
    n = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (n >= 0) {
        bc_sha256_hex(p, (size_t) n, e->dedup);
        free(p);
    } else {
        bc_sha256_hex(e->id, strlen(e->id), e->dedup);
    }
}

/* the whole body: audit-only events */
void
snd_ev_dedup_body(snd_ev_t *e)
{
    char *buf = malloc(e->body_len + 64);

    if (buf != NULL) {
        int n = snprintf(buf, 64, "%s|%s|", e->provider, e->kind);
        memcpy(buf + n, e->body, e->body_len);
        bc_sha256_hex(buf, (size_t) n + e->body_len, e->dedup);
        free(buf);
    } else {
        bc_sha256_hex(e->id, strlen(e->id), e->dedup);
    }
}

void
snd_ev_free(snd_ev_t *e)
{
    int  i;

    if (e->have_form) {
        bc_form_free(&e->form);
    }
    json_decref(e->root);
    for (i = 0; i < e->nown; i++) {
        free(e->own[i]);
    }
}

/* a new sub-event with the entry's fields of proto; NULL on OOM */
snd_ev_t *
snd_evs_add(snd_evs_t *v, const snd_ev_t *proto)
{
    snd_ev_t  *e;

    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256;
        e = realloc(v->ev, cap * sizeof(*e));
        if (e == NULL) {
            return NULL;
        }
        v->ev = e;
        v->cap = cap;
    }
    e = &v->ev[v->n++];
    memset(e, 0, sizeof(*e));
    memcpy(e->id, proto->id, sizeof(e->id));
    memcpy(e->provider, proto->provider, sizeof(e->provider));
    memcpy(e->kind, proto->kind, sizeof(e->kind));
    memcpy(e->mid, proto->mid, sizeof(e->mid));
    e->at = proto->at;
    e->body = proto->body;
    e->body_len = proto->body_len;
    return e;
}

void
snd_lower(char *p)
{
    for ( ; p != NULL && *p; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            *p = (char) (*p - 'A' + 'a');
        }
    }
}

int
snd_ev_new_id(snd_ev_t *e)
{
    if (bc_ulid(e->in_id) != 0) {
        return -1;
    }
    e->inbound = 1;
    return 0;
}

/* ---- one stream entry -> one or more sub-events ------------------------- */

/*
 * Every provider and kind of bc:{ev}:stream:events the recorder reads (the
 * module's webhook handlers write them); the status callbacks first, as
 * they are most of the stream.
 */
static const snd_ev_parser_t  snd_ev_parsers[] = {
    { "twilio", "sms_status", NULL, snd_ev_twilio_status, 1 },
    { "twilio", "whatsapp_status", NULL, snd_ev_twilio_status, 1 },
    { "twilio", "sms_inbound", NULL, snd_ev_twilio_sms_inbound, 1 },
    { "twilio", "whatsapp_inbound", NULL, snd_ev_twilio_whatsapp_inbound,
      1 },
    { "sendgrid", "email_events", snd_ev_sendgrid_events, NULL, 0 },
    { "sendgrid", "email_inbound", NULL, snd_ev_sendgrid_inbound, 0 },
    { "meta", NULL, snd_ev_meta, NULL, 0 },
};

static const snd_ev_parser_t *
snd_ev_parser_of(const char *provider, const char *kind)
{
    const snd_ev_parser_t  *p;
    size_t                  i;

    for (i = 0; i < sizeof(snd_ev_parsers) / sizeof(snd_ev_parsers[0]);
         i++)
    {
        p = &snd_ev_parsers[i];
        if (strcmp(p->provider, provider) == 0
            && (p->kind == NULL || strcmp(p->kind, kind) == 0))
        {
            return p;
        }
    }
    return NULL;
}

int
snd_ev_parse(snd_evs_t *v, redisReply *entry)
{
    const snd_ev_parser_t  *parser;
    redisReply  *fv = entry->element[1];
    snd_ev_t     proto, *e;
    char         ct[256];
    size_t       i;
    int          n = 0;

    memset(&proto, 0, sizeof(proto));
    ct[0] = '\0';
    memcpy(proto.id, entry->element[0]->str, entry->element[0]->len);
    if (fv->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i + 1 < fv->elements; i += 2) {
            redisReply *f = fv->element[i], *x = fv->element[i + 1];
            if (f->type != REDIS_REPLY_STRING
                || x->type != REDIS_REPLY_STRING)
            {
                continue;
            }
#define SND_FIELD(n) (f->len == sizeof(n) - 1 && memcmp(f->str, n, f->len) == 0)
            if (SND_FIELD("provider")) {
                snprintf(proto.provider, sizeof(proto.provider), "%.*s",
                    (int) x->len, x->str);
            } else if (SND_FIELD("kind")) {
                snprintf(proto.kind, sizeof(proto.kind), "%.*s",
                    (int) x->len, x->str);
            } else if (SND_FIELD("mid")) {
                if (x->len < sizeof(proto.mid)) {
                    memcpy(proto.mid, x->str, x->len);
                }
            } else if (SND_FIELD("body")) {
                proto.body = x->str;
                proto.body_len = x->len;
            } else if (SND_FIELD("ct")) {
                snprintf(ct, sizeof(ct), "%.*s", (int) x->len, x->str);
            } else if (SND_FIELD("at")) {
                proto.at = atoll(x->str);
            }
#undef SND_FIELD
        }
    }
    if (proto.at <= 0) {
        proto.at = snd_now_ms();
    }
    if (proto.body == NULL) {
        proto.body = "";
    }

    parser = snd_ev_parser_of(proto.provider, proto.kind);
    if (parser != NULL && parser->many != NULL) {
        n = parser->many(v, &proto);
    }
    if (n > 0) {
        v->ev[v->n - (size_t) n].ack = 1;
        return 0;
    }

    /* one sub-event for the entry */
    e = snd_evs_add(v, &proto);
    if (e == NULL) {
        return -1;
    }
    e->ack = 1;
    if (parser != NULL && parser->form
        && bc_form_parse(e->body, e->body_len, &e->form) == 0)
    {
        e->have_form = 1;
    }
    if (parser != NULL && parser->one != NULL
        && (!parser->form || e->have_form))
    {
        parser->one(e, ct);
    } else {
        /* other kinds (or unreadable bodies): audit only, deduplicated on
           the whole event */
        snd_ev_dedup_body(e);
    }
    return 0;
}

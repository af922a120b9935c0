/*
 * Webhook events (bc:stream:events, group 'recorders') -> MySQL: an audit
 * row per event (deduplicated), forward-only status updates, opt-outs; one
 * transaction per batch, then XACK.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bc_form.h"
#include "bc_id.h"
#include "bc_sig.h"
#include "bc_status.h"
#include "sender.h"

#define SND_EV_BATCH  5000

/* the recorder thread's turn period while events keep coming: a 'sent'
   and the 'delivered' that follows it tens of ms later mostly land in the
   same batch (one status upsert instead of two), and statements stay
   large. The wait ends early once a slice passes with no new event (a
   burst is over: its last statuses are written within ~100 ms, not up to
   500) or a full batch is waiting. */
#define SND_EV_PERIOD_MS  500
#define SND_EV_SLICE_MS   50

#define SND_EV_OWN  12

typedef struct {
    char         id[48];           /* stream entry id */
    int          ack;              /* first sub-event of its entry: XACK */
    char         provider[16];
    char         kind[32];
    char         mid[32];
    long long    at;
    const char  *body;             /* audit payload: the raw body (borrowed
                                      from the reply) or an owned dump */
    size_t       body_len;
    bc_form_t    form;             /* owned */
    int          have_form;
    json_t      *root;             /* owned: parsed JSON body (first
                                      sub-event of the entry) */
    char        *own[SND_EV_OWN];  /* owned strings the pointers use */
    int          nown;
    const char  *sid, *st, *ecode, *emsg, *price, *unit, *segs, *to;
    const char  *pricing;          /* Meta pricing.category */
    const char  *lookup;           /* provider to look sid up under */
    const char  *ours;             /* our status, NULL if none */
    char         dedup[65];
    char         msg_id[32];       /* resolved message id, "" if unknown */
    int          applied;          /* folded into an update row */

    /* opt-out list change: addr (peer form) in / out */
    const char  *opt_addr, *opt_source, *opt_reason;
    int          opt_in;           /* 1: START, delete the opt-out */

    /* an inbound message row */
    int          inbound;
    char         in_id[27];
    const char  *in_channel, *in_to, *in_from, *in_peer, *in_subject,
                *in_text, *in_payload;
} snd_ev_t;

static const char *
snd_ev_get(snd_ev_t *e, const char *name)
{
    const char *v = bc_form_get(&e->form, name);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* keeps a malloc'd string with the event; NULL stays NULL */
static const char *
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
static const char *
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

static const char *
snd_ev_printf(snd_ev_t *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static const char *
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

static const char *
snd_ev_dump(snd_ev_t *e, json_t *j)
{
    return j == NULL ? NULL : snd_ev_keep(e, json_dumps(j, JSON_COMPACT));
}

/* the event's stored body: the compact JSON of j ("" if it cannot be) */
static void
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
static void
snd_ev_hold_root(snd_ev_t *e, json_t *root, int *n)
{
    if ((*n)++ == 0) {
        e->root = root;
        json_incref(root);
    }
}

static void
snd_ev_dedup(snd_ev_t *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
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
static void
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

static void
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

/* a growing array of sub-events */
typedef struct {
    snd_ev_t  *ev;
    size_t     n, cap;
} snd_evs_t;

/* a new sub-event with the entry's fields of proto; NULL on OOM */
static snd_ev_t *
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

static void
snd_lower(char *p)
{
    for ( ; p != NULL && *p; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            *p = (char) (*p - 'A' + 'a');
        }
    }
}

static int
snd_ev_new_id(snd_ev_t *e)
{
    if (bc_ulid(e->in_id) != 0) {
        return -1;
    }
    e->inbound = 1;
    return 0;
}

/* ---- Twilio (form bodies) ----------------------------------------------- */

static void
snd_ev_twilio_status(snd_ev_t *e)
{
    e->sid = snd_ev_get(e, "MessageSid");
    if (e->sid == NULL) {
        e->sid = snd_ev_get(e, "SmsSid");
    }
    e->st = snd_ev_get(e, "MessageStatus");
    if (e->st == NULL) {
        e->st = snd_ev_get(e, "SmsStatus");
    }
    e->ecode = snd_ev_get(e, "ErrorCode");
    e->emsg = snd_ev_get(e, "ErrorMessage");
    e->price = snd_ev_get(e, "Price");
    e->unit = snd_ev_get(e, "PriceUnit");
    e->segs = snd_ev_get(e, "NumSegments");
    e->to = snd_ev_get(e, "To");
    e->lookup = "twilio";
    e->ours = e->st != NULL ? bc_status_from_twilio(e->st) : NULL;
    snd_ev_dedup(e, "twilio|%s|%s|%s", e->sid ? e->sid : "",
        e->st ? e->st : "", e->ecode ? e->ecode : "");
    if (e->ecode != NULL && strcmp(e->ecode, "21610") == 0 && e->to != NULL)
    {
        e->opt_addr = bc_wa_strip(e->to);
        e->opt_source = "twilio_21610";
        e->opt_reason = "Twilio 21610 in a status callback";
    }
    e->sid = snd_ev_clip(e, e->sid, 128);
    e->st = snd_ev_clip(e, e->st, 32);
    e->ecode = snd_ev_clip(e, e->ecode, 32);
    e->unit = snd_ev_clip(e, e->unit, 8);
}

static void
snd_ev_twilio_inbound(snd_ev_t *e, int wa)
{
    json_t      *p = json_object(), *media = json_array();
    const char  *from = snd_ev_get(e, "From"), *to = snd_ev_get(e, "To");
    const char  *ot = snd_ev_get(e, "OptOutType");
    size_t       i;
    static const char *const keys[][2] = {
        { "ProfileName", "profile_name" }, { "WaId", "wa_id" },
        { "Latitude", "latitude" }, { "Longitude", "longitude" },
        { "Address", "address" }, { "Label", "label" },
        { "ButtonPayload", "button_payload" }, { "ButtonText", "button_text" },
        { "MessageType", "message_type" }, { "NumMedia", "num_media" },
        { "NumSegments", "num_segments" }, { "OptOutType", "opt_out_type" },
        { "Forwarded", "forwarded" }, { "OriginalRepliedMessageSid",
                                        "replied_message_sid" } };

    e->sid = snd_ev_get(e, "MessageSid");
    if (e->sid == NULL) {
        e->sid = snd_ev_get(e, "SmsSid");
    }
    e->st = "received";
    snd_ev_dedup(e, "twilio|in|%s", e->sid ? e->sid : e->id);
    if (e->sid == NULL || from == NULL || snd_ev_new_id(e) != 0) {
        json_decref(p);
        json_decref(media);
        e->inbound = 0;
        return;
    }
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *v = snd_ev_get(e, keys[i][0]);
        if (v != NULL && p != NULL) {
            json_object_set_new(p, keys[i][1], json_string(v));
        }
    }
    for (i = 0; i < e->form.n && media != NULL; i++) {
        bc_kv_t *kv = &e->form.items[i];
        if (kv->name_len > 8 && strncmp(kv->name, "MediaUrl", 8) == 0) {
            char ct[48];
            const char *t;
            snprintf(ct, sizeof(ct), "MediaContentType%.*s",
                (int) (kv->name_len - 8), kv->name + 8);
            t = snd_ev_get(e, ct);
            json_array_append_new(media, json_pack("{s:s%,s:s?}", "url",
                kv->value, kv->value_len, "content_type", t));
        }
    }
    if (p != NULL && json_array_size(media) > 0) {
        json_object_set(p, "media", media);
    }
    json_decref(media);
    e->in_payload = snd_ev_dump(e, p);
    json_decref(p);
    e->in_channel = wa ? "whatsapp" : "sms";
    e->in_from = snd_ev_clip(e, from, 255);
    e->in_to = snd_ev_clip(e, to ? to : "", 255);
    e->in_peer = snd_ev_clip(e, bc_wa_strip(from), 255);
    e->in_text = snd_ev_get(e, "Body");
    e->sid = snd_ev_clip(e, e->sid, 128);
    e->lookup = NULL;
    if (ot != NULL && strcasecmp(ot, "STOP") == 0) {
        e->opt_addr = e->in_peer;
        e->opt_source = "twilio_inbound";
        e->opt_reason = "OptOutType STOP";
    } else if (ot != NULL && strcasecmp(ot, "START") == 0) {
        e->opt_addr = e->in_peer;
        e->opt_in = 1;
    }
}

/* ---- SendGrid ----------------------------------------------------------- */

static int
snd_ev_sendgrid_events(snd_evs_t *v, snd_ev_t *proto)
{
    json_t       *arr, *o;
    json_error_t  jerr;
    size_t        i;
    int           n = 0;

    arr = json_loadb(proto->body, proto->body_len, 0, &jerr);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return 0;
    }
    json_array_foreach(arr, i, o) {
        snd_ev_t    *e;
        const char  *ev = json_string_value(json_object_get(o, "event"));
        const char  *mid = json_string_value(json_object_get(o,
                               "bc_message_id"));
        const char  *eid = json_string_value(json_object_get(o,
                               "sg_event_id"));
        const char  *email = json_string_value(json_object_get(o, "email"));
        const char  *reason = json_string_value(json_object_get(o, "reason"));
        json_t      *ts = json_object_get(o, "timestamp");

        if (!json_is_object(o) || ev == NULL) {
            continue;
        }
        e = snd_evs_add(v, proto);
        if (e == NULL) {
            break;
        }
        snd_ev_hold_root(e, arr, &n);
        snd_ev_set_body(e, o);
        e->mid[0] = '\0';
        if (mid != NULL && strlen(mid) == 26) {
            memcpy(e->mid, mid, 27);
        }
        if (json_is_integer(ts) && json_integer_value(ts) > 0) {
            e->at = (long long) json_integer_value(ts) * 1000;
        }
        e->sid = snd_ev_clip(e, json_string_value(json_object_get(o,
            "sg_message_id")), 128);
        e->lookup = "sendgrid";
        e->st = snd_ev_clip(e, ev, 32);
        e->ours = bc_status_from_sendgrid(ev);
        if (strcmp(ev, "bounce") == 0) {
            const char *t = json_string_value(json_object_get(o, "type"));
            e->ecode = snd_ev_clip(e, snd_ev_printf(e, "bounce:%s",
                t ? t : "bounce"), 32);
            e->emsg = reason;
        } else if (strcmp(ev, "dropped") == 0) {
            e->ecode = "dropped";
            e->emsg = reason;
        }
        if (eid != NULL) {
            snd_ev_dedup(e, "sendgrid|%s", eid);
        } else {
            snd_ev_dedup(e, "sendgrid|%s", e->body);
        }
        if (email != NULL
            && (strcmp(ev, "bounce") == 0 || strcmp(ev, "spamreport") == 0
                || strcmp(ev, "unsubscribe") == 0
                || strcmp(ev, "group_unsubscribe") == 0
                || (strcmp(ev, "dropped") == 0 && reason != NULL
                    && (strstr(reason, "Bounced Address") != NULL
                        || strstr(reason, "Unsubscribed Address") != NULL
                        || strstr(reason, "Spam Reporting Address") != NULL))))
        {
            char *a = strdup(email);
            snd_lower(a);
            e->opt_addr = snd_ev_clip(e, snd_ev_keep(e, a), 255);
            e->opt_source = snd_ev_printf(e, "sendgrid_%.20s", ev);
            e->opt_reason = snd_ev_clip(e, reason ? reason : ev, 255);
        }
    }
    json_decref(arr);
    return n;
}

/* the value of one multipart/form-data field, malloc'd, or NULL */
static char *
snd_mp_field(const char *body, size_t len, const char *boundary,
    const char *name)
{
    char        delim[256], pat[128];
    size_t      dl, i;
    const char *p, *end = body + len, *h, *v, *ve;

    dl = (size_t) snprintf(delim, sizeof(delim), "--%s", boundary);
    snprintf(pat, sizeof(pat), "name=\"%s\"", name);
    for (p = memmem(body, len, delim, dl); p != NULL; ) {
        h = p + dl;
        if (end - h >= 2 && h[0] == '-' && h[1] == '-') {
            return NULL;                           /* closing delimiter */
        }
        v = memmem(h, (size_t) (end - h), "\r\n\r\n", 4);
        if (v == NULL) {
            return NULL;
        }
        v += 4;
        ve = memmem(v, (size_t) (end - v), delim, dl);
        if (ve == NULL) {
            ve = end;
        }
        /* name="x" in this part's headers, not a prefix of another name */
        for (i = 0; h + i + strlen(pat) <= v; i++) {
            if (memcmp(h + i, pat, strlen(pat)) == 0
                && (h[i - 1] == ' ' || h[i - 1] == ';'))
            {
                const char *e2 = ve;
                if (e2 - v >= 2 && e2[-2] == '\r' && e2[-1] == '\n') {
                    e2 -= 2;
                }
                return strndup(v, (size_t) (e2 - v));
            }
        }
        p = ve < end ? ve : NULL;
    }
    return NULL;
}

/* "Name <a@b>" or "a@b" -> lower-cased a@b (malloc'd) */
static char *
snd_email_addr(const char *s)
{
    const char *lt, *gt;
    char       *a;

    if (s == NULL) {
        return NULL;
    }
    lt = strrchr(s, '<');
    gt = lt ? strchr(lt, '>') : NULL;
    if (lt != NULL && gt != NULL) {
        a = strndup(lt + 1, (size_t) (gt - lt - 1));
    } else {
        while (*s == ' ' || *s == '\t') {
            s++;
        }
        a = strdup(s);
        if (a != NULL) {
            size_t n = strlen(a);
            while (n > 0 && (a[n - 1] == ' ' || a[n - 1] == '\t'
                             || a[n - 1] == '\r' || a[n - 1] == '\n'))
            {
                a[--n] = '\0';
            }
        }
    }
    snd_lower(a);
    return a;
}

static void
snd_ev_sendgrid_inbound(snd_ev_t *e, const char *ct)
{
    char        boundary[200], *f[7], *msgid = NULL, *peer = NULL,
               *to = NULL;
    const char *b;
    static const char *const names[7] = { "from", "to", "subject", "text",
                                          "html", "envelope", "headers" };
    json_t     *env, *p;
    json_error_t jerr;
    int         i;

    boundary[0] = '\0';
    b = ct != NULL ? strcasestr(ct, "boundary=") : NULL;
    if (b != NULL) {
        size_t n;
        b += 9;
        if (*b == '"') {
            b++;
            n = strcspn(b, "\"");
        } else {
            n = strcspn(b, "; \t\r\n");
        }
        if (n < sizeof(boundary)) {
            memcpy(boundary, b, n);
            boundary[n] = '\0';
        }
    }
    if (boundary[0] == '\0') {
        snd_ev_dedup_body(e);
        return;
    }
    for (i = 0; i < 7; i++) {
        f[i] = snd_mp_field(e->body, e->body_len, boundary, names[i]);
        snd_ev_keep(e, f[i]);
    }
    /* Message-ID header, else the body's hash */
    if (f[6] != NULL) {
        const char *h = f[6];
        while (h != NULL && *h) {
            if (strncasecmp(h, "Message-ID:", 11) == 0) {
                h += 11;
                while (*h == ' ' || *h == '\t') {
                    h++;
                }
                msgid = strndup(h, strcspn(h, "\r\n"));
                break;
            }
            h = strchr(h, '\n');
            h = h ? h + 1 : NULL;
        }
    }
    if (msgid == NULL || *msgid == '\0') {
        free(msgid);
        msgid = malloc(65);
        if (msgid != NULL) {
            bc_sha256_hex(e->body, e->body_len, msgid);
        }
    }
    e->sid = snd_ev_clip(e, snd_ev_keep(e, msgid), 128);
    snd_ev_dedup(e, "sendgrid|in|%s", e->sid ? e->sid : e->id);

    env = f[5] ? json_loads(f[5], 0, &jerr) : NULL;
    peer = snd_email_addr(json_string_value(json_object_get(env, "from")));
    if (peer == NULL || *peer == '\0') {
        free(peer);
        peer = snd_email_addr(f[0]);
    }
    to = snd_email_addr(json_string_value(json_array_get(
        json_object_get(env, "to"), 0)));
    if (to == NULL || *to == '\0') {
        free(to);
        to = snd_email_addr(f[1]);
    }
    json_decref(env);
    snd_ev_keep(e, peer);
    snd_ev_keep(e, to);
    if (e->sid == NULL || peer == NULL || *peer == '\0'
        || snd_ev_new_id(e) != 0)
    {
        e->inbound = 0;
        return;
    }
    p = json_object();
    if (p != NULL) {
        if (f[0]) json_object_set_new(p, "from", json_string(f[0]));
        if (f[1]) json_object_set_new(p, "to", json_string(f[1]));
        if (f[4]) json_object_set_new(p, "html", json_string(f[4]));
        if (f[5]) json_object_set_new(p, "envelope", json_string(f[5]));
        if (f[6]) json_object_set_new(p, "headers", json_string(f[6]));
    }
    e->in_payload = snd_ev_dump(e, p);
    json_decref(p);
    e->in_channel = "email";
    e->in_peer = snd_ev_clip(e, peer, 255);
    e->in_from = e->in_peer;
    e->in_to = snd_ev_clip(e, to ? to : "", 255);
    e->in_subject = snd_ev_clip(e, f[2], 255);
    e->in_text = f[3] != NULL && f[3][0] != '\0' ? f[3] : f[4];
    e->st = "received";
}

/* ---- Meta --------------------------------------------------------------- */

/* the display text of an inbound Graph message */
static const char *
snd_meta_text(json_t *m)
{
    const char *type = json_string_value(json_object_get(m, "type"));
    json_t     *o;
    const char *t;

    if (type == NULL) {
        return NULL;
    }
    o = json_object_get(m, type);
    if (strcmp(type, "text") == 0) {
        return json_string_value(json_object_get(o, "body"));
    }
    if (strcmp(type, "button") == 0) {
        return json_string_value(json_object_get(o, "text"));
    }
    if (strcmp(type, "interactive") == 0) {
        t = json_string_value(json_object_get(json_object_get(o,
            "button_reply"), "title"));
        return t ? t : json_string_value(json_object_get(json_object_get(o,
            "list_reply"), "title"));
    }
    if (strcmp(type, "reaction") == 0) {
        return json_string_value(json_object_get(o, "emoji"));
    }
    if (strcmp(type, "location") == 0) {
        t = json_string_value(json_object_get(o, "name"));
        return t ? t : json_string_value(json_object_get(o, "address"));
    }
    t = json_string_value(json_object_get(o, "caption"));
    return t ? t : json_string_value(json_object_get(o, "filename"));
}

static int
snd_ev_meta(snd_evs_t *v, snd_ev_t *proto)
{
    json_t       *root, *entry, *ch, *val, *x;
    json_error_t  jerr;
    size_t        i, j, k;
    int           n = 0;

    root = json_loadb(proto->body, proto->body_len, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        return 0;
    }
    json_array_foreach(json_object_get(root, "entry"), i, entry) {
    json_array_foreach(json_object_get(entry, "changes"), j, ch) {
        const char *pnid;
        val = json_object_get(ch, "value");
        pnid = json_string_value(json_object_get(json_object_get(val,
            "metadata"), "phone_number_id"));
        json_array_foreach(json_object_get(val, "statuses"), k, x) {
            snd_ev_t    *e = snd_evs_add(v, proto);
            const char  *st = json_string_value(json_object_get(x,
                              "status"));
            const char  *ts = json_string_value(json_object_get(x,
                              "timestamp"));
            json_t      *err = json_array_get(json_object_get(x, "errors"),
                              0);
            json_t      *code = json_object_get(err, "code");
            if (e == NULL) {
                goto done;
            }
            snd_ev_hold_root(e, root, &n);
            snd_ev_set_body(e, x);
            e->mid[0] = '\0';
            e->sid = snd_ev_clip(e, json_string_value(json_object_get(x,
                "id")), 128);
            e->lookup = "meta";
            e->st = snd_ev_clip(e, st, 32);
            e->ours = bc_status_from_meta(st);
            e->to = json_string_value(json_object_get(x, "recipient_id"));
            if (json_is_integer(code)) {
                e->ecode = snd_ev_printf(e, "%lld",
                    (long long) json_integer_value(code));
            } else if (json_is_string(code)) {
                e->ecode = snd_ev_clip(e, json_string_value(code), 32);
            }
            e->emsg = json_string_value(json_object_get(err, "title"));
            e->pricing = snd_ev_clip(e, json_string_value(json_object_get(
                json_object_get(x, "pricing"), "category")), 32);
            if (ts != NULL && atoll(ts) > 0) {
                e->at = atoll(ts) * 1000;
            }
            snd_ev_dedup(e, "meta|%s|%s", e->sid ? e->sid : "",
                st ? st : "");
        }
        json_array_foreach(json_object_get(val, "messages"), k, x) {
            snd_ev_t    *e = snd_evs_add(v, proto);
            const char  *from = json_string_value(json_object_get(x,
                              "from"));
            const char  *ts = json_string_value(json_object_get(x,
                              "timestamp"));
            json_t      *c, *pl;
            size_t       ci;
            if (e == NULL) {
                goto done;
            }
            snd_ev_hold_root(e, root, &n);
            e->mid[0] = '\0';
            e->sid = snd_ev_clip(e, json_string_value(json_object_get(x,
                "id")), 128);
            e->st = "received";
            snd_ev_dedup(e, "meta|in|%s", e->sid ? e->sid : "");
            pl = json_deep_copy(x);
            json_array_foreach(json_object_get(val, "contacts"), ci, c) {
                const char *w = json_string_value(json_object_get(c,
                    "wa_id"));
                if (pl != NULL && w != NULL && from != NULL
                    && strcmp(w, from) == 0)
                {
                    json_t *nm = json_object_get(json_object_get(c,
                        "profile"), "name");
                    if (json_is_string(nm)) {
                        json_object_set(pl, "profile_name", nm);
                    }
                }
            }
            snd_ev_set_body(e, pl);
            json_decref(pl);
            if (ts != NULL && atoll(ts) > 0) {
                e->at = atoll(ts) * 1000;
            }
            if (e->sid == NULL || from == NULL || snd_ev_new_id(e) != 0) {
                e->inbound = 0;
                continue;
            }
            e->in_payload = e->body;
            e->in_channel = "whatsapp";
            e->in_peer = snd_ev_clip(e, snd_ev_printf(e, "+%s", from), 255);
            e->in_from = e->in_peer;
            e->in_to = snd_ev_clip(e, snd_ev_printf(e, "meta:%s",
                pnid ? pnid : ""), 255);
            e->in_text = snd_meta_text(x);
        }
    }
    }
done:
    json_decref(root);
    return n;
}

/* ---- one stream entry -> one or more sub-events ------------------------- */

static int
snd_ev_parse(snd_evs_t *v, redisReply *entry)
{
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

    if (strcmp(proto.provider, "sendgrid") == 0
        && strcmp(proto.kind, "email_events") == 0)
    {
        n = snd_ev_sendgrid_events(v, &proto);
    } else if (strcmp(proto.provider, "meta") == 0) {
        n = snd_ev_meta(v, &proto);
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
    if (strcmp(e->provider, "twilio") == 0
        && bc_form_parse(e->body, e->body_len, &e->form) == 0)
    {
        e->have_form = 1;
    }
    if (e->have_form && (strcmp(e->kind, "sms_status") == 0
                         || strcmp(e->kind, "whatsapp_status") == 0))
    {
        snd_ev_twilio_status(e);
    } else if (e->have_form && (strcmp(e->kind, "sms_inbound") == 0
                                || strcmp(e->kind, "whatsapp_inbound") == 0))
    {
        snd_ev_twilio_inbound(e, e->kind[0] == 'w');
    } else if (strcmp(e->provider, "sendgrid") == 0
               && strcmp(e->kind, "email_inbound") == 0)
    {
        snd_ev_sendgrid_inbound(e, ct);
    } else {
        /* other kinds (or unreadable bodies): audit only, deduplicated on
           the whole event */
        snd_ev_dedup_body(e);
    }
    return 0;
}

/* a chained hash over the batch's events (heads[] of size nh, a power of
   two, and one link per event), so matching rows to events and folding
   events per message stay O(n) for batches of 1000 */
static unsigned
snd_ev_hash(const char *k, size_t nh)
{
    unsigned h = 2166136261u;

    while (*k) {
        h = (h ^ (unsigned char) *k++) * 16777619u;
    }
    return h & (unsigned) (nh - 1);
}

static size_t
snd_ev_nheads(size_t n)
{
    size_t nh = 16;

    while (nh < 2 * n) {
        nh *= 2;
    }
    return nh;
}

/* the chain of up to n entries: heads[nh] (-1: empty) and links[n] */
typedef struct {
    long    *heads, *links;
    size_t   nh;
} snd_chain_t;

static int
snd_chain_init(snd_chain_t *c, size_t n)
{
    size_t  i;

    c->nh = snd_ev_nheads(n);
    c->heads = malloc(c->nh * sizeof(*c->heads));
    c->links = malloc((n ? n : 1) * sizeof(*c->links));
    if (c->heads == NULL || c->links == NULL) {
        free(c->heads);
        free(c->links);
        return -1;
    }
    for (i = 0; i < c->nh; i++) {
        c->heads[i] = -1;
    }
    return 0;
}

static void
snd_chain_free(snd_chain_t *c)
{
    free(c->heads);
    free(c->links);
}

/*
 * The events whose mid is the id of a handed result of this turn: that
 * message's row exists (claimed before its provider call, never deleted),
 * so they need no lookup. Under load most status callbacks are of this
 * kind, and the lookup was 9% of MariaDB's statement time (make bench).
 */
static int
snd_ev_resolve_handed(snd_ev_t *ev, size_t n, snd_handoff_t *ho)
{
    snd_handoff_t  *a, **byk;
    size_t          nho = 0, i, k;
    snd_chain_t     c;
    long            x;

    for (a = ho; a != NULL; a = a->next) {
        nho++;
    }
    if (nho == 0 || n == 0) {
        return 0;
    }
    byk = malloc(nho * sizeof(*byk));
    if (byk == NULL || snd_chain_init(&c, nho) != 0) {
        free(byk);
        return -1;
    }
    for (a = ho, k = 0; a != NULL; a = a->next, k++) {
        unsigned h = snd_ev_hash(a->id, c.nh);
        byk[k] = a;
        c.links[k] = c.heads[h];
        c.heads[h] = (long) k;
    }
    for (i = 0; i < n; i++) {
        if (ev[i].mid[0] == '\0') {
            continue;
        }
        for (x = c.heads[snd_ev_hash(ev[i].mid, c.nh)]; x >= 0;
             x = c.links[x])
        {
            if (strcmp(byk[x]->id, ev[i].mid) == 0) {
                snprintf(ev[i].msg_id, sizeof(ev[i].msg_id), "%s",
                    byk[x]->id);
                break;
            }
        }
    }
    snd_chain_free(&c);
    free(byk);
    return 0;
}

/* resolves msg_id for every event: by mid, else by provider sid */
static int
snd_ev_resolve(snd_t *s, snd_ev_t *ev, size_t n, snd_handoff_t *ho)
{
    snd_buf_t    q = { 0 };
    MYSQL_RES   *res;
    MYSQL_ROW    row;
    size_t       i;
    snd_chain_t  c;
    int          nm = 0, ns = 0;

    if (snd_ev_resolve_handed(ev, n, ho) != 0) {
        return -1;
    }
    snd_buf_add(&q, "SELECT id,provider_message_id FROM messages WHERE "
        "id IN (''");
    for (i = 0; i < n; i++) {
        /* ids are ASCII (sql/005): a mid that is not cannot name a
           message, and would make the comparison an error */
        if (ev[i].mid[0] != '\0' && ev[i].msg_id[0] == '\0'
            && snd_ascii(ev[i].mid))
        {
            snd_buf_add(&q, ",");
            snd_buf_str(s, &q, ev[i].mid, strlen(ev[i].mid));
            nm++;
        }
    }
    snd_buf_add(&q, ")");
    for (int pv = 0; pv < 3; pv++) {
        static const char *const provs[3] = { "twilio", "meta", "sendgrid" };
        int np = 0;
        for (i = 0; i < n; i++) {
            if (ev[i].mid[0] == '\0' && ev[i].sid != NULL
                && ev[i].lookup != NULL
                && strcmp(ev[i].lookup, provs[pv]) == 0)
            {
                if (np++ == 0) {
                    snd_buf_add(&q, " OR (provider='%s' AND "
                        "provider_message_id IN (", provs[pv]);
                } else {
                    snd_buf_add(&q, ",");
                }
                snd_buf_str(s, &q, ev[i].sid, strlen(ev[i].sid));
            }
        }
        if (np > 0) {
            snd_buf_add(&q, "))");
        }
        ns += np;
    }
    if (nm + ns == 0) {
        snd_buf_free(&q);
        return 0;
    }
    if (q.oom || snd_db_exec(s, q.p, q.len) != 0) {
        snd_buf_free(&q);
        return -1;
    }
    snd_buf_free(&q);
    res = mysql_store_result(s->db);
    if (res == NULL) {
        snd_db_lost(s, mysql_error(s->db));
        return -1;
    }
    if (snd_chain_init(&c, n) != 0) {
        mysql_free_result(res);
        return -1;
    }
    /* events chained under their key: mid, else sid */
    for (i = 0; i < n; i++) {
        const char *k = ev[i].mid[0] != '\0' ? ev[i].mid
                        : ev[i].lookup != NULL ? ev[i].sid : NULL;
        c.links[i] = -1;
        if (k != NULL) {
            unsigned h = snd_ev_hash(k, c.nh);
            c.links[i] = c.heads[h];
            c.heads[h] = (long) i;
        }
    }
    while ((row = mysql_fetch_row(res)) != NULL) {
        for (int pass = 0; pass < 2; pass++) {
            const char *k = pass == 0 ? row[0] : row[1];
            long x;
            if (k == NULL) {
                continue;
            }
            for (x = c.heads[snd_ev_hash(k, c.nh)]; x >= 0;
                 x = c.links[x])
            {
                snd_ev_t *e = &ev[x];
                if ((pass == 0 && e->mid[0] != '\0'
                     && strcmp(e->mid, row[0]) == 0)
                    || (pass == 1 && e->mid[0] == '\0' && e->sid != NULL
                        && e->lookup != NULL
                        && strcmp(e->sid, row[1]) == 0))
                {
                    snprintf(e->msg_id, sizeof(e->msg_id), "%s", row[0]);
                }
            }
        }
    }
    snd_chain_free(&c);
    mysql_free_result(res);
    return 0;
}

static void
snd_opt_str(snd_t *s, snd_buf_t *b, const char *v)
{
    if (v == NULL) {
        snd_buf_add(b, "NULL");
    } else {
        snd_buf_str(s, b, v, strlen(v));
    }
}

/* the folded effect of a batch's events (and handed results) on one
   message */
typedef struct {
    const char  *id;
    const char  *status;     /* best status, forward-only fold */
    int          rank;
    const char  *sid, *price, *unit, *segs, *ecode, *emsg, *pricing;
    const char  *req_id;     /* handed result: provider request id */
    int          accepted;   /* handed result: the provider took it */
    int          has_event;  /* an event of this turn folded in */
    int          skip;       /* a handed result held for a later turn */
    long long    sent_at, delivered_at, read_at;
} snd_fold_t;

/*
 * Applies the folded effects in one bulk INSERT ... ON DUPLICATE KEY UPDATE
 * on the primary key (bulk.c: parsed once, the rows in binary): one row
 * write per message. Every folded id was just resolved from an existing
 * row and messages are never deleted, so the insert half never applies
 * (its placeholder values are never stored; the provider '' keeps the
 * UNIQUE (provider, provider_message_id) key out of it, so the only
 * duplicate is the primary key). A single-table ON DUPLICATE KEY UPDATE
 * assigns left to right, so the forward-only test reads the old
 * status_rank everywhere as long as status_rank comes last.
 */
static int
snd_ev_update(snd_t *s, snd_fold_t *f, size_t nf)
{
    snd_bulk_t  *b;
    size_t       j;

#define SND_EV_ADV "VALUES(status_rank)>0 AND status_rank<VALUES(status_rank)" \
                   " AND status_rank<100"
#define SND_EV_CLEAR "VALUES(send_state)='done' AND status_rank<=10" \
                     " AND VALUES(status_rank) BETWEEN 20 AND 99"
    b = snd_bulk_begin(s, SND_BULK_UPSERT, "INSERT INTO messages (id,"
        "batch_id,channel,provider,to_address,from_address,status,"
        "status_rank,provider_message_id,price,price_unit,num_segments,"
        "error_code,error_message,sent_at,delivered_at,read_at,"
        "pricing_category,send_state,provider_request_id,created_at,"
        "updated_at) VALUES (?,'','','','','',?,?,?,?,?,?,?,?,"
        "FROM_UNIXTIME(?/1000),FROM_UNIXTIME(?/1000),FROM_UNIXTIME(?/1000),"
        "?,?,?,UTC_TIMESTAMP(3),UTC_TIMESTAMP(3))"
        " ON DUPLICATE KEY UPDATE "
        "provider_message_id=COALESCE(provider_message_id,"
        "VALUES(provider_message_id)),"
        "price=COALESCE(VALUES(price),price),"
        "price_unit=COALESCE(VALUES(price_unit),price_unit),"
        "num_segments=COALESCE(VALUES(num_segments),num_segments),"
        "sent_at=COALESCE(sent_at,VALUES(sent_at)),"
        "delivered_at=COALESCE(delivered_at,VALUES(delivered_at)),"
        "read_at=COALESCE(read_at,VALUES(read_at)),"
        "pricing_category=COALESCE(VALUES(pricing_category),"
        "pricing_category),"
        "updated_at=VALUES(updated_at),"
        "send_state=IF(VALUES(send_state)='done','done',send_state),"
        "provider_request_id=COALESCE(VALUES(provider_request_id),"
        "provider_request_id),"
        /* a handed result on a row no callback has advanced yet clears
           the error of an earlier attempt, as the ledger's upsert does */
        "error_code=IF(" SND_EV_CLEAR ",VALUES(error_code),"
        "IF(" SND_EV_ADV ",COALESCE(VALUES(error_code),error_code),"
        "error_code)),"
        "error_message=IF(" SND_EV_CLEAR ",VALUES(error_message),"
        "IF(" SND_EV_ADV " AND VALUES(error_code) IS NOT NULL,"
        "VALUES(error_message),error_message)),"
        "status=IF(" SND_EV_ADV ",VALUES(status),status),"
        "status_rank=IF(" SND_EV_ADV ",VALUES(status_rank),status_rank)",
        "ssisssissiiisss");
#undef SND_EV_ADV
#undef SND_EV_CLEAR
    if (b == NULL) {
        return -1;
    }
    for (j = 0; j < nf; j++) {
        snd_fold_t *x = &f[j];
        if (x->skip) {
            continue;
        }
        if (snd_bulk_row(b) != 0) {
            return -1;
        }
        snd_bulk_cstr(b, 0, x->id);
        snd_bulk_cstr(b, 1, x->status != NULL ? x->status : "");
        snd_bulk_int(b, 2, x->status != NULL ? x->rank : 0);
        snd_bulk_cstr(b, 3, x->sid);
        snd_bulk_cstr(b, 4, x->price);
        snd_bulk_cstr(b, 5, x->unit);
        if (x->segs != NULL) {
            snd_bulk_int(b, 6, atoi(x->segs));
        }
        snd_bulk_cstr(b, 7, x->ecode);
        snd_bulk_cstr(b, 8, x->emsg);
        /* 0: unknown, NULL */
        if (x->sent_at) snd_bulk_int(b, 9, x->sent_at);
        if (x->delivered_at) snd_bulk_int(b, 10, x->delivered_at);
        if (x->read_at) snd_bulk_int(b, 11, x->read_at);
        snd_bulk_cstr(b, 12, x->pricing);
        /* send_state: 'done' marks a handed result (the placeholder
           'pending' is never stored, see above) */
        snd_bulk_cstr(b, 13, x->accepted ? "done" : "pending");
        snd_bulk_cstr(b, 14, x->req_id);
    }
    return snd_bulk_exec(s, b) < 0 ? -1 : 0;
}

/* opt_outs changes in stream order: inserts batched, a START (delete)
   flushes them first */
static int
snd_ev_optouts(snd_t *s, snd_ev_t *ev, size_t n)
{
    snd_buf_t   q = { 0 };
    size_t      i;
    int         nopt = 0;

    for (i = 0; i <= n; i++) {
        snd_ev_t *e = i < n ? &ev[i] : NULL;
        if (e != NULL && (e->opt_addr == NULL || e->opt_addr[0] == '\0')) {
            continue;
        }
        if (nopt > 0 && (e == NULL || e->opt_in)) {
            if (q.oom || snd_db_exec(s, q.p, q.len) != 0) {
                snd_buf_free(&q);
                return -1;
            }
            nopt = 0;
        }
        if (e == NULL) {
            break;
        }
        if (e->opt_in) {
            q.len = 0;
            snd_buf_add(&q, "DELETE FROM opt_outs WHERE address=");
            snd_buf_str(s, &q, e->opt_addr, strlen(e->opt_addr));
            if (q.oom || snd_db_exec(s, q.p, q.len) != 0) {
                snd_buf_free(&q);
                return -1;
            }
            continue;
        }
        if (nopt == 0) {
            q.len = 0;
            snd_buf_add(&q, "INSERT IGNORE INTO opt_outs (address,reason,"
                "source,created_at) VALUES ");
        }
        snd_buf_add(&q, nopt++ ? ",(" : "(");
        snd_buf_str(s, &q, e->opt_addr, strlen(e->opt_addr));
        snd_buf_add(&q, ",");
        snd_opt_str(s, &q, e->opt_reason);
        snd_buf_add(&q, ",");
        snd_opt_str(s, &q, e->opt_source ? e->opt_source : "webhook");
        snd_buf_add(&q, ",UTC_TIMESTAMP(3))");
    }
    snd_buf_free(&q);
    return 0;
}

/* inbound rows: status 'received' (rank 0, never replaced), their own
   batch; a provider retry hits uq_messages_provider_id and is ignored */
static int
snd_ev_inbound(snd_t *s, snd_ev_t *ev, size_t n)
{
    snd_buf_t   q = { 0 };
    size_t      i;
    int         k = 0, rc = 0;

    snd_buf_add(&q, "INSERT IGNORE INTO messages (id,batch_id,channel,"
        "direction,provider,to_address,from_address,peer,subject,body,"
        "payload,status,status_rank,provider_message_id,send_state,attempts,"
        "created_at,updated_at) VALUES ");
    for (i = 0; i < n; i++) {
        snd_ev_t *e = &ev[i];
        if (!e->inbound) {
            continue;
        }
        snd_buf_add(&q, k++ ? ",('%s','%s'," : "('%s','%s',", e->in_id,
            e->in_id);
        snd_opt_str(s, &q, e->in_channel);
        snd_buf_add(&q, ",'inbound',");
        snd_opt_str(s, &q, e->provider);
        snd_buf_add(&q, ",");
        snd_opt_str(s, &q, e->in_to ? e->in_to : "");
        snd_buf_add(&q, ",");
        snd_opt_str(s, &q, e->in_from ? e->in_from : "");
        snd_buf_add(&q, ",");
        snd_opt_str(s, &q, e->in_peer);
        snd_buf_add(&q, ",");
        snd_opt_str(s, &q, e->in_subject);
        snd_buf_add(&q, ",");
        snd_opt_str(s, &q, e->in_text);
        snd_buf_add(&q, ",");
        snd_opt_str(s, &q, e->in_payload);
        snd_buf_add(&q, ",'received',0,");
        snd_opt_str(s, &q, e->sid);
        snd_buf_add(&q, ",'done',0,FROM_UNIXTIME(%lld.%03lld),"
            "UTC_TIMESTAMP(3))", e->at / 1000, e->at % 1000);
    }
    if (k > 0 && (q.oom || snd_db_exec(s, q.p, q.len) != 0)) {
        rc = -1;
    }
    snd_buf_free(&q);
    return rc;
}

/* the fold of message id, added if new (f and links have room for every
   event and handed result of the turn) */
static size_t
snd_fold_of(snd_fold_t *f, size_t *nf, snd_chain_t *c, const char *id)
{
    unsigned  h = snd_ev_hash(id, c->nh);
    long      x;

    for (x = c->heads[h]; x >= 0; x = c->links[x]) {
        if (strcmp(f[x].id, id) == 0) {
            return (size_t) x;
        }
    }
    x = (long) (*nf)++;
    f[x].id = id;
    c->links[x] = c->heads[h];
    c->heads[h] = x;
    return (size_t) x;
}

/*
 * A handed result waits for its status callbacks up to this long, so that
 * it and they make one row write: under load the callbacks trail the
 * result by up to a few hundred ms, and a turn that wrote the result alone
 * wrote the row twice (make bench: half of the handed results did).
 */
#define SND_HANDOFF_HOLD_MS  1000

/*
 * Writes the turn: audit rows, opt-outs, inbound rows, and one upsert of
 * the folded events and handed results (*ho). With hold, a handed result
 * that no event of this turn concerns and that is younger than
 * SND_HANDOFF_HOLD_MS is moved from *ho to *keep, unwritten.
 */
static int
snd_ev_write(snd_t *s, snd_ev_t *ev, size_t n, snd_handoff_t **ho,
    snd_handoff_t **keep, int hold)
{
    snd_buf_t       q = { 0 };
    snd_fold_t     *f;
    snd_handoff_t  *a, **pa;
    size_t          i, j, nf = 0, nmax = n;
    snd_chain_t     c;
    long long       now = snd_now_ms();
    int             rc = -1, naudit = 0;

    for (a = *ho; a != NULL; a = a->next) {
        nmax++;
    }

    /*
     * Audit rows, for what the message row cannot hold: errors, opt-outs,
     * inbound messages, events for unknown messages, every SendGrid and
     * Meta event (their per-event dedupe is this table's UNIQUE key). A
     * plain Twilio status callback for a known message (no error, a
     * well-formed price and segment count) gets none: the message row
     * already keeps all it says (status forward-only, sent_at, delivered_at,
     * read_at, price, segments), a duplicate of it changes nothing, and its
     * audit row was the most expensive write per message (make bench).
     */
    snd_buf_add(&q, "INSERT IGNORE INTO message_events (dedup_key,message_id,"
        "provider,kind,provider_message_id,status,error_code,error_message,"
        "price,price_unit,num_segments,payload,received_at) VALUES ");
    for (i = 0; i < n; i++) {
        snd_ev_t   *e = &ev[i];
        int         price_ok = snd_price_ok(e->price),
                    segs_ok = snd_segments_ok(e->segs),
                    plain;
        plain = e->have_form && !e->inbound && e->msg_id[0] != '\0'
                  && e->ours != NULL && e->ecode == NULL
                  && e->opt_addr == NULL
                  && (e->price == NULL || price_ok)
                  && (e->segs == NULL || segs_ok)
                  && (strcmp(e->kind, "sms_status") == 0
                      || strcmp(e->kind, "whatsapp_status") == 0);
        if (plain) {
            continue;
        }
        snd_buf_add(&q, naudit++ ? ",('%s'," : "('%s',", ev[i].dedup);
        snd_opt_str(s, &q, ev[i].inbound ? ev[i].in_id
                           : ev[i].msg_id[0] ? ev[i].msg_id : NULL);
        snd_buf_add(&q, ",");
        snd_opt_str(s, &q, ev[i].provider[0] ? ev[i].provider : "unknown");
        snd_buf_add(&q, ",");
        snd_opt_str(s, &q, ev[i].kind[0] ? ev[i].kind : "unknown");
        snd_buf_add(&q, ",");
        snd_opt_str(s, &q, ev[i].sid);
        snd_buf_add(&q, ",");
        snd_opt_str(s, &q, ev[i].st);
        snd_buf_add(&q, ",");
        snd_opt_str(s, &q, ev[i].ecode);
        snd_buf_add(&q, ",");
        if (e->ecode != NULL && e->emsg != NULL) {
            snd_buf_str(s, &q, e->emsg, snd_utf8_cut(e->emsg, 255));
        } else {
            snd_buf_add(&q, "NULL");
        }
        snd_buf_add(&q, ",");
        snd_buf_add(&q, price_ok ? "%s," : "NULL,", e->price);
        if (e->unit != NULL) {
            snd_buf_str(s, &q, e->unit, snd_utf8_cut(e->unit, 8));
        } else {
            snd_buf_add(&q, "NULL");
        }
        snd_buf_add(&q, segs_ok ? ",%s," : ",NULL,", e->segs);
        snd_buf_str(s, &q, ev[i].body, ev[i].body_len);
        snd_buf_add(&q, ",FROM_UNIXTIME(%lld.%03lld))", ev[i].at / 1000,
            ev[i].at % 1000);
    }
    if (naudit > 0 && (q.oom || snd_db_exec(s, q.p, q.len) != 0)) {
        goto done;
    }
    if (snd_ev_optouts(s, ev, n) != 0 || snd_ev_inbound(s, ev, n) != 0) {
        goto done;
    }

    /* fold per message: handed results first (a callback's sid, price and
       segments are the later word), then the events in stream order */
    f = calloc(nmax ? nmax : 1, sizeof(*f));
    if (f == NULL) {
        goto done;
    }
    if (snd_chain_init(&c, nmax) != 0) {
        free(f);
        goto done;
    }
    for (a = *ho; a != NULL; a = a->next) {
        int r = bc_status_rank(a->status);
        j = snd_fold_of(f, &nf, &c, a->id);
        f[j].accepted = 1;
        if (r > f[j].rank) {
            f[j].status = a->status;
            f[j].rank = r;
        }
        if (a->sid[0]) f[j].sid = a->sid;
        if (a->req_id[0]) f[j].req_id = a->req_id;
        if (a->segments[0]) f[j].segs = a->segments;
        if (a->price[0]) f[j].price = a->price;
        if (a->price_unit[0]) f[j].unit = a->price_unit;
    }
    for (i = 0; i < n; i++) {
        snd_ev_t *e = &ev[i];
        int r;
        if (e->msg_id[0] == '\0' || e->ours == NULL) {
            continue;
        }
        j = snd_fold_of(f, &nf, &c, e->msg_id);
        f[j].has_event = 1;
        r = bc_status_rank(e->ours);
        if (r > f[j].rank && f[j].rank < BC_RANK_TERMINAL) {
            f[j].status = e->ours;
            f[j].rank = r;
            if (e->ecode != NULL) {
                f[j].ecode = e->ecode;
                f[j].emsg = e->emsg;
            }
        }
        if (e->sid) f[j].sid = e->sid;
        if (e->pricing) f[j].pricing = e->pricing;
        if (snd_price_ok(e->price)) f[j].price = e->price;
        if (e->unit) f[j].unit = e->unit;
        if (snd_segments_ok(e->segs)) f[j].segs = e->segs;
        if (strcmp(e->ours, "sent") == 0 && !f[j].sent_at) {
            f[j].sent_at = e->at;
        } else if (strcmp(e->ours, "delivered") == 0 && !f[j].delivered_at) {
            f[j].delivered_at = e->at;
        } else if (strcmp(e->ours, "read") == 0 && !f[j].read_at) {
            f[j].read_at = e->at;
        }
    }

    /* hold back the handed results whose callbacks have not come yet */
    for (pa = ho; hold && (a = *pa) != NULL; ) {
        if (now - a->pushed_ms < SND_HANDOFF_HOLD_MS) {
            j = snd_fold_of(f, &nf, &c, a->id);
            if (!f[j].has_event) {
                f[j].skip = 1;
                *pa = a->next;
                a->next = *keep;
                *keep = a;
                continue;
            }
        }
        pa = &a->next;
    }

    snd_chain_free(&c);
    if (nf > 0 && snd_ev_update(s, f, nf) != 0) {
        free(f);
        goto done;
    }
    free(f);
    rc = 0;

done:
    snd_buf_free(&q);
    return rc;
}

/* takes every handed result pushed so far; *gen: the last one's push */
static snd_handoff_t *
snd_handoff_take(snd_t *s, unsigned long long *gen)
{
    snd_handoff_t  *ho;

    pthread_mutex_lock(&s->ho_lock);
    ho = s->ho_head;
    s->ho_head = NULL;
    s->ho_tail = &s->ho_head;
    *gen = s->ho_pushed;
    pthread_mutex_unlock(&s->ho_lock);
    return ho;
}

/* puts handed results back at the head of the queue; caller holds ho_lock */
static void
snd_handoff_requeue(snd_t *s, snd_handoff_t *ho)
{
    snd_handoff_t  *last;

    if (ho == NULL) {
        return;
    }
    for (last = ho; last->next != NULL; last = last->next) {
        /* void */
    }
    last->next = s->ho_head;
    if (s->ho_head == NULL) {
        s->ho_tail = &last->next;
    }
    s->ho_head = ho;
}

/*
 * After the turn. Committed: the written results are freed, the held ones
 * go back, and every push up to gen but before the oldest held one counts
 * as written (the send loop may XACK those). Not committed: all go back.
 */
static void
snd_handoff_done(snd_t *s, snd_handoff_t *written, snd_handoff_t *held,
    unsigned long long gen, int committed)
{
    snd_handoff_t  *a;

    for (a = held; a != NULL; a = a->next) {
        if (a->gen <= gen) {
            gen = a->gen - 1;
        }
    }
    pthread_mutex_lock(&s->ho_lock);
    snd_handoff_requeue(s, held);
    if (committed) {
        if (gen > s->ho_committed) {
            s->ho_committed = gen;
        }
    } else {
        snd_handoff_requeue(s, written);
        written = NULL;
    }
    pthread_mutex_unlock(&s->ho_lock);
    while ((a = written) != NULL) {
        written = a->next;
        free(a);
    }
}

/* how long the turn's read may block: until the oldest handed result is
   due (SND_HANDOFF_HOLD_MS), at most ev_block_ms */
static int
snd_handoff_block_ms(snd_t *s)
{
    snd_handoff_t  *a;
    long long       oldest = 0, wait;
    int             block = s->ev_block_ms;

    pthread_mutex_lock(&s->ho_lock);
    for (a = s->ho_head; a != NULL; a = a->next) {
        if (oldest == 0 || a->pushed_ms < oldest) {
            oldest = a->pushed_ms;
        }
    }
    pthread_mutex_unlock(&s->ho_lock);
    if (oldest != 0) {
        wait = oldest + SND_HANDOFF_HOLD_MS - snd_now_ms();
        if (snd_stop || wait < 0) {
            wait = 0;
        }
        if (wait < block) {
            block = (int) wait;
        }
    }
    return block;
}

int
snd_recorder_turn(snd_t *s)
{
    redisReply    *r, *entries;
    snd_evs_t      v = { 0 };
    snd_ev_t      *ev = NULL;
    size_t         n = 0, i, last = 0, nho = 0;
    int            rc = -1, committed = 0;
    size_t         nack;
    const char   **xack;
    snd_handoff_t *ho = NULL, *held = NULL, *a;
    unsigned long long  gen = 0;

    if (snd_redis_ok(s) != 0 || snd_db_ok(s) != 0) {
        return -1;
    }
    /* nothing last turn: the read waits here for the next event, or until
       a handed result is due */
    r = snd_xreadgroup(s, BC_GROUP_RECORDERS, BC_KEY_EVENTS_STREAM,
                       SND_EV_BATCH, snd_handoff_block_ms(s),
                       s->ev_pending_done, s->ev_cursor);
    if (r == NULL) {
        return -1;
    }
    ho = snd_handoff_take(s, &gen);
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1
        || r->element[0]->type != REDIS_REPLY_ARRAY
        || r->element[0]->elements < 2
        || r->element[0]->element[1]->type != REDIS_REPLY_ARRAY
        || r->element[0]->element[1]->elements == 0)
    {
        if (!s->ev_pending_done) {
            s->ev_pending_done = 1;
        }
        if (ho == NULL) {
            freeReplyObject(r);
            snd_handoff_done(s, NULL, NULL, gen, 1);
            return 0;
        }
        /* handed results only: those due */
        if (snd_db_exec(s, "START TRANSACTION", 17) != 0) {
            goto done;
        }
        if (snd_ev_write(s, NULL, 0, &ho, &held, !snd_stop) != 0
            || snd_db_exec(s, "COMMIT", 6) != 0)
        {
            if (s->db != NULL) {
                mysql_real_query(s->db, "ROLLBACK", 8);
            }
            goto done;
        }
        committed = 1;
        for (a = ho; a != NULL; a = a->next) {
            nho++;
        }
        rc = (int) nho;
        goto done;
    }
    entries = r->element[0]->element[1];
    for (i = 0; i < entries->elements; i++) {
        redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2
            || e->element[0]->type != REDIS_REPLY_STRING
            || e->element[0]->len >= sizeof(ev->id))
        {
            continue;
        }
        if (snd_ev_parse(&v, e) != 0) {
            goto done;              /* out of memory: not acked */
        }
    }
    ev = v.ev;
    n = v.n;
    for (i = 0; i < n; i++) {
        if (ev[i].ack) {
            last = i;
        }
    }
    if (!s->ev_pending_done && n > 0) {
        snprintf(s->ev_cursor, sizeof(s->ev_cursor), "%s", ev[last].id);
    }

    if (snd_db_exec(s, "START TRANSACTION", 17) != 0) {
        goto done;
    }
    if (snd_ev_resolve(s, ev, n, ho) != 0
        || snd_ev_write(s, ev, n, &ho, &held, !snd_stop) != 0
        || snd_db_exec(s, "COMMIT", 6) != 0)
    {
        if (s->db != NULL) {
            mysql_real_query(s->db, "ROLLBACK", 8);
        }
        /* not acked: read again from our pending entries */
        s->ev_pending_done = 0;
        s->ev_cursor[0] = '\0';
        goto done;
    }
    committed = 1;
    for (a = ho; a != NULL; a = a->next) {
        nho++;
    }

    /* one XACK for the whole turn */
    xack = malloc((3 + n) * sizeof(char *));
    if (xack == NULL) {
        snd_log(SND_LOG_ERR, "out of memory acknowledging events");
        goto done;            /* recorded; read again and deduplicated */
    }
    xack[0] = "XACK";
    xack[1] = BC_KEY_EVENTS_STREAM;
    xack[2] = BC_GROUP_RECORDERS;
    nack = 0;
    for (i = 0; i < n; i++) {
        if (ev[i].ack) {
            xack[3 + nack++] = ev[i].id;
        }
    }
    if (nack > 0) {
        void *rp = NULL;
        redisAppendCommandArgv(s->redis, (int) (3 + nack), xack, NULL);
        if (redisGetReply(s->redis, &rp) != REDIS_OK) {
            free(xack);
            snd_redis_lost(s, s->redis->errstr);
            goto done;
        }
        freeReplyObject(rp);
    }
    free(xack);
    snd_log(SND_LOG_DEBUG, "recorded %zu events (%zu entries), %zu handed "
        "results", n, nack, nho);
    rc = (int) (nack + nho);

done:
    snd_handoff_done(s, ho, held, gen, committed);
    for (i = 0; i < v.n; i++) {
        snd_ev_free(&v.ev[i]);
    }
    free(v.ev);
    freeReplyObject(r);
    return rc;
}

/* ---- the handoff (send loop side) ---------------------------------------- */

/* a handed result waits at most this many in memory; beyond, the ledger
   writes results itself (the recorder is behind or its database gone) */
#define SND_HANDOFF_MAX  20000

int
snd_handoff_push(snd_t *s, snd_item_t *it)
{
    snd_t          *r = s->rec;
    snd_handoff_t  *a;

    if (r == NULL || !s->rec_running || snd_stop
        || s->nhanded >= SND_HANDOFF_MAX)
    {
        return -1;
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return -1;
    }
    snprintf(a->id, sizeof(a->id), "%s", it->job.id);
    snprintf(a->status, sizeof(a->status), "%s", it->status);
    snprintf(a->sid, sizeof(a->sid), "%s", it->sid);
    snprintf(a->req_id, sizeof(a->req_id), "%s", it->req_id);
    if (it->segments >= 0) {
        snprintf(a->segments, sizeof(a->segments), "%d", it->segments);
    }
    if (snd_price_ok(it->price)) {
        snprintf(a->price, sizeof(a->price), "%s", it->price);
    }
    snprintf(a->price_unit, sizeof(a->price_unit), "%s", it->price_unit);

    a->pushed_ms = snd_now_ms();
    pthread_mutex_lock(&r->ho_lock);
    *r->ho_tail = a;
    r->ho_tail = &a->next;
    a->gen = it->handoff_gen = ++r->ho_pushed;
    pthread_mutex_unlock(&r->ho_lock);

    snd_list_push(&s->handed, it);
    s->nhanded++;
    return 0;
}

void
snd_handoff_settle(snd_t *s)
{
    unsigned long long  committed;
    snd_item_t        **p, *it;
    snd_stage_t         ack;

    if (s->handed == NULL) {
        return;
    }
    pthread_mutex_lock(&s->rec->ho_lock);
    committed = s->rec->ho_committed;
    pthread_mutex_unlock(&s->rec->ho_lock);
    /* the send loop comes here every turn: walk the list only when the
       recorder has committed something new */
    if (committed == s->handed_settled) {
        return;
    }
    s->handed_settled = committed;

    SND_STAGE_INIT(&ack);
    p = &s->handed;
    while ((it = *p) != NULL) {
        if (it->handoff_gen <= committed) {
            *p = it->next;
            snd_stage_add(&ack, it);
            s->nhanded--;
        } else {
            p = &it->next;
        }
    }
    snd_list_splice(&s->to_ack, &ack);
}

/* ---- the recorder thread ------------------------------------------------ */

static void
snd_rec_sleep(int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* waits for the next batch to gather, until SND_EV_PERIOD_MS after start
   at most (see there) */
static void
snd_rec_gather(snd_t *r, long long start)
{
    long long  now, left, lag, prev = -1;

    for ( ;; ) {
        now = snd_now_ms();
        left = SND_EV_PERIOD_MS - (now - start);
        if (left <= 0 || snd_stop) {
            return;
        }
        snd_rec_sleep((int) (left < SND_EV_SLICE_MS ? left
                                                    : SND_EV_SLICE_MS));
        lag = snd_events_lag(r);
        if (lag < 0) {
            continue;               /* unknown: the whole period */
        }
        if (lag >= SND_EV_BATCH || lag == prev) {
            return;
        }
        prev = lag;
    }
}

/*
 * The recorder's own loop: one turn (read, one transaction, XACK) after
 * another; blocks in XREADGROUP (at most 200 ms, so snd_stop is seen) when
 * the last turn found nothing. On SIGTERM it finishes the turn it is in.
 */
static void *
snd_recorder_main(void *arg)
{
    snd_t      *r = arg;
    long long   now, start, every, stop_deadline = 0;
    int         n, pending;

    mysql_thread_init();
    for ( ;; ) {
        if (snd_stop) {
            /* the send loop writes its own results from now on; what it
               handed before is written first, if the database lets us */
            if (stop_deadline == 0) {
                stop_deadline = snd_now_ms() + r->conf.request_timeout_ms
                                + 3000;
            }
            pthread_mutex_lock(&r->ho_lock);
            pending = r->ho_head != NULL;
            pthread_mutex_unlock(&r->ho_lock);
            if (!pending || snd_now_ms() > stop_deadline) {
                break;
            }
            r->ev_block_ms = 0;
        }
        now = snd_now_ms();
        start = now;
        if (now >= r->next_ev_reclaim_ms && snd_redis_ok(r) == 0) {
            snd_queue_reclaim_events(r);
            every = r->conf.reclaim_idle_ms / 4;
            every = every < 1000 ? 1000 : every > 5000 ? 5000 : every;
            r->next_ev_reclaim_ms = now + every;
        }
        n = snd_recorder_turn(r);
        if (n < 0) {
            /* connection down (retried every second) or a failed batch
               (read again from our pending entries): do not spin */
            r->ev_block_ms = 0;
            snd_rec_sleep(r->redis == NULL || r->db == NULL ? 200 : 50);
            continue;
        }
        r->ev_block_ms = n == 0 ? 200 : 0;
        if (n > 0 && n < SND_EV_BATCH) {
            /* caught up: let the next batch gather */
            snd_rec_gather(r, start);
        }
    }
    if (r->redis != NULL) {
        redisFree(r->redis);
        r->redis = NULL;
    }
    snd_bulk_close_all(r);
    if (r->db != NULL) {
        mysql_close(r->db);
        r->db = NULL;
    }
    snd_buf_release();
    mysql_thread_end();
    return NULL;
}

int
snd_recorder_start(snd_t *s)
{
    snd_t     *r;
    sigset_t   block, old;
    int        err;

    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return -1;
    }
    /* the configuration by value; the provider secrets (the only heap
       members) stay with the send loop: the recorder never calls out */
    r->conf = s->conf;
    r->conf.twilio_auth_token = NULL;
    r->conf.meta_access_token = NULL;
    r->conf.sendgrid_api_key = NULL;
    r->batch_min = 1;
    pthread_mutex_init(&r->ho_lock, NULL);
    r->ho_tail = &r->ho_head;

    /* signals go to the send loop, which sets snd_stop */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    err = pthread_create(&s->rec_thread, NULL, snd_recorder_main, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        snd_log(SND_LOG_ERR, "recorder thread: %s", strerror(err));
        pthread_mutex_destroy(&r->ho_lock);
        free(r);
        return -1;
    }
    s->rec = r;
    s->rec_running = 1;
    return 0;
}

void
snd_recorder_join(snd_t *s)
{
    snd_handoff_t  *a;

    if (!s->rec_running) {
        return;
    }
    pthread_join(s->rec_thread, NULL);
    s->rec_running = 0;
    /* not written (the database stayed away): the jobs stay pending and
       their rows 'calling', which the next start reconciles */
    while ((a = s->rec->ho_head) != NULL) {
        s->rec->ho_head = a->next;
        free(a);
    }
    pthread_mutex_destroy(&s->rec->ho_lock);
    free(s->rec);
    s->rec = NULL;
}

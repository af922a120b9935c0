/*
 * The recorder's events (recorder.c reads them, event.c turns one stream
 * entry into sub-events with the parser of its provider and kind,
 * event_<provider>.c parse, recorder_write.c writes a batch of them).
 * Private to those files.
 */
#ifndef SENDER_RECORDER_H
#define SENDER_RECORDER_H

#include "bc_form.h"
#include "sender.h"

#define SND_EV_OWN  12

typedef struct {
    char         id[48];           /* stream entry id */
    unsigned     lane;             /* of the stream it came from */
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
    const snd_provider_t *lookup;  /* provider to look sid up under */
    const char  *ours;             /* our status, NULL if none */
    char         dedup[65];
    char         msg_id[32];       /* resolved message id, "" if unknown */
    int          applied;          /* folded into an update row */
    int          plain_status;     /* a status callback whose row keeps
                                      all it says (recorder_write.c) */

    /* opt-out list change: addr (peer form) in / out */
    const char  *opt_addr, *opt_source, *opt_reason;
    int          opt_in;           /* 1: START, delete the opt-out */
    const char  *opt_channel;      /* NULL: every channel ('') */
    int          kw;               /* SND_KW_*: the inbound text's class */

    /* an inbound message row */
    int          inbound;
    char         in_id[27];
    const char  *in_channel, *in_to, *in_from, *in_peer, *in_subject,
                *in_text, *in_payload;
} snd_ev_t;

/* a growing array of sub-events */
typedef struct {
    snd_ev_t  *ev;
    size_t     n, cap;
} snd_evs_t;

/*
 * How the entries of one provider and kind are read (event.c holds the
 * table). many: a body of many events (JSON batches), returns how many
 * sub-events it added (0: the entry is kept as one audit-only event).
 * one: the entry's one sub-event; with form, only if the body is a form
 * (else audit-only).
 */
typedef struct {
    const char  *provider;
    const char  *kind;          /* NULL: every kind of the provider */
    int        (*many)(snd_evs_t *v, snd_ev_t *proto);
    void       (*one)(snd_ev_t *e, const char *ct);
    int          form;
} snd_ev_parser_t;

/* ---- event.c ------------------------------------------------------------ */

static inline const char *
snd_ev_get(snd_ev_t *e, const char *name)
{
    const char *v = bc_form_get(&e->form, name);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

const char *snd_ev_keep(snd_ev_t *e, char *p);
const char *snd_ev_clip(snd_ev_t *e, const char *v, size_t max);
const char *snd_ev_printf(snd_ev_t *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *snd_ev_dump(snd_ev_t *e, json_t *j);
void snd_ev_set_body(snd_ev_t *e, json_t *j);
void snd_ev_hold_root(snd_ev_t *e, json_t *root, int *n);
void snd_ev_dedup(snd_ev_t *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* the whole body: audit-only events */
void snd_ev_dedup_body(snd_ev_t *e);
void snd_ev_free(snd_ev_t *e);
snd_ev_t *snd_evs_add(snd_evs_t *v, const snd_ev_t *proto);
void snd_lower(char *p);
int snd_ev_new_id(snd_ev_t *e);
/* one stream entry -> one or more sub-events; -1 out of memory */
int snd_ev_parse(snd_evs_t *v, redisReply *entry);

/* ---- event_twilio.c, event_sendgrid.c, event_meta.c: the parsers -------- */

void snd_ev_twilio_status(snd_ev_t *e, const char *ct);
void snd_ev_twilio_sms_inbound(snd_ev_t *e, const char *ct);
void snd_ev_twilio_whatsapp_inbound(snd_ev_t *e, const char *ct);
int snd_ev_sendgrid_events(snd_evs_t *v, snd_ev_t *proto);
void snd_ev_sendgrid_inbound(snd_ev_t *e, const char *ct);
int snd_ev_meta(snd_evs_t *v, snd_ev_t *proto);

/* ---- recorder_write.c --------------------------------------------------- */

/*
 * A handed result waits for its status callbacks up to this long, so that
 * it and they make one row write: under load the callbacks trail the
 * result by up to a few hundred ms, and a turn that wrote the result alone
 * wrote the row twice (make bench: half of the handed results did).
 */
#define SND_HANDOFF_HOLD_MS  1000

/* resolves msg_id for every event: by mid, else by provider sid */
int snd_ev_resolve(snd_t *s, snd_ev_t *ev, size_t n, snd_handoff_t *ho);
/* writes the turn (see recorder_write.c) */
int snd_ev_write(snd_t *s, snd_ev_t *ev, size_t n, snd_handoff_t **ho,
    snd_handoff_t **keep, int hold);

/* ---- keywords.c --------------------------------------------------------- */

enum { SND_KW_NONE = 0, SND_KW_OPT_OUT, SND_KW_OPT_IN, SND_KW_HELP };

/* before the turn is written: classifies inbound SMS/WhatsApp texts, and
   sets the opt-out change of STOP/START words */
void snd_kw_classify(snd_t *s, snd_ev_t *ev, size_t n);
/* after it was written: HELP and keyword-rule auto-replies, queued on the
   send stream */
void snd_kw_reply(snd_t *s, snd_ev_t *ev, size_t n);

#endif /* SENDER_RECORDER_H */

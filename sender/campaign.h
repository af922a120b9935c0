/*
 * The campaign dispatcher (docs/DESIGN.md "Campaigns"): a thread of the
 * sender with its own snd_t (a copy of the configuration without the
 * provider secrets) and its own MySQL and Redis connections, like the
 * recorder. Each turn: scheduled campaigns that are due start; the leases
 * of running campaigns are taken or renewed (campaign.c); the audience is
 * fanned out into recipient rows (campaign_fanout.c); pending rows are
 * rendered and queued to the send stream (campaign_queue.c, rendering in
 * campaign_render.c); finished campaigns complete (campaign.c).
 */
#ifndef SENDER_CAMPAIGN_H
#define SENDER_CAMPAIGN_H

#include "sender.h"
#include "bc_id.h"
#include "bc_tz.h"

/* a variant's proto (campaign_variants.proto), parsed */
typedef struct {
    int          weight;
    char         channel[16];
    char         provider[16];
    char         from[256];
    char         mss[64];
    json_t      *body;             /* a JSON string, owned */
    json_t      *extra;            /* an object, or NULL; owned */
    int          free_form;        /* WhatsApp without a template: needs
                                      the customer's 24-hour window */
} snd_camp_variant_t;

/* a later step (campaign_steps): what it sends, when, on which condition */
enum { SND_STEP_ALWAYS = 0, SND_STEP_NOT_DELIVERED, SND_STEP_NOT_READ,
       SND_STEP_NOT_REPLIED };

typedef struct {
    snd_camp_variant_t   v;
    long long            delay_s;       /* after the previous step's send */
    int                  condition;
} snd_camp_step_t;

/* a campaign this dispatcher holds the lease of */
typedef struct {
    long long            id;
    long long            revision;      /* campaigns.revision as set up */
    int                  seen;          /* still held this turn */
    unsigned long long   redis_links;   /* snd_t's when last recovered */
    long long            recover_ms;    /* next check for lost jobs */
    char                 channel[16];
    char                 batch_id[27];
    long long            template_id;   /* 0: none */
    int                  never_repeat;
    json_t              *audience;      /* owned */
    long long            limit;         /* -1: no audience_limit */
    json_t              *tvars;         /* template_variables, owned */
    int                  rate;          /* per second, 0 unlimited */
    long long            cursor;        /* fanout_cursor as last read */
    int                  fanout_done;
    long long            eligible;
    snd_camp_variant_t  *variants;      /* owned */
    int                  nvariants;
    long long            total_weight;
    double               tokens;        /* rate pacing */
    long long            tokens_ms;
    long long            next_complete_ms;
    snd_camp_step_t     *steps;         /* 1..nsteps at [0..), owned */
    int                  nsteps;
    long long            next_steps_ms;
    int                  quiet_start;   /* minutes; -1: no quiet hours */
    int                  quiet_end;
    char                 quiet_zone[65];  /* of contacts without one */
    int                  held;          /* hold_reason set by us */
    long long            hold_check_ms; /* held: not before this again */
} snd_camp_t;

/* a time zone the dispatcher has read (NULL tz: not a zone: UTC) */
typedef struct {
    char        name[65];
    bc_tz_t    *tz;
} snd_camp_zone_t;

typedef struct {
    snd_t       *s;                     /* own connections */
    snd_camp_t  *camps;
    int          ncamps;
    int          busy;                  /* work remained last turn */
    snd_camp_zone_t  *zones;            /* read once per process */
    int               nzones;
    char              tier_sha[48];     /* campaign_tier.c's script */
} snd_disp_t;

#define SND_CAMP_FANOUT_BATCH  1000

/* campaign.c */
int snd_camp_fail(snd_disp_t *d, snd_camp_t *c, const char *why);
/* the campaign row locked (SELECT ... FOR UPDATE, inside a transaction)
   and still ours and running: 1, 0 lost (rolled back), -1 error */
int snd_camp_lock(snd_disp_t *d, snd_camp_t *c, long long *cursor);

/* campaign_render.c: the campaign's variants; 0 loaded, 1 the campaign
   failed (its protos cannot be used; marked failed), -1 error */
int snd_camp_variants_load(snd_disp_t *d, snd_camp_t *c);
void snd_camp_variants_free(snd_camp_t *c);
/* the variant of a contact: deterministic by weight */
int snd_camp_pick(const snd_camp_t *c, long long contact_id);
/* the variables of a contact (columns id.. as read by the queries:
   name, phone, whatsapp, email, attributes, locale), weakest first, then
   the campaign's; a new object or NULL */
json_t *snd_camp_vars(const snd_camp_t *c, MYSQL_ROW row);
/* the address of a contact for the variant ("" none) into out */
void snd_camp_address(const snd_camp_variant_t *v, MYSQL_ROW row,
    char *out, size_t outlen);
/* renders the variant for vars into job (body, extra owned); 1 rendered,
   0 a variable is missing, -1 out of memory */
int snd_camp_render(const snd_camp_variant_t *v, json_t *vars,
    bc_job_t *job);

/* the contact columns every campaign query reads, in that order */
#define SND_CAMP_CONTACT_COLS                                                 \
    "c.name,c.phone,c.whatsapp,c.email,c.attributes,c.locale,c.timezone"
#define SND_CAMP_CONTACT_TIMEZONE  6

/* campaign_render.c: quiet hours: 1 with the UTC time (seconds) the
   contact's window ends in *until when its local time is inside it, else
   0; a contact without a zone is in the quiet_hours' "timezone", else in
   UTC, as is one whose zone the tz database lacks */
int snd_camp_quiet(snd_disp_t *d, const snd_camp_t *c, const char *zone,
    long long now_s, long long *until);
void snd_camp_zones_free(snd_disp_t *d);

/* campaign_fanout.c: one batch of the audience; 1 work remains, 0 done,
   -1 error */
int snd_camp_fanout(snd_disp_t *d, snd_camp_t *c);

/* a recipient row being written (the fan-out's, a later step's) */
typedef struct {
    long long                  contact_id;
    int                        variant;
    const snd_camp_variant_t  *v;       /* what it sends */
    char                       address[256];
    char                       peer[256];
    char                       message_id[BC_ULID_LEN + 1];
    const char                *skip;    /* NULL: eligible */
    int                        missing; /* a variable has no value */
} snd_fan_t;

/* f for the contact columns cols and v: address, message id, no_address,
   whether a variable is missing; 0 or -1 */
int snd_fan_prepare(snd_camp_t *c, const snd_camp_variant_t *v,
    MYSQL_ROW cols, snd_fan_t *f);
/* the skip reasons that need a query (opted out for channel, blacklisted,
   outside the 24-hour window), then missing_variables; 0 or -1 */
int snd_fan_checks(snd_disp_t *d, const char *channel, snd_fan_t *f, int n);
/* INSERT IGNORE of the rows of step; inside the caller's transaction */
int snd_fan_rows(snd_disp_t *d, snd_camp_t *c, int step, snd_fan_t *f,
    int n);

/* campaign_steps.c: the steps after the first (DESIGN.md "Campaigns",
   Steps). load: 0, 1 the campaign failed, -1 error; advance: the rows
   of the next steps that are due, 1 work remains, 0 none, -1 error;
   undecided: queued rows whose next step is not written yet, or -1 */
int snd_camp_steps_load(snd_disp_t *d, snd_camp_t *c);
void snd_camp_steps_free(snd_camp_t *c);
int snd_camp_steps_advance(snd_disp_t *d, snd_camp_t *c);
long long snd_camp_steps_undecided(snd_disp_t *d, snd_camp_t *c);
/* campaign_render.c: one proto's text into v; 0, or -1 with why */
int snd_camp_proto(snd_camp_variant_t *v, const char *text, char *why,
    size_t whylen);

/* campaign_queue.c: pending rows to the stream; 1 work remains, 0 none,
   -1 error */
int snd_camp_queue(snd_disp_t *d, snd_camp_t *c);

/* campaign_tier.c: the admission of the recipients to[0..n), in order,
   against Meta's messaging limit of number pid: *admitted of them fit, and
   *wait_ms until a slot frees when not all did; 0 / -1 */
int snd_tier_admit(snd_disp_t *d, const char *pid, long long limit,
    const char **to, int n, int *admitted, long long *wait_ms);

/* campaign_cancel.c: the pending recipients of cancelled campaigns, in
   batches; 1 if more is left, 0 none, -1 error */
int snd_camp_cancel_sweep(snd_disp_t *d);

#endif /* SENDER_CAMPAIGN_H */

/*
 * The ledger claim (docs/DESIGN.md "The ledger", rule 2): every message of a
 * batch gets a 'calling' (or blocked) row in one transaction before any
 * provider call, so a crash at any point leaves a row that is reconciled
 * rather than sent blindly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sender.h"

/* ---- claim -------------------------------------------------------------- */

/*
 * Why a recipient is dropped before any provider call (rule 5), by
 * it->blocked: the error_code and error_message its row gets. A higher
 * value wins when both apply (a blacklisted address is reported as such
 * even if it also opted out).
 */
enum { SND_BLOCK_NONE = 0, SND_BLOCK_OPTED_OUT, SND_BLOCK_BLACKLISTED,
       SND_BLOCK_N };

static const struct {
    const char  *code;
    const char  *message;
} snd_claim_blocks[SND_BLOCK_N] = {
    { NULL, NULL },
    { "opted_out", "recipient opted out" },
    { "blacklisted", "recipient is blacklisted" },
};

static int
snd_claim_open(const snd_item_t *it)
{
    return it->claim_state == SND_ROW_MISSING
           || it->claim_state == SND_ROW_PENDING;
}

/* appends the quoted peers of the rows that may still be sent; their
   number */
static int
snd_claim_peers(snd_t *s, snd_buf_t *q, snd_item_t *items)
{
    snd_item_t  *it;
    char         peer[256], hashed[SND_HASHED_LEN];
    const char  *salt = snd_privacy_salt(s);
    int          n = 0;

    for (it = items; it != NULL; it = it->next) {
        if (snd_claim_open(it)) {
            snd_peer_of(it->job.to, peer, sizeof(peer));
            snd_buf_add(q, n++ ? "," : "");
            snd_buf_cstr(s, q, peer);
            /* an erased person's suppression rows name them by hash */
            if (salt != NULL) {
                snd_hashed_address(salt, peer, hashed);
                snd_buf_add(q, ",");
                snd_buf_cstr(s, q, hashed);
            }
        }
    }
    return n;
}

/* 1 if a suppression row's address (row) is it's recipient, as given or
   as an erasure's hash of it */
static int
snd_claim_is_peer(snd_t *s, const snd_item_t *it, const char *row)
{
    char         peer[256], hashed[SND_HASHED_LEN];
    const char  *salt;

    /* the collation matched case-insensitively: so do we */
    if (strcasecmp(bc_wa_strip(it->job.to), row) == 0) {
        return 1;
    }
    salt = snd_privacy_salt(s);
    if (salt == NULL || strncmp(row, "sha256:", 7) != 0) {
        return 0;
    }
    snd_peer_of(it->job.to, peer, sizeof(peer));
    snd_hashed_address(salt, peer, hashed);
    return strcmp(hashed, row) == 0;
}

/* the block one suppression row (address, channel; channel NULL for the
   blacklist) puts on a message of that peer, by the message's channel */
static int
snd_claim_block_of(const snd_item_t *it, const char *channel)
{
    const char  *ch;

    if (channel == NULL) {
        return SND_BLOCK_BLACKLISTED;
    }
    ch = it->job.channel[0] ? it->job.channel : "sms";
    return channel[0] == '\0' || strcmp(channel, ch) == 0
           ? SND_BLOCK_OPTED_OUT : SND_BLOCK_NONE;
}

/*
 * Marks it->blocked for rows that may still be sent whose recipient is
 * blacklisted or opted out of every channel or of the message's channel.
 * One statement for the whole claim (both tables in one UNION), so the
 * suppression check costs no extra round trip per message. Addresses are
 * kept in peer form (+E164, lower-cased e-mail), so a WhatsApp recipient
 * matches without its whatsapp: prefix.
 */
static int
snd_claim_optouts(snd_t *s, snd_item_t *items)
{
    snd_buf_t    q = { 0 };
    snd_item_t  *it;
    MYSQL_RES   *res;
    MYSQL_ROW    row;
    int          block;

    snd_buf_add(&q, "SELECT address,channel FROM opt_outs WHERE address IN (");
    if (snd_claim_peers(s, &q, items) == 0) {
        snd_buf_free(&q);
        return 0;
    }
    snd_buf_add(&q, ") UNION ALL SELECT address,NULL FROM blacklist "
        "WHERE address IN (");
    snd_claim_peers(s, &q, items);
    snd_buf_add(&q, ")");
    res = snd_db_select(s, &q);
    if (res == NULL) {
        return -1;
    }
    while ((row = mysql_fetch_row(res)) != NULL) {
        if (row[0] == NULL) {
            continue;
        }
        for (it = items; it != NULL; it = it->next) {
            if (!snd_claim_open(it) || !snd_claim_is_peer(s, it, row[0])) {
                continue;
            }
            block = snd_claim_block_of(it, row[1]);
            if (block > it->blocked) {
                it->blocked = block;
            }
        }
    }
    mysql_free_result(res);
    return 0;
}


static int
snd_claim_select(snd_t *s, snd_item_t *items)
{
    snd_buf_t    q = { 0 };
    snd_item_t  *it;
    MYSQL_RES   *res;
    MYSQL_ROW    row;
    int          first = 1;

    snd_buf_add(&q, "SELECT id,send_state,status_rank FROM messages "
        "WHERE id IN (");
    for (it = items; it != NULL; it = it->next) {
        snd_buf_add(&q, first ? "" : ",");
        snd_buf_cstr(s, &q, it->job.id);
        first = 0;
    }
    snd_buf_add(&q, ") FOR UPDATE");
    res = snd_db_select(s, &q);
    if (res == NULL) {
        return -1;
    }
    while ((row = mysql_fetch_row(res)) != NULL) {
        unsigned long *l = mysql_fetch_lengths(res);
        it = snd_find(items, row[0], l[0]);
        if (it == NULL) {
            continue;
        }
        it->claim_rank = atoi(row[2]);
        it->claim_state = strcmp(row[1], "pending") == 0 ? SND_ROW_PENDING
                        : strcmp(row[1], "calling") == 0 ? SND_ROW_CALLING
                        : strcmp(row[1], "unknown") == 0 ? SND_ROW_UNKNOWN
                        : SND_ROW_DONE;
    }
    mysql_free_result(res);

    return snd_claim_optouts(s, items);
}

/* messages.subject of an email (its extra.subject, cut to 255 characters
   as the column once was; sealed), else NULL */
static int
snd_claim_subject(snd_bulk_t *b, unsigned col, const bc_job_t *j)
{
    json_t      *extra;
    const char  *subject;
    int          rc = 0;

    if (strcmp(j->channel, "email") != 0 || j->extra == NULL) {
        return 0;
    }
    extra = json_loads(j->extra, 0, NULL);
    subject = json_string_value(json_object_get(extra, "subject"));
    if (subject != NULL) {
        rc = snd_bulk_sealed(b, col, subject, snd_utf8_cut(subject, 255));
    }
    json_decref(extra);
    return rc;
}

#define SND_CLAIM_COLS "(id,batch_id,channel,direction,provider,to_address," \
    "from_address,peer,messaging_service_sid,body,payload,subject,status," \
    "status_rank,send_state,attempts,error_code,error_message,api_key_id," \
    "created_at,updated_at) VALUES (?,?,?,'outbound',?,?,?,?,?,?,?,?,?,?,?," \
    "?,?,?,?,FROM_UNIXTIME(?/1000),UTC_TIMESTAMP(3))"
#define SND_CLAIM_TYPES "ssssssssssssisissii"

/* inserts the MISSING rows; with ignore, rows that exist are skipped and
   *inserted tells how many were new (the fast path compares it) */
static int
snd_claim_insert(snd_t *s, snd_item_t *items, int ignore, int *inserted)
{
    snd_bulk_t  *b;
    snd_item_t  *it;
    long long    affected;
    int          n;

    /* new rows: 'calling' (or blocked), attempts counted now */
    n = 0;
    *inserted = 0;
    b = ignore ? snd_bulk_begin(s, SND_BULK_CLAIM_NEW,
                     "INSERT IGNORE INTO messages " SND_CLAIM_COLS,
                     SND_CLAIM_TYPES)
               : snd_bulk_begin(s, SND_BULK_CLAIM,
                     "INSERT INTO messages " SND_CLAIM_COLS, SND_CLAIM_TYPES);
    if (b == NULL) {
        return -1;
    }
    for (it = items; it != NULL; it = it->next) {
        bc_job_t *j = &it->job;
        if (it->claim_state != SND_ROW_MISSING) {
            continue;
        }
        if (snd_bulk_row(b) != 0) {
            return -1;
        }
        n++;
        snd_bulk_cstr(b, 0, j->id);
        snd_bulk_cstr(b, 1, j->batch_id);
        snd_bulk_cstr(b, 2, j->channel[0] ? j->channel : "sms");
        snd_bulk_cstr(b, 3, j->provider[0] ? j->provider : "twilio");
        snd_bulk_cstr(b, 4, j->to);
        snd_bulk_cstr(b, 5, j->from);
        snd_bulk_cstr(b, 6, bc_wa_strip(j->to));
        if (j->messaging_service_sid[0] != '\0') {
            snd_bulk_cstr(b, 7, j->messaging_service_sid);
        }
        /* personal text is sealed at rest (bc_crypt.h) */
        if (snd_bulk_sealed(b, 8, j->body ? j->body : "",
                            j->body ? strlen(j->body) : 0) != 0
            || snd_bulk_sealed(b, 9, j->extra,
                               j->extra ? strlen(j->extra) : 0) != 0
            || snd_claim_subject(b, 10, j) != 0)
        {
            return -1;
        }
        if (it->blocked) {
            snd_bulk_cstr(b, 11, "blocked");
            snd_bulk_int(b, 12, 100);
            snd_bulk_cstr(b, 13, "done");
            snd_bulk_int(b, 14, j->attempt);
            snd_bulk_cstr(b, 15, snd_claim_blocks[it->blocked].code);
            snd_bulk_cstr(b, 16, snd_claim_blocks[it->blocked].message);
        } else {
            snd_bulk_cstr(b, 11, "queued");
            snd_bulk_int(b, 12, 10);
            snd_bulk_cstr(b, 13, "calling");
            snd_bulk_int(b, 14, j->attempt + 1);
        }
        if (j->api_key_id > 0) {
            snd_bulk_int(b, 17, j->api_key_id);
        }
        snd_bulk_int(b, 18, j->created_ms);
    }
    if (n > 0) {
        affected = snd_bulk_exec(s, b);
        if (affected < 0) {
            return -1;
        }
        /* a warning means IGNORE swallowed something other than a
           duplicate: not trusted as "all new" */
        *inserted = snd_bulk_warnings(b) == 0 ? (int) affected : -1;
    }
    return n;
}

static int
snd_claim_write(snd_t *s, snd_item_t *items)
{
    snd_buf_t    q = { 0 };
    snd_item_t  *it;
    int          n, inserted;

    if (snd_claim_insert(s, items, 0, &inserted) < 0) {
        return -1;
    }

    /* pending -> calling; pending + suppressed -> blocked, one statement
       per reason */
    for (int blocked = 0; blocked < SND_BLOCK_N; blocked++) {
        snd_buf_free(&q);
        n = 0;
        if (blocked) {
            snd_buf_add(&q, "UPDATE messages SET status='blocked',"
                "status_rank=100,send_state='done',error_code=");
            snd_buf_cstr(s, &q, snd_claim_blocks[blocked].code);
            snd_buf_add(&q, ",error_message=");
            snd_buf_cstr(s, &q, snd_claim_blocks[blocked].message);
            snd_buf_add(&q, ",updated_at=UTC_TIMESTAMP(3) WHERE "
                "status_rank<100 AND id IN (");
        } else {
            snd_buf_add(&q, "UPDATE messages SET send_state='calling',"
                "attempts=attempts+1,updated_at=UTC_TIMESTAMP(3) "
                "WHERE id IN (");
        }
        for (it = items; it != NULL; it = it->next) {
            if (it->claim_state == SND_ROW_PENDING && it->blocked == blocked)
            {
                snd_buf_add(&q, n++ ? "," : "");
                snd_buf_cstr(s, &q, it->job.id);
            }
        }
        snd_buf_add(&q, ")");
        if (n > 0 && (snd_db_run(s, &q) != 0)) {
            snd_buf_free(&q);
            return -1;
        }
    }

    /* calling/unknown rows a callback already advanced: the provider has
       them */
    q.len = 0;
    n = 0;
    snd_buf_add(&q, "UPDATE messages SET send_state='done',"
        "updated_at=UTC_TIMESTAMP(3) WHERE id IN (");
    for (it = items; it != NULL; it = it->next) {
        if ((it->claim_state == SND_ROW_CALLING
             || it->claim_state == SND_ROW_UNKNOWN) && it->claim_rank > 10)
        {
            snd_buf_add(&q, n++ ? "," : "");
            snd_buf_cstr(s, &q, it->job.id);
        }
    }
    snd_buf_add(&q, ")");
    return snd_db_run_free(s, &q, n);
}

/*
 * The common case, every message new: opt-outs, then one INSERT IGNORE of
 * all rows. If it inserted every row, nothing pre-existed and the claim is
 * complete in two statements. Otherwise some row existed (a retry's
 * 'pending' row, a crashed 'calling' one, a 'done' one): we cannot tell our
 * rows from those afterwards, so the transaction is rolled back and the
 * caller runs the full select-then-write claim. Returns 1 claimed and
 * committed, 0 rolled back (use the full path), -1 error (rollback pending).
 */
static int
snd_claim_fast(snd_t *s, snd_item_t *items)
{
    snd_item_t  *it;
    int          n, inserted;

    if (snd_claim_optouts(s, items) != 0) {
        return -1;
    }
    n = snd_claim_insert(s, items, 1, &inserted);
    if (n < 0) {
        return -1;
    }
    if (inserted == n) {
        return snd_db_exec(s, "COMMIT", 6) == 0 ? 1 : -1;
    }
    snd_db_rollback(s);
    if (s->db == NULL) {
        return -1;
    }
    for (it = items; it != NULL; it = it->next) {
        it->blocked = 0;
    }
    return 0;
}

/* ---- campaign jobs ------------------------------------------------------ */

/*
 * What a campaign job's recipient row and campaign say (docs/DESIGN.md
 * "Campaigns", the claim): a job whose message has no ledger row yet is
 * sent only while its row is 'queued' with the job's queue_seq and the
 * campaign 'running'. Paused: the row goes back to 'pending' (resume
 * queues it again under the same message id); cancelled: the row is
 * 'cancelled'; anything else is a stale or duplicated entry. The dropped
 * entries are acknowledged and nothing is recorded in messages.
 */
enum { SND_CAMP_SEND = 0, SND_CAMP_PAUSED, SND_CAMP_CANCELLED,
       SND_CAMP_STALE };

static int
snd_claim_camp_verdict(const snd_item_t *it, MYSQL_ROW row)
{
    if (row == NULL) {
        return SND_CAMP_STALE;              /* no such recipient */
    }
    if (row[4] != NULL && strcmp(row[4], "1") == 0) {
        return SND_CAMP_SEND;               /* the ledger decides */
    }
    if (strcmp(row[1], "queued") != 0
        || atoll(row[2]) != it->job.queue_seq)
    {
        return SND_CAMP_STALE;
    }
    /* the current entry of a campaign that is not running: paused (or
       any other state) puts the row back to 'pending', so no row stays
       'queued' without an entry that can send it */
    return strcmp(row[3], "running") == 0 ? SND_CAMP_SEND
         : strcmp(row[3], "cancelled") == 0 ? SND_CAMP_CANCELLED
         : SND_CAMP_PAUSED;
}

/* the rows of paused or cancelled campaigns' dropped jobs: their new
   state, only if still the one the verdict saw */
static int
snd_claim_camp_rows(snd_t *s, snd_item_t *dropped, int verdict)
{
    snd_buf_t    q = { 0 };
    snd_item_t  *it;
    int          n = 0;

    snd_buf_add(&q, "UPDATE campaign_recipients SET state='%s',"
        "updated_at=UTC_TIMESTAMP(3) WHERE state='queued' AND (",
        verdict == SND_CAMP_PAUSED ? "pending" : "cancelled");
    for (it = dropped; it != NULL; it = it->next) {
        if (it->claim_state == verdict) {
            snd_buf_add(&q, "%s(message_id=", n++ ? " OR " : "");
            snd_buf_cstr(s, &q, it->job.id);
            snd_buf_add(&q, " AND queue_seq=%lld)", it->job.queue_seq);
        }
    }
    snd_buf_add(&q, ")");
    if (snd_db_run_free(s, &q, n) != 0) {
        return -1;
    }
    if (n == 0 || verdict != SND_CAMP_CANCELLED) {
        return 0;
    }
    /* a cancelled recipient never had the template: its never-repeat row
       goes, as the cancel's sweep gives back those of pending rows */
    snd_buf_add(&q, "DELETE t FROM template_sends t JOIN campaign_recipients "
        "r ON r.message_id=t.message_id WHERE r.state='cancelled' AND "
        "t.message_id IN (");
    n = 0;
    for (it = dropped; it != NULL; it = it->next) {
        if (it->claim_state == verdict) {
            snd_buf_add(&q, n++ ? "," : "");
            snd_buf_cstr(s, &q, it->job.id);
        }
    }
    snd_buf_add(&q, ")");
    return snd_db_run_free(s, &q, n);
}

/* one SELECT for the claim's campaign jobs; the dropped ones leave
   s->claim for to_ack. Nothing (no query) when no job is a campaign's. */
static int
snd_claim_campaigns(snd_t *s)
{
    snd_buf_t     q = { 0 };
    snd_item_t  **p, *it, *dropped = NULL;
    snd_stage_t   ack;
    MYSQL_RES    *res;
    MYSQL_ROW     row;
    int           n = 0, verdict;

    for (it = s->claim; it != NULL; it = it->next) {
        if (it->job.campaign_id != 0) {
            snd_buf_add(&q, n++ ? "," : "SELECT r.message_id,r.state,"
                "r.queue_seq,c.status,m.id IS NOT NULL FROM "
                "campaign_recipients r JOIN campaigns c ON "
                "c.id=r.campaign_id LEFT JOIN messages m ON "
                "m.id=r.message_id WHERE r.message_id IN (");
            snd_buf_cstr(s, &q, it->job.id);
        }
    }
    if (n == 0) {
        return 0;
    }
    snd_buf_add(&q, ")");
    res = snd_db_select(s, &q);
    if (res == NULL) {
        return -1;
    }
    SND_STAGE_INIT(&ack);
    p = &s->claim;
    while ((it = *p) != NULL) {
        if (it->job.campaign_id == 0) {
            p = &it->next;
            continue;
        }
        mysql_data_seek(res, 0);
        while ((row = mysql_fetch_row(res)) != NULL
               && strcmp(row[0], it->job.id) != 0)
        {
            /* void */
        }
        verdict = snd_claim_camp_verdict(it, row);
        if (verdict == SND_CAMP_SEND) {
            p = &it->next;
            continue;
        }
        *p = it->next;
        it->claim_state = verdict;
        it->next = dropped;
        dropped = it;
    }
    mysql_free_result(res);
    if (snd_claim_camp_rows(s, dropped, SND_CAMP_PAUSED) != 0
        || snd_claim_camp_rows(s, dropped, SND_CAMP_CANCELLED) != 0)
    {
        /* back to the claim list: decided again next turn */
        while ((it = dropped) != NULL) {
            dropped = it->next;
            it->next = s->claim;
            s->claim = it;
        }
        return -1;
    }
    while ((it = dropped) != NULL) {
        dropped = it->next;
        snd_log(SND_LOG_INFO, "message %s: campaign %lld %s; not sent",
            it->job.id, it->job.campaign_id,
            it->claim_state == SND_CAMP_PAUSED ? "is not running"
            : it->claim_state == SND_CAMP_CANCELLED ? "is cancelled"
            : "entry is stale");
        /* a stale entry's bc:{q}:msg key may be a newer entry's: kept. "dup"
           also tells snd_item_free the item is not in the id set, so it
           leaves the set here (it was added when it was read) */
        if (it->claim_state == SND_CAMP_STALE) {
            snd_idset_del(s, it);
            it->dup = 1;
        }
        it->outcome = SND_OUT_ACK;
        snd_stage_add(&ack, it);
    }
    snd_list_splice(&s->to_ack, &ack);
    return 0;
}

/* claimed: acknowledged (blocked, or already past the call), reconciled or
   sent */
static int
snd_claim_route(snd_t *s, snd_item_t *it, long long now)
{
    switch (it->claim_state) {
    case SND_ROW_MISSING:
    case SND_ROW_PENDING:
        if (it->blocked) {
            snd_log(SND_LOG_INFO, "message %s: %s: %s; blocked",
                it->job.id, it->job.to, snd_claim_blocks[it->blocked].message);
            it->outcome = SND_OUT_ACK;
            return SND_ROUTE_ACK;
        }
        it->not_before_ms = now;
        return SND_ROUTE_WAIT;
    case SND_ROW_CALLING:
    case SND_ROW_UNKNOWN:
        if (it->claim_rank > 10) {
            it->outcome = SND_OUT_ACK;
            return SND_ROUTE_ACK;
        }
        snd_log(SND_LOG_NOTICE, "message %s: found '%s' in the ledger; "
            "reconciling", it->job.id,
            it->claim_state == SND_ROW_CALLING ? "calling" : "unknown");
        snd_item_set_reconcile(s, it, 1);
        it->not_before_ms = now;
        return SND_ROUTE_WAIT;
    default:
        it->outcome = SND_OUT_ACK;
        return SND_ROUTE_ACK;
    }
}

int
snd_ledger_claim(snd_t *s)
{
    snd_item_t  *items, *it;

    if (s->claim == NULL) {
        return 0;
    }
    if (snd_db_ok(s) != 0 || snd_claim_campaigns(s) != 0) {
        return -1;
    }
    if (s->claim == NULL) {
        return 0;
    }
    items = s->claim;
    for (it = items; it != NULL; it = it->next) {
        it->prov = snd_prov_of(&it->job);
        it->claim_state = SND_ROW_MISSING;
        it->claim_rank = 0;
        it->blocked = 0;
    }
    if (snd_db_exec(s, "START TRANSACTION", 17) != 0) {
        return -1;
    }
    switch (snd_claim_fast(s, items)) {
    case 1:
        goto claimed;
    case 0:
        break;
    default:
        snd_db_rollback(s);
        return -1;
    }
    if (snd_db_exec(s, "START TRANSACTION", 17) != 0) {
        return -1;
    }
    if (snd_claim_select(s, items) != 0 || snd_claim_write(s, items) != 0
        || snd_db_exec(s, "COMMIT", 6) != 0)
    {
        snd_db_rollback(s);
        return -1;            /* s->claim kept: claimed again next turn */
    }
claimed:
    s->claim = NULL;
    snd_route_items(s, items, snd_claim_route);
    return 0;
}


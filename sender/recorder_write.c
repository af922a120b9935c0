/*
 * The recorder's writes, one transaction per turn: the events' messages
 * resolved in one SELECT, audit rows, opt-outs, inbound rows, and one
 * upsert of the statuses folded per message with the handed results.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_status.h"
#include "bc_utf8.h"
#include "recorder.h"

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

int
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
    for (int pv = 0; pv < SND_PROV_N; pv++) {
        const snd_provider_t *prov = snd_providers[pv];
        int np = 0;
        for (i = 0; i < n; i++) {
            if (ev[i].mid[0] == '\0' && ev[i].sid != NULL
                && ev[i].lookup == prov)
            {
                if (np++ == 0) {
                    snd_buf_add(&q, " OR (provider='%s' AND "
                        "provider_message_id IN (", prov->name);
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
    res = snd_db_select(s, &q);
    if (res == NULL) {
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

/* the next value of a VALUES row: a comma, then v as snd_opt_str() */
static void
snd_opt_next(snd_t *s, snd_buf_t *b, const char *v)
{
    snd_buf_add(b, ",");
    snd_opt_str(s, b, v);
}

/* v[0..len) as a quoted literal, sealed with the process's key ring when
   one is loaded (bc_crypt.h); NULL stays NULL. Repaired before sealing:
   what is read back must be well-formed. */
static void
snd_sealed_str(snd_t *s, snd_buf_t *b, const char *v, size_t len)
{
    char    *fixed = NULL, *sealed;
    size_t   slen;

    if (v == NULL || !bc_crypt_enabled(bc_crypt_default())) {
        if (v == NULL) {
            snd_buf_add(b, "NULL");
        } else {
            snd_buf_str(s, b, v, len);
        }
        return;
    }
    if (bc_utf8_valid(v, len) != len && (fixed = strndup(v, len)) != NULL) {
        bc_utf8_repair(fixed, len);
        v = fixed;
    }
    sealed = bc_crypt_seal(bc_crypt_default(), v, len, &slen);
    free(fixed);
    if (sealed == NULL) {
        /* never the plaintext instead: the value is lost, the row kept */
        snd_log(SND_LOG_ERR, "recorder: cannot seal a value (out of memory)");
        snd_buf_add(b, "NULL");
        return;
    }
    snd_buf_str(s, b, sealed, slen);
    free(sealed);
}

static void
snd_sealed_next(snd_t *s, snd_buf_t *b, const char *v)
{
    snd_buf_add(b, ",");
    snd_sealed_str(s, b, v, v ? strlen(v) : 0);
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

#define SND_EV_ADV BC_STATUS_ADVANCES_SQL("status_rank", "VALUES(status_rank)")
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
        /* times follow the status: none on a message that failed (the
           row's or this event's failure; status_rank is assigned last) */
        "delivered_at=IF(status_rank>=100 OR (VALUES(status_rank)>=100 AND "
        SND_EV_ADV "),delivered_at,COALESCE(delivered_at,"
        "VALUES(delivered_at))),"
        "read_at=IF(status_rank>=100 OR (VALUES(status_rank)>=100 AND "
        SND_EV_ADV "),read_at,COALESCE(read_at,VALUES(read_at))),"
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
            if (snd_db_run(s, &q) != 0) {
                snd_buf_free(&q);
                return -1;
            }
            nopt = 0;
        }
        if (e == NULL) {
            break;
        }
        if (e->opt_in) {
            /* a channel's START also lifts the all-channel opt-out (a
               Twilio STOP writes one): else it would still block */
            char         hashed[SND_HASHED_LEN];
            const char  *salt = snd_privacy_salt(s);

            /* and an erased person's opt-out, kept by hash (privacy) */
            q.len = 0;
            snd_buf_add(&q, "DELETE FROM opt_outs WHERE address IN (");
            snd_buf_str(s, &q, e->opt_addr, strlen(e->opt_addr));
            if (salt != NULL) {
                snd_hashed_address(salt, e->opt_addr, hashed);
                snd_buf_add(&q, ",");
                snd_buf_cstr(s, &q, hashed);
            }
            snd_buf_add(&q, ")");
            if (e->opt_channel != NULL) {
                snd_buf_add(&q, " AND channel IN ('',");
                snd_buf_cstr(s, &q, e->opt_channel);
                snd_buf_add(&q, ")");
            }
            if (snd_db_run(s, &q) != 0) {
                snd_buf_free(&q);
                return -1;
            }
            continue;
        }
        if (nopt == 0) {
            q.len = 0;
            snd_buf_add(&q, "INSERT IGNORE INTO opt_outs (address,channel,"
                "reason,source,created_at) VALUES ");
        }
        snd_buf_add(&q, nopt++ ? ",(" : "(");
        snd_buf_str(s, &q, e->opt_addr, strlen(e->opt_addr));
        snd_opt_next(s, &q, e->opt_channel ? e->opt_channel : "");
        snd_opt_next(s, &q, e->opt_reason);
        snd_opt_next(s, &q, e->opt_source ? e->opt_source : "webhook");
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
    int         k = 0;

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
        snd_opt_next(s, &q, e->in_to ? e->in_to : "");
        snd_opt_next(s, &q, e->in_from ? e->in_from : "");
        snd_opt_next(s, &q, e->in_peer);
        snd_sealed_next(s, &q, e->in_subject);
        snd_sealed_next(s, &q, e->in_text);
        snd_sealed_next(s, &q, e->in_payload);
        snd_buf_add(&q, ",'received',0,");
        snd_opt_str(s, &q, e->sid);
        snd_buf_add(&q, ",'done',0,FROM_UNIXTIME(%lld.%03lld),"
            "UTC_TIMESTAMP(3))", e->at / 1000, e->at % 1000);
    }
    return snd_db_run_free(s, &q, k);
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
 * Audit rows, for what the message row cannot hold: errors, opt-outs,
 * inbound messages, events for unknown messages, every SendGrid and Meta
 * event (their per-event dedupe is this table's UNIQUE key). A plain
 * status callback for a known message (no error, a well-formed price and
 * segment count) gets none: the message row already keeps all it says
 * (status forward-only, sent_at, delivered_at, read_at, price, segments),
 * a duplicate of it changes nothing, and its audit row was the most
 * expensive write per message (make bench).
 */
static int
snd_ev_audit(snd_t *s, snd_ev_t *ev, size_t n)
{
    snd_buf_t  q = { 0 };
    size_t     i;
    int        naudit = 0;

    snd_buf_add(&q, "INSERT IGNORE INTO message_events (dedup_key,message_id,"
        "provider,kind,provider_message_id,status,error_code,error_message,"
        "price,price_unit,num_segments,payload,received_at) VALUES ");
    for (i = 0; i < n; i++) {
        snd_ev_t   *e = &ev[i];
        int         price_ok = snd_price_ok(e->price),
                    segs_ok = snd_segments_ok(e->segs),
                    plain;
        plain = e->plain_status && !e->inbound && e->msg_id[0] != '\0'
                  && e->ours != NULL && e->ecode == NULL
                  && e->opt_addr == NULL
                  && (e->price == NULL || price_ok)
                  && (e->segs == NULL || segs_ok);
        if (plain) {
            continue;
        }
        snd_buf_add(&q, naudit++ ? ",('%s'," : "('%s',", ev[i].dedup);
        snd_opt_str(s, &q, ev[i].inbound ? ev[i].in_id
                           : ev[i].msg_id[0] ? ev[i].msg_id : NULL);
        snd_opt_next(s, &q, ev[i].provider[0] ? ev[i].provider : "unknown");
        snd_opt_next(s, &q, ev[i].kind[0] ? ev[i].kind : "unknown");
        snd_opt_next(s, &q, ev[i].sid);
        snd_opt_next(s, &q, ev[i].st);
        snd_opt_next(s, &q, ev[i].ecode);
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
        snd_sealed_str(s, &q, ev[i].body, ev[i].body_len);
        snd_buf_add(&q, ",FROM_UNIXTIME(%lld.%03lld))", ev[i].at / 1000,
            ev[i].at % 1000);
    }
    return snd_db_run_free(s, &q, naudit);
}

/* folds per message: handed results first (a callback's sid, price and
   segments are the later word), then the events in stream order */
static void
snd_ev_fold(snd_fold_t *f, size_t *nf, snd_chain_t *c, snd_ev_t *ev,
    size_t n, snd_handoff_t *ho)
{
    snd_handoff_t  *a;
    size_t          i, j;

    for (a = ho; a != NULL; a = a->next) {
        int r = bc_status_rank(a->status);
        j = snd_fold_of(f, nf, c, a->id);
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
        j = snd_fold_of(f, nf, c, e->msg_id);
        f[j].has_event = 1;
        r = bc_status_rank(e->ours);
        if (bc_status_rank_advances(f[j].rank, r)) {
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

}

/*
 * Writes the turn: audit rows, opt-outs, inbound rows, and one upsert of
 * the folded events and handed results (*ho). With hold, a handed result
 * that no event of this turn concerns and that is younger than
 * SND_HANDOFF_HOLD_MS is moved from *ho to *keep, unwritten.
 */
int
snd_ev_write(snd_t *s, snd_ev_t *ev, size_t n, snd_handoff_t **ho,
    snd_handoff_t **keep, int hold)
{
    snd_fold_t     *f;
    snd_handoff_t  *a, **pa;
    size_t          j, nf = 0, nmax = n;
    snd_chain_t     c;
    long long       now = snd_now_ms();

    for (a = *ho; a != NULL; a = a->next) {
        nmax++;
    }
    if (snd_ev_audit(s, ev, n) != 0 || snd_ev_optouts(s, ev, n) != 0
        || snd_ev_inbound(s, ev, n) != 0)
    {
        return -1;
    }

    f = calloc(nmax ? nmax : 1, sizeof(*f));
    if (f == NULL) {
        return -1;
    }
    if (snd_chain_init(&c, nmax) != 0) {
        free(f);
        return -1;
    }
    snd_ev_fold(f, &nf, &c, ev, n, *ho);

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
        return -1;
    }
    free(f);
    return 0;
}


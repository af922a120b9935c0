/*
 * The MySQL ledger (docs/DESIGN.md "The ledger"): claim a batch before any
 * provider call, commit a turn's results before any XACK.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_status.h"
#include "bc_form.h"
#include "bc_utf8.h"
#include "sender.h"


/* ---- SQL text building -------------------------------------------------- */

/*
 * One spare buffer per thread. Statements are built one after another and
 * reach hundreds of KB: the last one's memory serves the next, instead of
 * each growing from 4 KB by reallocs and going back to malloc, whose large
 * frees make glibc consolidate every small free chunk (a quarter of the
 * sender's CPU went to malloc under make bench).
 */
static __thread char    *snd_buf_spare;
static __thread size_t   snd_buf_spare_cap;

#define SND_BUF_SPARE_MAX  (8 * 1024 * 1024)

/* room for need more bytes and a NUL; 0, or -1 (b->oom) */
static int
snd_buf_room(snd_buf_t *b, size_t need)
{
    if (b->oom) {
        return -1;
    }
    if (b->p == NULL && snd_buf_spare != NULL) {
        b->p = snd_buf_spare;
        b->cap = snd_buf_spare_cap;
        snd_buf_spare = NULL;
    }
    if (bc_reserve(&b->p, b->len, &b->cap, need, 4096) != 0) {
        b->oom = 1;
        return -1;
    }
    return 0;
}

void
snd_buf_add(snd_buf_t *b, const char *fmt, ...)
{
    va_list  ap;
    int      n;
    size_t   l;

    if (strchr(fmt, '%') == NULL) {
        /* most pieces are literal SQL: no printf */
        l = strlen(fmt);
        if (snd_buf_room(b, l) == 0) {
            memcpy(b->p + b->len, fmt, l + 1);
            b->len += l;
        }
        return;
    }
    if (snd_buf_room(b, 64) != 0) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if (b->len + (size_t) n < b->cap) {
        b->len += (size_t) n;
        return;
    }
    if (snd_buf_room(b, (size_t) n) != 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t) n;
}

/* appends v as a quoted, escaped SQL literal */
void
snd_buf_str(snd_t *s, snd_buf_t *b, const char *v, size_t len)
{
    if (snd_buf_room(b, 2 * len + 2) != 0) {
        return;
    }
    size_t  start, n;

    b->p[b->len++] = '\'';
    start = b->len;
    n = mysql_real_escape_string(s->db, b->p + b->len, v,
        (unsigned long) len);
    /* broken characters (a provider's bytes) would fail the statement:
       '?' instead; escaping touched ASCII only, so this is safe after it */
    if (bc_utf8_valid(b->p + start, n) != n) {
        bc_utf8_repair(b->p + start, n);
    }
    b->len += n;
    b->p[b->len++] = '\'';
    b->p[b->len] = '\0';
}

void
snd_buf_cstr(snd_t *s, snd_buf_t *b, const char *v)
{
    snd_buf_str(s, b, v, strlen(v));
}

void
snd_buf_free(snd_buf_t *b)
{
    if (b->p != NULL && snd_buf_spare == NULL
        && b->cap <= SND_BUF_SPARE_MAX)
    {
        snd_buf_spare = b->p;
        snd_buf_spare_cap = b->cap;
    } else {
        free(b->p);
    }
    memset(b, 0, sizeof(*b));
}

/* at the end of a thread that built statements */
void
snd_buf_release(void)
{
    free(snd_buf_spare);
    snd_buf_spare = NULL;
    snd_buf_spare_cap = 0;
}

int
snd_db_exec(snd_t *s, const char *sql, size_t len)
{
    if (s->db == NULL) {
        return -1;
    }
    if (mysql_real_query(s->db, sql, (unsigned long) len) != 0) {
        unsigned e = mysql_errno(s->db);
        snd_log(SND_LOG_ERR, "mysql: %s (%.*s%s)", mysql_error(s->db),
            (int) (len > 160 ? 160 : len), sql, len > 160 ? "..." : "");
        if (bc_db_conn_error(e)) {
            snd_db_lost(s, mysql_error(s->db));
        }
        return -1;
    }
    return 0;
}

int
snd_db_run(snd_t *s, const snd_buf_t *b)
{
    return b->oom ? -1 : snd_db_exec(s, b->p, b->len);
}

int
snd_db_run_free(snd_t *s, snd_buf_t *b, int nrows)
{
    int  rc;

    rc = nrows > 0 && snd_db_run(s, b) != 0 ? -1 : 0;
    snd_buf_free(b);
    return rc;
}

MYSQL_RES *
snd_db_select(snd_t *s, snd_buf_t *b)
{
    int         rc;
    MYSQL_RES  *res;

    rc = snd_db_run(s, b);
    snd_buf_free(b);
    if (rc != 0) {
        return NULL;
    }
    res = mysql_store_result(s->db);
    if (res == NULL) {
        snd_db_lost(s, mysql_error(s->db));
    }
    return res;
}

void
snd_db_rollback(snd_t *s)
{
    if (s->db != NULL && mysql_real_query(s->db, "ROLLBACK", 8) != 0) {
        snd_db_lost(s, mysql_error(s->db));
    }
}

snd_item_t *
snd_find(snd_item_t *list, const char *id, size_t len)
{
    for ( ; list != NULL; list = list->next) {
        if (strlen(list->job.id) == len && memcmp(list->job.id, id, len) == 0)
        {
            return list;
        }
    }
    return NULL;
}

/* ---- results ------------------------------------------------------------ */

/* picks the first candidate sid not used by another message, in MySQL or
   in this batch */
static int
snd_resolve_candidates(snd_t *s, snd_item_t *items)
{
    snd_buf_t    q = { 0 };
    snd_item_t  *it;
    MYSQL_RES   *res = NULL;
    MYSQL_ROW    row;
    size_t       i;
    int          n = 0, p;

    /* per provider with a message list: its ids are unique only within it */
    snd_buf_add(&q, "SELECT id,provider_message_id FROM messages WHERE FALSE");
    for (p = 0; p < SND_PROV_N; p++) {
        int np = 0;
        for (it = items; it != NULL; it = it->next) {
            if (it->xfer != SND_XFER_LIST || it->outcome != SND_OUT_NONE
                || it->prov != p)
            {
                continue;
            }
            for (i = 0; i < it->ncands; i++) {
                if (np++ == 0) {
                    snd_buf_add(&q, " OR (provider='%s' AND "
                        "provider_message_id IN (", snd_providers[p]->name);
                } else {
                    snd_buf_add(&q, ",");
                }
                snd_buf_cstr(s, &q, it->cands[2 * i]);
            }
        }
        if (np > 0) {
            snd_buf_add(&q, "))");
        }
        n += np;
    }
    if (n > 0) {
        res = snd_db_select(s, &q);
        if (res == NULL) {
            return -1;
        }
    } else {
        snd_buf_free(&q);
    }

    for (it = items; it != NULL; it = it->next) {
        if (it->xfer != SND_XFER_LIST || it->outcome != SND_OUT_NONE) {
            continue;
        }
        for (i = 0; i < it->ncands; i++) {
            int used = 0;
            if (res != NULL) {
                mysql_data_seek(res, 0);
                while ((row = mysql_fetch_row(res)) != NULL) {
                    if (strcmp(row[1], it->cands[2 * i]) == 0
                        && strcmp(row[0], it->job.id) != 0)
                    {
                        used = 1;
                        break;
                    }
                }
            }
            /* nor by a row of this batch: a send's fresh result, or an
               earlier reconcile (identical messages to one recipient
               match each other's sids) */
            for (snd_item_t *o = items; !used && o != NULL; o = o->next) {
                used = o != it && o->outcome == SND_OUT_ACCEPTED
                       && strcmp(o->sid, it->cands[2 * i]) == 0;
            }
            if (!used) {
                snprintf(it->sid, sizeof(it->sid), "%s", it->cands[2 * i]);
                snprintf(it->status, sizeof(it->status), "%s",
                    it->cands[2 * i + 1]);
                it->outcome = SND_OUT_ACCEPTED;
                break;
            }
        }
    }
    if (res != NULL) {
        mysql_free_result(res);
    }
    return 0;
}

/*
 * What the price and num_segments columns take in strict mode; a
 * provider's value that does not fit is stored as NULL instead of failing
 * the statement, and with it every row of the batch.
 */
int
snd_price_ok(const char *p)
{
    int  ip = 0, fp = 0, dot = 0;

    if (p == NULL) {
        return 0;
    }
    if (*p == '-') {
        p++;
    }
    for ( ; *p; p++) {
        if (*p == '.' && !dot) {
            dot = 1;
        } else if (isdigit((unsigned char) *p)) {
            if (dot) {
                fp++;
            } else {
                ip++;
            }
        } else {
            return 0;
        }
    }
    /* DECIMAL(12,5): -?d{1,7}(.d{0,5})? */
    return ip >= 1 && ip <= 7 && fp <= 5;
}

int
snd_segments_ok(const char *p)
{
    size_t  n;

    if (p == NULL) {
        return 0;
    }
    for (n = 0; p[n] != '\0'; n++) {
        if (!isdigit((unsigned char) p[n])) {
            return 0;
        }
    }
    return n >= 1 && n <= 9;          /* an INT, and atoi() stays defined */
}

static void
snd_opt(snd_t *s, snd_buf_t *b, const char *v, int use)
{
    if (use && v[0] != '\0') {
        snd_buf_str(s, b, v, strlen(v));
    } else {
        snd_buf_add(b, "NULL");
    }
}

/* one VALUES row of the result upsert (the row exists: it was claimed) */
static void
snd_result_row(snd_t *s, snd_buf_t *b, snd_item_t *it, int first)
{
    bc_job_t    *j = &it->job;
    int          st = it->outcome == SND_OUT_ACCEPTED
                      || it->outcome == SND_OUT_FAILED;
    const char  *ns = it->outcome == SND_OUT_ACCEPTED ? it->status
                      : it->outcome == SND_OUT_FAILED ? "failed" : "queued";
    int          err = it->outcome == SND_OUT_FAILED
                       || it->outcome == SND_OUT_RETRY
                       || (it->outcome == SND_OUT_ACCEPTED
                           && it->error_code[0] != '\0');   /* sandbox */

    snd_buf_add(b, first ? "(" : ",(");
    snd_buf_cstr(s, b, j->id);
    snd_buf_add(b, ",");
    snd_buf_cstr(s, b, j->batch_id);
    snd_buf_add(b, ",");
    snd_buf_cstr(s, b, j->channel[0] ? j->channel : "sms");
    snd_buf_add(b, ",");
    snd_buf_cstr(s, b, j->provider[0] ? j->provider : "twilio");
    snd_buf_add(b, ",");
    snd_buf_cstr(s, b, j->to);
    snd_buf_add(b, ",");
    snd_buf_cstr(s, b, j->from);
    snd_buf_add(b, ",'%s',%d,'%s',", ns, st ? bc_status_rank(ns) : 0,
        it->outcome == SND_OUT_RETRY ? "pending"
        : it->outcome == SND_OUT_UNKNOWN ? "unknown" : "done");
    snd_opt(s, b, it->sid, 1);
    snd_buf_add(b, ",");
    snd_opt(s, b, it->req_id, 1);
    if (it->segments >= 0) {
        snd_buf_add(b, ",%d,", it->segments);
    } else {
        snd_buf_add(b, ",NULL,");
    }
    snd_opt(s, b, it->price, snd_price_ok(it->price));
    snd_buf_add(b, ",");
    snd_opt(s, b, it->price_unit, 1);
    snd_buf_add(b, ",");
    snd_opt(s, b, it->error_code, err);
    snd_buf_add(b, ",");
    snd_opt(s, b, it->error_message, err);
    snd_buf_add(b, ",FROM_UNIXTIME(%lld.%03lld),UTC_TIMESTAMP(3))",
        j->created_ms / 1000, j->created_ms % 1000);
}

/*
 * A plain accepted Twilio send (no error, no opt-out) is handed to the
 * recorder thread instead of written here: the recorder writes it in the
 * same row write as the status callbacks that follow it within its turn,
 * one row write per message instead of two. Its job is acked once the
 * recorder has committed it (snd_handoff_settle). Twilio only: its
 * callbacks name our message id (StatusCallback ?mid=), so they never need
 * the sid to be in the row yet; Meta's and SendGrid's webhooks are
 * matched by the provider's id. Not while reconciles are held: their sid
 * checks read the rows (docs/DESIGN.md "Handoff").
 */
static void
snd_ledger_hand_off(snd_t *s)
{
    snd_item_t  **p, *it, *next;

    if (s->rec == NULL || s->nreconcile > 0) {
        return;
    }
    for (it = s->finished; it != NULL; it = it->next) {
        if (it->xfer == SND_XFER_LIST) {
            return;
        }
    }
    p = &s->finished;
    while ((it = *p) != NULL) {
        next = it->next;
        if (it->outcome == SND_OUT_ACCEPTED && it->xfer == SND_XFER_SEND
            && snd_prov(it)->callbacks_name_our_id
            && !it->optout && !it->lost && it->error_code[0] == '\0')
        {
            *p = next;
            it->next = NULL;
            if (snd_handoff_push(s, it) == 0) {
                continue;
            }
            it->next = next;            /* not handed: written here */
            *p = it;
        }
        p = &it->next;
    }
}

#define SND_LEDGER_ADV                                                        \
    BC_STATUS_ADVANCES_SQL("status_rank", "VALUES(status_rank)")

/*
 * One multi-row upsert of the results: O(n), forward-only in SQL. ON
 * DUPLICATE KEY assignments run left to right, so status_rank comes last.
 */
static int
snd_ledger_results(snd_t *s, snd_item_t *items, snd_buf_t *b)
{
    snd_item_t  *it;
    int          nrows = 0;

    for (it = items; it != NULL; it = it->next) {
        if (it->outcome > SND_OUT_ACK
            && !(it->xfer == SND_XFER_LIST && it->outcome == SND_OUT_UNKNOWN))
        {
            nrows++;
        }
    }
    if (nrows == 0) {
        return 0;
    }
    b->len = 0;
    snd_buf_add(b, "INSERT INTO messages (id,batch_id,channel,provider,"
        "to_address,from_address,status,status_rank,send_state,"
        "provider_message_id,provider_request_id,num_segments,price,"
        "price_unit,error_code,error_message,created_at,updated_at) "
        "VALUES ");
    nrows = 0;
    for (it = items; it != NULL; it = it->next) {
        if (it->outcome > SND_OUT_ACK) {
            snd_result_row(s, b, it, nrows++ == 0);
        }
    }
    snd_buf_add(b, " ON DUPLICATE KEY UPDATE "
        "send_state=VALUES(send_state),"
        "status=IF(" SND_LEDGER_ADV ",VALUES(status),status),"
        "provider_message_id=COALESCE(provider_message_id,"
        "VALUES(provider_message_id)),"
        "provider_request_id=COALESCE(VALUES(provider_request_id),"
        "provider_request_id),"
        "num_segments=COALESCE(VALUES(num_segments),num_segments),"
        "price=COALESCE(VALUES(price),price),"
        "price_unit=COALESCE(VALUES(price_unit),price_unit),"
        /* an accepted call (rank 20..99) on a row no callback has
           advanced yet clears the error of an earlier failed attempt;
           evaluated before status_rank is assigned below */
        "error_code=IF(VALUES(status_rank) BETWEEN 20 AND 99 AND "
        "status_rank<=10,VALUES(error_code),"
        "COALESCE(VALUES(error_code),error_code)),"
        "error_message=IF(VALUES(status_rank) BETWEEN 20 AND 99 AND "
        "status_rank<=10,VALUES(error_message),"
        "COALESCE(VALUES(error_message),error_message)),"
        "updated_at=VALUES(updated_at),"
        "status_rank=IF(" SND_LEDGER_ADV ",VALUES(status_rank),"
        "status_rank)");
    return snd_db_run(s, b) != 0 ? -1 : 0;
}

/* 21610: the recipient replied STOP; it goes to opt_outs */
static int
snd_ledger_optouts(snd_t *s, snd_item_t *items, snd_buf_t *b)
{
    snd_item_t  *it;
    int          nopt = 0;

    b->len = 0;
    snd_buf_add(b, "INSERT IGNORE INTO opt_outs (address,reason,source,"
        "created_at) VALUES ");
    for (it = items; it != NULL; it = it->next) {
        if (it->optout) {
            char peer[256];
            snd_peer_of(it->job.to, peer, sizeof(peer));
            snd_buf_add(b, nopt++ ? ",(" : "(");
            snd_buf_cstr(s, b, peer);
            snd_buf_add(b, ",");
            snd_buf_cstr(s, b, it->error_message);
            snd_buf_add(b, ",'twilio_21610',UTC_TIMESTAMP(3))");
        }
    }
    return nopt > 0 && (snd_db_run(s, b) != 0)
           ? -1 : 0;
}

/* rows of unknown outcome that cannot be looked up (main.c): failed,
   unless a webhook has advanced them meanwhile (then the provider had
   them) */
static int
snd_ledger_lost(snd_t *s, snd_item_t *items, snd_buf_t *b)
{
    snd_item_t  *it;
    int          nlost = 0;

    b->len = 0;
    snd_buf_add(b, "UPDATE messages SET send_state='done',"
        "status=IF(status_rank<=10,'failed',status),"
        "error_code=IF(status_rank<=10,'unknown_after_crash',error_code),"
        "error_message=IF(status_rank<=10,'the provider call may or may not "
        "have happened; not sent again',error_message),"
        "updated_at=UTC_TIMESTAMP(3),"
        "status_rank=IF(status_rank<=10,100,status_rank) WHERE id IN (");
    for (it = items; it != NULL; it = it->next) {
        if (it->lost) {
            snd_buf_add(b, nlost++ ? "," : "");
            snd_buf_cstr(s, b, it->job.id);
        }
    }
    snd_buf_add(b, ")");
    return nlost > 0 && (snd_db_run(s, b) != 0)
           ? -1 : 0;
}

/* committed: each item goes on to be acknowledged, reconciled or sent */
static int
snd_ledger_route(snd_t *s, snd_item_t *it, long long now)
{
    if (it->xfer == SND_XFER_LIST) {
        if (it->outcome == SND_OUT_ACCEPTED) {
            snd_log(SND_LOG_NOTICE, "message %s: reconciled to %s",
                it->job.id, it->sid);
            s->m_found++;
            return SND_ROUTE_ACK;
        }
        if (it->outcome == SND_OUT_UNKNOWN) {
            /* the list call failed: look again later */
            snd_item_reset_result(it);
            it->reconcile = 1;
            it->not_before_ms = now + SND_RECONCILE_DELAY_MS;
            return SND_ROUTE_WAIT;
        }
        snd_log(SND_LOG_NOTICE, "message %s: not at the provider; "
            "sending", it->job.id);
        s->m_notfound++;
        snd_item_reset_result(it);
        snd_item_set_reconcile(s, it, 0);
        it->not_before_ms = now;
        return SND_ROUTE_WAIT;
    }
    if (it->outcome == SND_OUT_UNKNOWN) {
        snd_item_reset_result(it);
        snd_item_set_reconcile(s, it, 1);
        it->not_before_ms = now + SND_RECONCILE_DELAY_MS;
        return SND_ROUTE_WAIT;
    }
    if (it->lost) {
        snd_log(SND_LOG_NOTICE, "message %s: %s call of unknown "
            "outcome: failed unknown_after_crash unless a webhook "
            "arrived", it->job.id, snd_prov(it)->name);
    }
    if (it->outcome == SND_OUT_FAILED) {
        snd_log(SND_LOG_INFO, "message %s: failed %s: %s", it->job.id,
            it->error_code, it->error_message);
    }
    return SND_ROUTE_ACK;
}

int
snd_ledger_commit(snd_t *s)
{
    snd_item_t  *items;
    snd_buf_t    q = { 0 };

    if (s->finished == NULL) {
        return 0;
    }
    if (snd_db_ok(s) != 0) {
        return -1;
    }
    snd_ledger_hand_off(s);
    items = s->finished;
    if (items == NULL) {
        return 0;
    }

    if (snd_db_exec(s, "START TRANSACTION", 17) != 0) {
        return -1;
    }
    if (snd_resolve_candidates(s, items) != 0
        || snd_ledger_results(s, items, &q) != 0
        || snd_ledger_optouts(s, items, &q) != 0
        || snd_ledger_lost(s, items, &q) != 0)
    {
        snd_buf_free(&q);
        snd_db_rollback(s);
        return -1;
    }
    snd_buf_free(&q);
    if (snd_db_exec(s, "COMMIT", 6) != 0) {
        snd_db_rollback(s);
        return -1;
    }
    s->finished = NULL;
    snd_route_items(s, items, snd_ledger_route);
    return 0;
}

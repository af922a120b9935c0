/*
 * Webhook events (bc:stream:events, group 'recorders') -> MySQL: an audit
 * row per event (deduplicated), forward-only status updates, opt-outs; one
 * transaction per batch, then XACK.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_form.h"
#include "bc_sig.h"
#include "bc_status.h"
#include "sender.h"

#define SND_EV_BATCH  1000

typedef struct {
    char         id[48];           /* stream entry id */
    char         provider[16];
    char         kind[32];
    char         mid[32];
    long long    at;
    const char  *body;             /* borrowed from the reply */
    size_t       body_len;
    bc_form_t    form;             /* owned */
    int          have_form;
    const char  *sid, *st, *ecode, *emsg, *price, *unit, *segs, *to;
    const char  *ours;             /* our status, NULL if none */
    char         dedup[65];
    char         msg_id[32];       /* resolved message id, "" if unknown */
    int          applied;          /* folded into an update row */
} snd_ev_t;

static const char *
snd_ev_get(snd_ev_t *e, const char *name)
{
    const char *v = bc_form_get(&e->form, name);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

static void
snd_ev_parse(snd_ev_t *e, redisReply *entry)
{
    redisReply  *fv = entry->element[1];
    size_t       i;
    char         tmp[512];

    memcpy(e->id, entry->element[0]->str, entry->element[0]->len);
    e->at = 0;
    if (fv->type != REDIS_REPLY_ARRAY) {
        return;
    }
    for (i = 0; i + 1 < fv->elements; i += 2) {
        redisReply *f = fv->element[i], *v = fv->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }
#define SND_FIELD(n) (f->len == sizeof(n) - 1 && memcmp(f->str, n, f->len) == 0)
        if (SND_FIELD("provider")) {
            snprintf(e->provider, sizeof(e->provider), "%.*s", (int) v->len,
                v->str);
        } else if (SND_FIELD("kind")) {
            snprintf(e->kind, sizeof(e->kind), "%.*s", (int) v->len, v->str);
        } else if (SND_FIELD("mid")) {
            if (v->len < sizeof(e->mid)) {
                memcpy(e->mid, v->str, v->len);
            }
        } else if (SND_FIELD("body")) {
            e->body = v->str;
            e->body_len = v->len;
        } else if (SND_FIELD("at")) {
            e->at = atoll(v->str);
        }
#undef SND_FIELD
    }
    if (e->at <= 0) {
        e->at = snd_now_ms();
    }
    if (e->body == NULL) {
        e->body = "";
    }

    if (strcmp(e->provider, "twilio") == 0
        && bc_form_parse(e->body, e->body_len, &e->form) == 0)
    {
        e->have_form = 1;
    }
    if (e->have_form && strcmp(e->kind, "sms_status") == 0) {
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
        e->ours = e->st != NULL ? bc_status_from_twilio(e->st) : NULL;
        snprintf(tmp, sizeof(tmp), "twilio|%s|%s|%s", e->sid ? e->sid : "",
            e->st ? e->st : "", e->ecode ? e->ecode : "");
        bc_sha256_hex(tmp, strlen(tmp), e->dedup);
    } else {
        /* other kinds: audit only, deduplicated on the whole event */
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
}

static int
snd_price_like(const char *p)
{
    if (p == NULL || *p == '\0') {
        return 0;
    }
    for ( ; *p; p++) {
        if ((*p < '0' || *p > '9') && *p != '-' && *p != '.') {
            return 0;
        }
    }
    return 1;
}

static int
snd_int_like(const char *p)
{
    if (p == NULL || *p == '\0') {
        return 0;
    }
    for ( ; *p; p++) {
        if (*p < '0' || *p > '9') {
            return 0;
        }
    }
    return 1;
}

/* resolves msg_id for every event: by mid, else by provider sid */
static int
snd_ev_resolve(snd_t *s, snd_ev_t *ev, size_t n)
{
    snd_buf_t    q = { 0 };
    MYSQL_RES   *res;
    MYSQL_ROW    row;
    size_t       i;
    int          nm = 0, ns = 0;

    snd_buf_add(&q, "SELECT id,provider_message_id FROM messages WHERE "
        "id IN (''");
    for (i = 0; i < n; i++) {
        if (ev[i].mid[0] != '\0') {
            snd_buf_add(&q, ",");
            snd_buf_str(s, &q, ev[i].mid, strlen(ev[i].mid));
            nm++;
        }
    }
    snd_buf_add(&q, ") OR (provider='twilio' AND provider_message_id IN (''");
    for (i = 0; i < n; i++) {
        if (ev[i].mid[0] == '\0' && ev[i].sid != NULL) {
            snd_buf_add(&q, ",");
            snd_buf_str(s, &q, ev[i].sid, strlen(ev[i].sid));
            ns++;
        }
    }
    snd_buf_add(&q, "))");
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
    while ((row = mysql_fetch_row(res)) != NULL) {
        for (i = 0; i < n; i++) {
            if ((ev[i].mid[0] != '\0' && strcmp(ev[i].mid, row[0]) == 0)
                || (ev[i].mid[0] == '\0' && ev[i].sid != NULL
                    && row[1] != NULL && strcmp(ev[i].sid, row[1]) == 0))
            {
                snprintf(ev[i].msg_id, sizeof(ev[i].msg_id), "%s", row[0]);
            }
        }
    }
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

/* the folded effect of a batch's events on one message */
typedef struct {
    const char  *id;
    const char  *status;     /* best status, forward-only fold */
    int          rank;
    const char  *sid, *price, *unit, *segs, *ecode, *emsg;
    long long    sent_at, delivered_at, read_at;
} snd_fold_t;

/* appends a timestamp literal or NULL */
static void
snd_ev_time(snd_buf_t *b, long long t)
{
    if (t == 0) {
        snd_buf_add(b, "NULL");
    } else {
        snd_buf_add(b, "FROM_UNIXTIME(%lld.%03lld)", t / 1000, t % 1000);
    }
}

/*
 * Applies the folded effects with two joined UPDATEs over one derived table
 * (one row per message): O(n) where a CASE per column was O(n^2). The status
 * update filters in WHERE (rank forward-only, terminal never replaced), so
 * it does not depend on the order MariaDB assigns a multi-table UPDATE's
 * columns in (which is unspecified, unlike a single-table UPDATE).
 */
static int
snd_ev_update(snd_t *s, snd_fold_t *f, size_t nf)
{
    snd_buf_t    t = { 0 }, q = { 0 };
    size_t       j;
    int          nst = 0, rc = -1;

    snd_buf_add(&t, "(");
    for (j = 0; j < nf; j++) {
        snd_fold_t *x = &f[j];
        snd_buf_add(&t, j ? " UNION ALL SELECT " : "SELECT ");
        snd_buf_str(s, &t, x->id, strlen(x->id));
        snd_buf_add(&t, j ? "," : " AS id,");
        snd_opt_str(s, &t, x->status);
        snd_buf_add(&t, j ? ",%d," : " AS st,%d AS rk,", x->rank);
        snd_opt_str(s, &t, x->sid);
        snd_buf_add(&t, j ? "," : " AS sid,");
        snd_opt_str(s, &t, x->price);
        snd_buf_add(&t, j ? "," : " AS price,");
        snd_opt_str(s, &t, x->unit);
        snd_buf_add(&t, j ? "," : " AS unit,");
        if (x->segs != NULL) {
            snd_buf_add(&t, "%d", atoi(x->segs));
        } else {
            snd_buf_add(&t, "NULL");
        }
        snd_buf_add(&t, j ? "," : " AS segs,");
        snd_opt_str(s, &t, x->ecode);
        snd_buf_add(&t, j ? "," : " AS ecode,");
        snd_opt_str(s, &t, x->emsg);
        snd_buf_add(&t, j ? "," : " AS emsg,");
        snd_ev_time(&t, x->sent_at);
        snd_buf_add(&t, j ? "," : " AS sent,");
        snd_ev_time(&t, x->delivered_at);
        snd_buf_add(&t, j ? "," : " AS deliv,");
        snd_ev_time(&t, x->read_at);
        snd_buf_add(&t, j ? "" : " AS rd");
        nst += x->status != NULL;
    }
    snd_buf_add(&t, ") AS t");
    if (t.oom) {
        goto done;
    }

    snd_buf_add(&q, "UPDATE messages m JOIN %s ON m.id=t.id SET "
        "m.provider_message_id=COALESCE(m.provider_message_id,t.sid),"
        "m.price=COALESCE(t.price,m.price),"
        "m.price_unit=COALESCE(t.unit,m.price_unit),"
        "m.num_segments=COALESCE(t.segs,m.num_segments),"
        "m.sent_at=COALESCE(m.sent_at,t.sent),"
        "m.delivered_at=COALESCE(m.delivered_at,t.deliv),"
        "m.read_at=COALESCE(m.read_at,t.rd),"
        "m.updated_at=UTC_TIMESTAMP(3)", t.p);
    if (q.oom || snd_db_exec(s, q.p, q.len) != 0) {
        goto done;
    }
    if (nst > 0) {
        q.len = 0;
        snd_buf_add(&q, "UPDATE messages m JOIN %s ON m.id=t.id SET "
            "m.status=t.st,m.error_code=COALESCE(t.ecode,m.error_code),"
            "m.error_message=IF(t.ecode IS NULL,m.error_message,t.emsg),"
            "m.status_rank=t.rk "
            "WHERE t.st IS NOT NULL AND m.status_rank<t.rk "
            "AND m.status_rank<100", t.p);
        if (q.oom || snd_db_exec(s, q.p, q.len) != 0) {
            goto done;
        }
    }
    rc = 0;

done:
    snd_buf_free(&t);
    snd_buf_free(&q);
    return rc;
}

static int
snd_ev_write(snd_t *s, snd_ev_t *ev, size_t n)
{
    snd_buf_t    q = { 0 };
    snd_fold_t  *f;
    size_t       i, j, nf = 0;
    int          nopt = 0, rc = -1;

    /* audit rows */
    snd_buf_add(&q, "INSERT IGNORE INTO message_events (dedup_key,message_id,"
        "provider,kind,provider_message_id,status,error_code,payload,"
        "received_at) VALUES ");
    for (i = 0; i < n; i++) {
        snd_buf_add(&q, i ? ",('%s'," : "('%s',", ev[i].dedup);
        snd_opt_str(s, &q, ev[i].msg_id[0] ? ev[i].msg_id : NULL);
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
        snd_buf_str(s, &q, ev[i].body, ev[i].body_len);
        snd_buf_add(&q, ",FROM_UNIXTIME(%lld.%03lld))", ev[i].at / 1000,
            ev[i].at % 1000);
    }
    if (q.oom || snd_db_exec(s, q.p, q.len) != 0) {
        goto done;
    }

    /* 21610 in a callback: the recipient opted out */
    q.len = 0;
    snd_buf_add(&q, "INSERT IGNORE INTO opt_outs (address,reason,source,"
        "created_at) VALUES ");
    for (i = 0; i < n; i++) {
        if (ev[i].ecode != NULL && strcmp(ev[i].ecode, "21610") == 0
            && ev[i].to != NULL)
        {
            snd_buf_add(&q, nopt++ ? ",(" : "(");
            snd_buf_str(s, &q, ev[i].to, strlen(ev[i].to));
            snd_buf_add(&q, ",'Twilio 21610 in a status callback',"
                "'twilio_21610',UTC_TIMESTAMP(3))");
        }
    }
    if (nopt > 0 && (q.oom || snd_db_exec(s, q.p, q.len) != 0)) {
        goto done;
    }

    /* fold per message, in stream order */
    f = calloc(n ? n : 1, sizeof(*f));
    if (f == NULL) {
        goto done;
    }
    for (i = 0; i < n; i++) {
        snd_ev_t *e = &ev[i];
        int r;
        if (e->msg_id[0] == '\0' || e->ours == NULL) {
            continue;
        }
        for (j = 0; j < nf; j++) {
            if (strcmp(f[j].id, e->msg_id) == 0) {
                break;
            }
        }
        if (j == nf) {
            f[nf++].id = e->msg_id;
        }
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
        if (snd_price_like(e->price)) f[j].price = e->price;
        if (e->unit) f[j].unit = e->unit;
        if (snd_int_like(e->segs)) f[j].segs = e->segs;
        if (strcmp(e->ours, "sent") == 0 && !f[j].sent_at) {
            f[j].sent_at = e->at;
        } else if (strcmp(e->ours, "delivered") == 0 && !f[j].delivered_at) {
            f[j].delivered_at = e->at;
        } else if (strcmp(e->ours, "read") == 0 && !f[j].read_at) {
            f[j].read_at = e->at;
        }
    }

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

int
snd_recorder_turn(snd_t *s)
{
    const char  *argv[10];
    char         cnt[16];
    redisReply  *r, *entries;
    snd_ev_t    *ev = NULL;
    size_t       n = 0, i;
    int          rc = -1, argc = 0;

    if (snd_redis_ok(s) != 0 || snd_db_ok(s) != 0) {
        return -1;
    }
    snprintf(cnt, sizeof(cnt), "%d", SND_EV_BATCH);
    argv[argc++] = "XREADGROUP";
    argv[argc++] = "GROUP";
    argv[argc++] = BC_GROUP_RECORDERS;
    argv[argc++] = s->conf.consumer;
    argv[argc++] = "COUNT";
    argv[argc++] = cnt;
    argv[argc++] = "STREAMS";
    argv[argc++] = BC_KEY_EVENTS_STREAM;
    if (!s->ev_pending_done) {
        if (s->ev_cursor[0] == '\0') {
            strcpy(s->ev_cursor, "0");
        }
        argv[argc++] = s->ev_cursor;
    } else {
        argv[argc++] = ">";
    }
    r = redisCommandArgv(s->redis, argc, argv, NULL);
    if (r == NULL) {
        snd_redis_lost(s, s->redis->errstr);
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snd_log(SND_LOG_ERR, "XREADGROUP events: %s", r->str);
        freeReplyObject(r);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1
        || r->element[0]->type != REDIS_REPLY_ARRAY
        || r->element[0]->elements < 2
        || r->element[0]->element[1]->type != REDIS_REPLY_ARRAY
        || r->element[0]->element[1]->elements == 0)
    {
        if (!s->ev_pending_done) {
            s->ev_pending_done = 1;
        }
        freeReplyObject(r);
        return 0;
    }
    entries = r->element[0]->element[1];
    ev = calloc(entries->elements, sizeof(*ev));
    if (ev == NULL) {
        freeReplyObject(r);
        return -1;
    }
    for (i = 0; i < entries->elements; i++) {
        redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2
            || e->element[0]->type != REDIS_REPLY_STRING
            || e->element[0]->len >= sizeof(ev[n].id))
        {
            continue;
        }
        snd_ev_parse(&ev[n], e);
        n++;
    }
    if (!s->ev_pending_done && n > 0) {
        snprintf(s->ev_cursor, sizeof(s->ev_cursor), "%s", ev[n - 1].id);
    }

    if (snd_db_exec(s, "START TRANSACTION", 17) != 0) {
        goto done;
    }
    if (snd_ev_resolve(s, ev, n) != 0 || snd_ev_write(s, ev, n) != 0
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

    for (i = 0; i < n; i++) {
        const char *xack[4] = { "XACK", BC_KEY_EVENTS_STREAM,
                                BC_GROUP_RECORDERS, ev[i].id };
        redisAppendCommandArgv(s->redis, 4, xack, NULL);
    }
    for (i = 0; i < n; i++) {
        void *rp = NULL;
        if (redisGetReply(s->redis, &rp) != REDIS_OK) {
            snd_redis_lost(s, s->redis->errstr);
            goto done;
        }
        freeReplyObject(rp);
    }
    snd_log(SND_LOG_DEBUG, "recorded %zu events", n);
    rc = (int) n;

done:
    for (i = 0; i < n; i++) {
        if (ev[i].have_form) {
            bc_form_free(&ev[i].form);
        }
    }
    free(ev);
    freeReplyObject(r);
    return rc;
}

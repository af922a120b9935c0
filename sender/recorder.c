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

/* resolves msg_id for every event: by mid, else by provider sid */
static int
snd_ev_resolve(snd_t *s, snd_ev_t *ev, size_t n)
{
    snd_buf_t    q = { 0 };
    MYSQL_RES   *res;
    MYSQL_ROW    row;
    size_t       i, nh;
    long        *heads, *links;
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
    snd_buf_add(&q, ")");
    for (i = 0; i < n; i++) {
        if (ev[i].mid[0] == '\0' && ev[i].sid != NULL) {
            snd_buf_add(&q, ns++ ? "," : " OR (provider='twilio' AND "
                "provider_message_id IN (");
            snd_buf_str(s, &q, ev[i].sid, strlen(ev[i].sid));
        }
    }
    if (ns > 0) {
        snd_buf_add(&q, "))");
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
    nh = snd_ev_nheads(n);
    heads = malloc(nh * sizeof(*heads));
    links = malloc((n ? n : 1) * sizeof(*links));
    if (heads == NULL || links == NULL) {
        free(heads);
        free(links);
        mysql_free_result(res);
        return -1;
    }
    for (i = 0; i < nh; i++) {
        heads[i] = -1;
    }
    /* events chained under their key: mid, else sid */
    for (i = 0; i < n; i++) {
        const char *k = ev[i].mid[0] != '\0' ? ev[i].mid : ev[i].sid;
        links[i] = -1;
        if (k != NULL) {
            unsigned h = snd_ev_hash(k, nh);
            links[i] = heads[h];
            heads[h] = (long) i;
        }
    }
    while ((row = mysql_fetch_row(res)) != NULL) {
        for (int pass = 0; pass < 2; pass++) {
            const char *k = pass == 0 ? row[0] : row[1];
            long x;
            if (k == NULL) {
                continue;
            }
            for (x = heads[snd_ev_hash(k, nh)]; x >= 0; x = links[x]) {
                snd_ev_t *e = &ev[x];
                if ((pass == 0 && e->mid[0] != '\0'
                     && strcmp(e->mid, row[0]) == 0)
                    || (pass == 1 && e->mid[0] == '\0' && e->sid != NULL
                        && strcmp(e->sid, row[1]) == 0))
                {
                    snprintf(e->msg_id, sizeof(e->msg_id), "%s", row[0]);
                }
            }
        }
    }
    free(heads);
    free(links);
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
 * Applies the folded effects in one multi-row INSERT ... ON DUPLICATE KEY
 * UPDATE on the primary key: one statement, one row write per message, a
 * VALUES list that is cheap to parse (a derived table of UNION ALL SELECTs
 * costs the server a query block per row, twice). Every folded id was just
 * resolved from an existing row and messages are never deleted, so the
 * insert half never applies (its placeholder values are never stored; the
 * provider '' keeps the UNIQUE (provider, provider_message_id) key out of
 * it, so the only duplicate is the primary key). A single-table ON
 * DUPLICATE KEY UPDATE assigns left to right, so the forward-only test
 * reads the old status_rank everywhere as long as status_rank comes last.
 */
static int
snd_ev_update(snd_t *s, snd_fold_t *f, size_t nf)
{
    snd_buf_t    q = { 0 };
    size_t       j;
    int          rc = -1;

    snd_buf_add(&q, "INSERT INTO messages (id,batch_id,channel,provider,"
        "to_address,from_address,status,status_rank,provider_message_id,"
        "price,price_unit,num_segments,error_code,error_message,sent_at,"
        "delivered_at,read_at,created_at,updated_at) VALUES ");
    for (j = 0; j < nf; j++) {
        snd_fold_t *x = &f[j];
        snd_buf_add(&q, j ? ",(" : "(");
        snd_buf_str(s, &q, x->id, strlen(x->id));
        snd_buf_add(&q, ",'','','','','',");
        if (x->status != NULL) {
            snd_buf_str(s, &q, x->status, strlen(x->status));
            snd_buf_add(&q, ",%d,", x->rank);
        } else {
            snd_buf_add(&q, "'',0,");
        }
        snd_opt_str(s, &q, x->sid);
        snd_buf_add(&q, ",");
        snd_opt_str(s, &q, x->price);
        snd_buf_add(&q, ",");
        snd_opt_str(s, &q, x->unit);
        snd_buf_add(&q, ",");
        if (x->segs != NULL) {
            snd_buf_add(&q, "%d,", atoi(x->segs));
        } else {
            snd_buf_add(&q, "NULL,");
        }
        snd_opt_str(s, &q, x->ecode);
        snd_buf_add(&q, ",");
        snd_opt_str(s, &q, x->emsg);
        snd_buf_add(&q, ",");
        snd_ev_time(&q, x->sent_at);
        snd_buf_add(&q, ",");
        snd_ev_time(&q, x->delivered_at);
        snd_buf_add(&q, ",");
        snd_ev_time(&q, x->read_at);
        snd_buf_add(&q, ",UTC_TIMESTAMP(3),UTC_TIMESTAMP(3))");
    }
#define SND_EV_ADV "VALUES(status_rank)>0 AND status_rank<VALUES(status_rank)" \
                   " AND status_rank<100"
    snd_buf_add(&q, " ON DUPLICATE KEY UPDATE "
        "provider_message_id=COALESCE(provider_message_id,"
        "VALUES(provider_message_id)),"
        "price=COALESCE(VALUES(price),price),"
        "price_unit=COALESCE(VALUES(price_unit),price_unit),"
        "num_segments=COALESCE(VALUES(num_segments),num_segments),"
        "sent_at=COALESCE(sent_at,VALUES(sent_at)),"
        "delivered_at=COALESCE(delivered_at,VALUES(delivered_at)),"
        "read_at=COALESCE(read_at,VALUES(read_at)),"
        "updated_at=VALUES(updated_at),"
        "error_code=IF(" SND_EV_ADV ",COALESCE(VALUES(error_code),"
        "error_code),error_code),"
        "error_message=IF(" SND_EV_ADV " AND VALUES(error_code) IS NOT NULL,"
        "VALUES(error_message),error_message),"
        "status=IF(" SND_EV_ADV ",VALUES(status),status),"
        "status_rank=IF(" SND_EV_ADV ",VALUES(status_rank),status_rank)");
#undef SND_EV_ADV
    if (q.oom || snd_db_exec(s, q.p, q.len) != 0) {
        goto done;
    }
    rc = 0;

done:
    snd_buf_free(&q);
    return rc;
}

static int
snd_ev_write(snd_t *s, snd_ev_t *ev, size_t n)
{
    snd_buf_t    q = { 0 };
    snd_fold_t  *f;
    size_t       i, j, nf = 0, nh;
    long        *heads, *links;
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
    nh = snd_ev_nheads(n);
    heads = malloc(nh * sizeof(*heads));
    links = malloc((n ? n : 1) * sizeof(*links));
    if (heads == NULL || links == NULL) {
        free(heads);
        free(links);
        free(f);
        goto done;
    }
    for (i = 0; i < nh; i++) {
        heads[i] = -1;
    }
    for (i = 0; i < n; i++) {
        snd_ev_t *e = &ev[i];
        unsigned h;
        long x;
        int r;
        if (e->msg_id[0] == '\0' || e->ours == NULL) {
            continue;
        }
        h = snd_ev_hash(e->msg_id, nh);
        for (x = heads[h]; x >= 0; x = links[x]) {
            if (strcmp(f[x].id, e->msg_id) == 0) {
                break;
            }
        }
        if (x >= 0) {
            j = (size_t) x;
        } else {
            j = nf++;
            f[j].id = e->msg_id;
            links[j] = heads[h];
            heads[h] = (long) j;
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

    free(heads);
    free(links);
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

/*
 * Webhook events (bc:{ev}:stream:events, group 'recorders') -> MySQL: an audit
 * row per event (deduplicated), forward-only status updates, opt-outs; one
 * transaction per batch, then XACK. This file holds the recorder thread,
 * its turn and the handoff queue; event*.c parse, recorder_write.c writes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "recorder.h"

#define SND_EV_BATCH  5000

/* the recorder thread's turn period while events keep coming: a 'sent'
   and the 'delivered' that follows it tens of ms later mostly land in the
   same batch (one status upsert instead of two), and statements stay
   large. The wait ends early once a slice passes with no new event (a
   burst is over: its last statuses are written within ~100 ms, not up to
   500) or a full batch is waiting. */
#define SND_EV_PERIOD_MS  500
#define SND_EV_SLICE_MS   50

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

/* the lane's share of a read, and whether it may block: one lane */
typedef struct {
    redisReply  *r[BC_LANES_MAX];     /* the replies, freed by the turn */
    int          read[BC_LANES_MAX];  /* lanes read this turn */
    size_t       entries;
} snd_rec_read_t;

/* a lane's reply: its entries' sub-events into v, tagged with the lane;
   -1 out of memory */
static int
snd_rec_entries(snd_t *s, snd_evs_t *v, snd_rec_read_t *rd, unsigned lane,
    redisReply *r)
{
    redisReply  *entries;
    size_t       i, from = v->n;

    rd->r[lane] = r;
    rd->read[lane] = 1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1
        || r->element[0]->type != REDIS_REPLY_ARRAY
        || r->element[0]->elements < 2
        || r->element[0]->element[1]->type != REDIS_REPLY_ARRAY
        || r->element[0]->element[1]->elements == 0)
    {
        s->ev_pending_done[lane] = 1;
        return 0;
    }
    entries = r->element[0]->element[1];
    for (i = 0; i < entries->elements; i++) {
        redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2
            || e->element[0]->type != REDIS_REPLY_STRING
            || e->element[0]->len >= sizeof(v->ev[0].id))
        {
            continue;
        }
        if (snd_ev_parse(v, e) != 0) {
            return -1;              /* out of memory: not acked */
        }
    }
    rd->entries += entries->elements;
    for (i = from; i < v->n; i++) {
        v->ev[i].lane = lane;
    }
    return 0;
}

/*
 * The turn's read. Busy: every lane at once, a share of the batch each,
 * pipelined (one round trip; one transaction records them all). After a
 * turn that found nothing: one lane, in turn, whose read waits for the
 * next event or until a handed result is due; with several lanes a short
 * while, so that the others' events wait no longer than that. 0, or -1
 * (the link lost, out of memory).
 */
static int
snd_rec_read(snd_t *s, snd_evs_t *v, snd_rec_read_t *rd)
{
    unsigned     lanes = SND_LANES(s), lane, n;
    int          block, share, argc;
    char         stream[64];
    redisReply  *r;

    if (lanes == 1 || s->ev_empty) {
        lane = s->ev_lane % lanes;
        s->ev_lane = (lane + 1) % lanes;
        block = snd_handoff_block_ms(s);
        if (lanes > 1 && block > 200 / (int) lanes) {
            block = 200 / (int) lanes < 10 ? 10 : 200 / (int) lanes;
        }
        r = snd_xreadgroup(s, BC_GROUP_RECORDERS,
                           snd_events_stream(stream, lane), SND_EV_BATCH,
                           block, s->ev_pending_done[lane],
                           s->ev_cursor[lane]);
        return r == NULL ? -1 : snd_rec_entries(s, v, rd, lane, r);
    }

    share = (SND_EV_BATCH + (int) lanes - 1) / (int) lanes;
    for (lane = 0; lane < lanes; lane++) {
        const char  *argv[12];
        char         cnt[16];

        snprintf(cnt, sizeof(cnt), "%d", share);
        argc = 0;
        argv[argc++] = "XREADGROUP";
        argv[argc++] = "GROUP";
        argv[argc++] = BC_GROUP_RECORDERS;
        argv[argc++] = s->conf.consumer;
        argv[argc++] = "COUNT";
        argv[argc++] = cnt;
        argv[argc++] = "STREAMS";
        argv[argc++] = snd_events_stream(stream, lane);
        if (!s->ev_pending_done[lane] && s->ev_cursor[lane][0] == '\0') {
            strcpy(s->ev_cursor[lane], "0");
        }
        argv[argc++] = s->ev_pending_done[lane] ? ">" : s->ev_cursor[lane];
        bc_rc_append(s->redis, argc, argv, NULL);
    }
    for (n = 0; n < lanes; n++) {
        if (bc_rc_get_reply(s->redis, &r) != REDIS_OK) {
            snd_redis_lost(s, bc_rc_errstr(s->redis));
            return -1;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            snd_log(SND_LOG_ERR, "XREADGROUP of events lane %u: %s", n,
                r->str);
            freeReplyObject(r);
            continue;
        }
        if (snd_rec_entries(s, v, rd, n, r) != 0) {
            return -1;
        }
    }
    return 0;
}

/* what was read of each lane: its own pending scan goes on after its last
   entry (ok), or every lane read starts it again from the first (the turn
   failed: nothing was acknowledged) */
static void
snd_rec_cursors(snd_t *s, const snd_evs_t *v, const snd_rec_read_t *rd,
    int ok)
{
    size_t    i;
    unsigned  lane;

    for (lane = 0; lane < SND_LANES(s); lane++) {
        if (!rd->read[lane]) {
            continue;
        }
        if (!ok) {
            s->ev_pending_done[lane] = 0;
            s->ev_cursor[lane][0] = '\0';
            continue;
        }
        if (s->ev_pending_done[lane]) {
            continue;
        }
        for (i = 0; i < v->n; i++) {
            if (v->ev[i].ack && v->ev[i].lane == lane) {
                snprintf(s->ev_cursor[lane], sizeof(s->ev_cursor[lane]),
                         "%s", v->ev[i].id);
            }
        }
    }
}

/* one XACK a lane for the whole turn, pipelined; the entries acked, -1 if
   the link was lost (recorded anyway: read again and deduplicated) */
static int
snd_rec_ack(snd_t *s, const snd_evs_t *v)
{
    const char  **xack;
    char          stream[64];
    size_t        i, nack, total = 0;
    unsigned      lane, sent = 0;
    redisReply   *rp;

    xack = malloc((3 + v->n) * sizeof(char *));
    if (xack == NULL) {
        snd_log(SND_LOG_ERR, "out of memory acknowledging events");
        return -1;
    }
    for (lane = 0; lane < SND_LANES(s); lane++) {
        xack[0] = "XACK";
        xack[1] = snd_events_stream(stream, lane);
        xack[2] = BC_GROUP_RECORDERS;
        nack = 0;
        for (i = 0; i < v->n; i++) {
            if (v->ev[i].ack && v->ev[i].lane == lane) {
                xack[3 + nack++] = v->ev[i].id;
            }
        }
        if (nack > 0) {
            bc_rc_append(s->redis, (int) (3 + nack), xack, NULL);
            sent++;
            total += nack;
        }
    }
    free(xack);
    while (sent-- > 0) {
        if (bc_rc_get_reply(s->redis, &rp) != REDIS_OK) {
            snd_redis_lost(s, bc_rc_errstr(s->redis));
            return -1;
        }
        freeReplyObject(rp);
    }
    return (int) total;
}

/* a turn with no event: the handed results that are due, in one
   transaction; 1 committed, 0 not */
static int
snd_rec_handed(snd_t *s, snd_handoff_t **ho, snd_handoff_t **held)
{
    if (snd_db_exec(s, "START TRANSACTION", 17) != 0) {
        return 0;
    }
    if (snd_ev_write(s, NULL, 0, ho, held, !snd_stop) != 0
        || snd_db_exec(s, "COMMIT", 6) != 0)
    {
        if (s->db != NULL) {
            mysql_real_query(s->db, "ROLLBACK", 8);
        }
        return 0;
    }
    return 1;
}

int
snd_recorder_turn(snd_t *s)
{
    snd_evs_t           v = { 0 };
    snd_rec_read_t      rd;
    size_t              i, nho = 0;
    int                 rc = -1, committed = 0, nack;
    snd_handoff_t      *ho = NULL, *held = NULL, *a;
    unsigned long long  gen = 0;
    unsigned            lane;

    if (snd_redis_ok(s) != 0 || snd_db_ok(s) != 0) {
        return -1;
    }
    memset(&rd, 0, sizeof(rd));
    if (snd_rec_read(s, &v, &rd) != 0) {
        goto freed;
    }
    s->ev_empty = rd.entries == 0;
    ho = snd_handoff_take(s, &gen);
    if (rd.entries == 0) {
        if (ho == NULL) {
            snd_handoff_done(s, NULL, NULL, gen, 1);
            rc = 0;
            goto freed;
        }
        committed = snd_rec_handed(s, &ho, &held);
        if (committed) {
            for (a = ho; a != NULL; a = a->next) {
                nho++;
            }
            rc = (int) nho;
        }
        goto done;
    }

    snd_kw_classify(s, v.ev, v.n);
    if (snd_db_exec(s, "START TRANSACTION", 17) != 0) {
        snd_rec_cursors(s, &v, &rd, 0);
        goto done;
    }
    if (snd_ev_resolve(s, v.ev, v.n, ho) != 0
        || snd_ev_write(s, v.ev, v.n, &ho, &held, !snd_stop) != 0
        || snd_db_exec(s, "COMMIT", 6) != 0)
    {
        if (s->db != NULL) {
            mysql_real_query(s->db, "ROLLBACK", 8);
        }
        snd_rec_cursors(s, &v, &rd, 0);
        goto done;
    }
    committed = 1;
    snd_rec_cursors(s, &v, &rd, 1);
    /* after the commit: the opt-outs of this turn are visible to the
       replies' check; a turn read again finds the reply's Redis key set */
    snd_kw_reply(s, v.ev, v.n);
    for (a = ho; a != NULL; a = a->next) {
        nho++;
    }
    nack = snd_rec_ack(s, &v);
    if (nack < 0) {
        goto done;
    }
    snd_log(SND_LOG_DEBUG, "recorded %zu events (%d entries), %zu handed "
        "results", v.n, nack, nho);
    rc = (int) nho + nack;

done:
    snd_handoff_done(s, ho, held, gen, committed);
freed:
    for (i = 0; i < v.n; i++) {
        snd_ev_free(&v.ev[i]);
    }
    free(v.ev);
    for (lane = 0; lane < BC_LANES_MAX; lane++) {
        if (rd.r[lane] != NULL) {
            freeReplyObject(rd.r[lane]);
        }
    }
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
        bc_rc_free(r->redis);
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

/*
 * broadcast-sender: drains bc:{q}:stream:send into the provider and records
 * webhook events; see sender.h for the shape of one loop turn.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bc_phone.h"
#include "sender.h"

volatile sig_atomic_t snd_stop;

static void
snd_on_signal(int sig)
{
    (void) sig;
    snd_stop = 1;
}

long long
snd_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
snd_list_push(snd_item_t **list, snd_item_t *it)
{
    it->next = *list;
    *list = it;
}

void
snd_list_append(snd_item_t **list, snd_item_t *it)
{
    it->next = NULL;
    while (*list != NULL) {
        list = &(*list)->next;
    }
    *list = it;
}

void
snd_list_splice(snd_item_t **list, snd_stage_t *st)
{
    if (st->head == NULL) {
        return;
    }
    while (*list != NULL) {
        list = &(*list)->next;
    }
    *list = st->head;
    SND_STAGE_INIT(st);
}

void
snd_route_items(snd_t *s, snd_item_t *items,
    int (*where)(snd_t *s, snd_item_t *it, long long now))
{
    snd_item_t  *it, *next;
    snd_stage_t  ack, wait;
    long long    now;

    now = snd_now_ms();
    SND_STAGE_INIT(&ack);
    SND_STAGE_INIT(&wait);
    for (it = items; it != NULL; it = next) {
        next = it->next;
        it->next = NULL;
        snd_stage_add(where(s, it, now) == SND_ROUTE_WAIT ? &wait : &ack, it);
    }
    snd_list_splice(&s->to_ack, &ack);
    snd_list_splice(&s->wait, &wait);
}

/* ---- the set of message ids we hold ------------------------------------- */

static unsigned
snd_hash(const char *id)
{
    unsigned h = 2166136261u;

    while (*id) {
        h = (h ^ (unsigned char) *id++) * 16777619u;
    }
    return h % SND_IDSET_SIZE;
}

int
snd_idset_has(snd_t *s, const char *id)
{
    snd_item_t  *it;

    for (it = s->idset[snd_hash(id)]; it != NULL; it = it->hnext) {
        if (strcmp(it->job.id, id) == 0) {
            return 1;
        }
    }
    return 0;
}

void
snd_idset_add(snd_t *s, snd_item_t *it)
{
    unsigned h = snd_hash(it->job.id);

    it->hnext = s->idset[h];
    s->idset[h] = it;
}

void
snd_idset_del(snd_t *s, snd_item_t *it)
{
    snd_item_t **p = &s->idset[snd_hash(it->job.id)];

    for ( ; *p != NULL; p = &(*p)->hnext) {
        if (*p == it) {
            *p = it->hnext;
            return;
        }
    }
}

void
snd_item_reset_result(snd_item_t *it)
{
    size_t  i;

    for (i = 0; i < 2 * it->ncands; i++) {
        free(it->cands[i]);
    }
    free(it->cands);
    it->cands = NULL;
    it->ncands = 0;
    it->list_pages = 0;
    it->outcome = SND_OUT_NONE;
    it->xfer = SND_XFER_NONE;
    it->optout = 0;
    it->sid[0] = it->status[0] = it->price[0] = it->price_unit[0] = '\0';
    it->error_code[0] = it->error_message[0] = '\0';
    it->req_id[0] = '\0';
    it->lost = 0;
    it->throttled = 0;
    it->segments = -1;
}

void
snd_item_set_reconcile(snd_t *s, snd_item_t *it, int on)
{
    on = on != 0;
    s->nreconcile += on - it->reconcile;
    it->reconcile = on;
}

/*
 * While a row is reconciled, the provider's list must not show a message of
 * this process to the same recipient from the same sender: the reconcile
 * could take its sid (the message was sent once, but then one row holds the
 * other's sid and the send's own result cannot be stored). So a reconcile
 * and a send of the same provider to the same recipient from the same
 * sender never overlap between their start and the ledger commit of their
 * result. Only checked for providers with a message list, while some row
 * is being reconciled (after a crash).
 */
static int
snd_reconcile_conflict(snd_t *s, const snd_item_t *it)
{
    const snd_item_t  *lists[3] = { s->running, s->finished, s->handed }, *o;
    int                i;

    /* handed results are not in the rows yet either */
    for (i = 0; i < 3; i++) {
        for (o = lists[i]; o != NULL; o = o->next) {
            if (o != it && o->prov == it->prov
                && o->reconcile != it->reconcile
                && strcmp(o->job.to, it->job.to) == 0
                && strcmp(o->job.from, it->job.from) == 0
                && strcmp(o->job.messaging_service_sid,
                          it->job.messaging_service_sid) == 0)
            {
                return 1;
            }
        }
    }
    return 0;
}

/* a call of unknown outcome that cannot be looked up: the ledger fails
   the row (unknown_after_crash) unless a webhook has advanced it */
void
snd_item_give_up(snd_t *s, snd_item_t *it)
{
    snd_item_reset_result(it);
    it->lost = 1;
    it->outcome = SND_OUT_ACK;
    snprintf(it->error_code, sizeof(it->error_code), "unknown_after_crash");
    snprintf(it->error_message, sizeof(it->error_message),
        "the provider call may or may not have happened; not sent again");
    s->m_lost++;
}

void
snd_item_free(snd_t *s, snd_item_t *it)
{
    snd_item_t  *g;

    while ((g = it->group) != NULL) {      /* a SendGrid call's members */
        it->group = g->next;
        snd_item_free(s, g);
    }
    if (it->parsed) {
        if (!it->dup) {
            snd_idset_del(s, it);
        }
        bc_job_free(&it->job);
    }
    snd_item_reset_result(it);
    snd_item_set_reconcile(s, it, 0);
    snd_rate_release(it);
    curl_slist_free_all(it->hdrs);
    free(it->post);
    free(it->resp);
    free(it->raw);
    free(it->retry_json);
    free(it);
    s->held--;
}

/* ---- connections -------------------------------------------------------- */

/* a connection is tried again at most once a second: 1 if now is the time */
static int
snd_reconnect_due(long long *retry_ms)
{
    long long  now = snd_now_ms();

    if (now < *retry_ms) {
        return 0;
    }
    *retry_ms = now + 1000;
    return 1;
}

/* logs the first failure of a run ("redis unavailable", "mysql connection
   lost"), not the retries that follow it */
static void
snd_down(int *logged, const char *what, const char *why)
{
    if (!*logged) {
        snd_log(SND_LOG_ERR, "%s: %s; retrying every second", what, why);
        *logged = 1;
    }
}

int
snd_redis_ok(snd_t *s)
{
    char  err[256];

    if (s->redis != NULL) {
        return 0;
    }
    if (!snd_reconnect_due(&s->redis_retry_ms)) {
        return -1;
    }
    s->redis = bc_rc_connect(&s->conf.redis, err, sizeof(err));
    if (s->redis == NULL) {
        snd_down(&s->redis_down_logged, "redis unavailable", err);
        return -1;
    }
    if (bc_redis_ensure_groups(s->redis, SND_LANES(s), err, sizeof(err))
        != 0)
    {
        snd_log(SND_LOG_ERR, "redis: creating groups: %s", err);
        bc_rc_free(s->redis);
        s->redis = NULL;
        return -1;
    }
    snd_log(SND_LOG_INFO, "redis connected");
    s->redis_down_logged = 0;
    s->redis_links++;
    return 0;
}

void
snd_redis_lost(snd_t *s, const char *why)
{
    snd_down(&s->redis_down_logged, "redis connection lost", why);
    if (s->redis != NULL) {
        bc_rc_free(s->redis);
        s->redis = NULL;
    }
    s->redis_retry_ms = snd_now_ms() + 1000;
}

redisReply *
snd_redis_argv(snd_t *s, int argc, const char **argv)
{
    redisReply  *r;

    r = bc_rc_command(s->redis, argc, argv, NULL);
    if (r == NULL) {
        snd_redis_lost(s, bc_rc_errstr(s->redis));
    }
    return r;
}

void
snd_redis_wait(snd_t *s)
{
    char         n[16], ms[24];
    const char  *argv[3] = { "WAIT", n, ms };
    redisReply  *r;

    if (s->conf.redis_wait_replicas == 0 || s->redis == NULL) {
        return;
    }
    snprintf(n, sizeof(n), "%d", s->conf.redis_wait_replicas);
    snprintf(ms, sizeof(ms), "%ld", s->conf.redis_wait_timeout_ms);
    r = snd_redis_argv(s, 3, argv);
    if (r == NULL) {
        return;
    }
    if (r->type != REDIS_REPLY_INTEGER
        || r->integer < s->conf.redis_wait_replicas)
    {
        snd_log(SND_LOG_WARN, "queued jobs reached %lld of %d Redis replicas "
            "within %ld ms%s%s", r->type == REDIS_REPLY_INTEGER
            ? r->integer : 0LL, s->conf.redis_wait_replicas,
            s->conf.redis_wait_timeout_ms,
            r->type == REDIS_REPLY_ERROR ? ": " : "",
            r->type == REDIS_REPLY_ERROR ? r->str : "");
    }
    freeReplyObject(r);
}

int
snd_db_ok(snd_t *s)
{
    char  err[256];

    if (s->db != NULL) {
        return 0;
    }
    if (!snd_reconnect_due(&s->db_retry_ms)) {
        return -1;
    }
    s->db = bc_db_connect(&s->conf.db, err, sizeof(err));
    if (s->db == NULL) {
        snd_down(&s->db_down_logged, "mysql unavailable", err);
        return -1;
    }
    snd_log(SND_LOG_INFO, "mysql connected");
    s->db_down_logged = 0;
    return 0;
}

void
snd_db_lost(snd_t *s, const char *why)
{
    snd_down(&s->db_down_logged, "mysql connection lost", why);
    snd_bulk_close_all(s);
    if (s->db != NULL) {
        mysql_close(s->db);
        s->db = NULL;
    }
    s->db_retry_ms = snd_now_ms() + 1000;
}

/* ---- the loop ----------------------------------------------------------- */

/* starts due transfers from the wait list; returns the earliest future
   start in ms from now (or -1 if nothing waits) */
static long long
snd_start_due(snd_t *s)
{
    snd_item_t  **p = &s->wait, *it;
    long long     now = snd_now_ms(), next = -1, wait_ms;
    int           rc;

    while ((it = *p) != NULL && s->inflight < s->conf.max_inflight) {
        if (it->not_before_ms > now) {
            if (next < 0 || it->not_before_ms - now < next) {
                next = it->not_before_ms - now;
            }
            p = &it->next;
            continue;
        }
        if (it->reconcile && snd_prov(it)->reconcile == NULL) {
            /*
             * Meta and SendGrid have no message list to look in: a row
             * left 'calling'/'unknown' by a crash or an ambiguous timeout
             * is failed (unknown_after_crash) unless a webhook has
             * advanced it by then (ledger.c checks that in SQL). Never
             * sending twice beats at-least-once for these channels.
             */
            *p = it->next;
            snd_item_give_up(s, it);
            snd_list_push(&s->finished, it);
            continue;
        }
        if (!it->reconcile) {
            long long              until = snd_throttle_until(s, it, now);
            if (until > 0) {
                /* the provider asked this sender (account) to slow down */
                it->not_before_ms = until;
                if (next < 0 || until - now < next) {
                    next = until - now;
                }
                p = &it->next;
                continue;
            }
            if (!snd_rate_take(s, it, now, &wait_ms)) {
                it->not_before_ms = now + wait_ms;
                if (next < 0 || wait_ms < next) {
                    next = wait_ms;
                }
                p = &it->next;
                continue;
            }
        }
        if (s->nreconcile > 0 && snd_prov(it)->reconcile != NULL
            && snd_reconcile_conflict(s, it))
        {
            it->not_before_ms = now + SND_RECONCILE_WAIT_MS;
            if (next < 0 || SND_RECONCILE_WAIT_MS < next) {
                next = SND_RECONCILE_WAIT_MS;
            }
            p = &it->next;
            continue;
        }
        *p = it->next;
        it->next = NULL;
        rc = it->reconcile ? snd_prov(it)->reconcile(s, it)
                           : snd_prov(it)->send(s, it, p, now);
        if (rc != 0) {
            snd_log(SND_LOG_ERR, "message %s: cannot start the transfer; "
                "trying again in 1s", it->job.id);
            it->not_before_ms = now + 1000;
            snd_list_push(p, it);
            p = &it->next;
        }
    }
    return next;
}

/*
 * Between the loop's MySQL/Redis phases: collects finished transfers and
 * refills the free slots from the (already claimed) wait list without
 * blocking, so the provider calls keep flowing while the loop spends time
 * on claims, commits and events. Touches neither MySQL nor Redis.
 */
static void
snd_pump(snd_t *s)
{
    if (s->inflight > 0) {
        snd_http_run(s, -1, snd_provider_done);
    }
    if (!snd_stop && s->wait != NULL) {
        snd_start_due(s);
    }
}

static void
snd_free_list(snd_t *s, snd_item_t **list)
{
    snd_item_t  *it;

    while ((it = *list) != NULL) {
        *list = it->next;
        snd_item_free(s, it);
    }
}

static int
snd_write_pidfile(const char *path)
{
    FILE  *f;

    if (path[0] == '\0') {
        return 0;
    }
    f = fopen(path, "w");
    if (f == NULL) {
        snd_log(SND_LOG_ERR, "pidfile %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "%ld\n", (long) getpid());
    fclose(f);
    return 0;
}

/* 1 if all there is to do is wait for the recorder to write the handed
   results (then the loop sleeps a little instead of spinning) */
static int
snd_only_handed(snd_t *s, int got, long long next_start)
{
    return s->handed != NULL && got == 0 && s->claim == NULL
           && s->finished == NULL && s->to_ack == NULL
           && (s->wait == NULL || next_start > 0);
}

static void
snd_run(snd_t *s)
{
    long long  stop_deadline = 0, next_start;
    int        room, timeout, idle, got = 0;

    for ( ;; ) {
        if (snd_stop && stop_deadline == 0) {
            snd_log(SND_LOG_INFO, "stopping: %d transfers in flight",
                s->inflight);
            stop_deadline = snd_now_ms() + s->conf.request_timeout_ms + 3000;
        }
        if (snd_stop) {
            if ((s->inflight == 0 && s->finished == NULL
                 && s->to_ack == NULL && s->handed == NULL)
                || snd_now_ms() > stop_deadline)
            {
                break;
            }
        } else {
            snd_queue_maintain(s);

            /* read only what we can hold; block only when idle */
            got = 0;
            /* handed results wait for the recorder's turn, not for us */
            room = s->hold_max - (s->held - s->nhanded);
            if (s->parked != NULL) {
                room = 0;       /* a paced lane has its fill (ratelimit.c) */
            }
            if (room > SND_CLAIM_MAX) {
                room = SND_CLAIM_MAX;
            }
            if (room > 0 && s->claim == NULL
                && (room >= s->batch_min || s->inflight < s->batch_min))
            {
                got = snd_queue_read(s, room, 0);
            }
            if (s->claim != NULL) {
                snd_pump(s);
            }
            snd_rate_gate(s);
            snd_ledger_claim(s);
            snd_rate_touch(s, snd_now_ms());
        }

        next_start = snd_stop ? -1 : snd_start_due(s);

        if (s->inflight > 0) {
            timeout = s->held < s->hold_max && !snd_stop ? 2 : 50;
            if (next_start >= 0 && next_start < timeout) {
                timeout = (int) next_start;
            }
        } else {
            timeout = 0;
        }
        snd_http_run(s, timeout, snd_provider_done);

        /* results in batches: fewer, larger transactions */
        if (s->finished != NULL) {
            int          nfin = 0;
            snd_item_t  *f;
            for (f = s->finished; f != NULL; f = f->next) {
                nfin++;
            }
            if (s->finished_since_ms == 0) {
                s->finished_since_ms = snd_now_ms();
            }
            if (nfin >= s->batch_min || s->inflight == 0 || snd_stop
                || snd_now_ms() - s->finished_since_ms >= 20)
            {
                if (snd_ledger_commit(s) == 0) {
                    s->finished_since_ms = 0;
                }
                snd_pump(s);
            }
        }
        snd_handoff_settle(s);
        snd_queue_flush_acks(s);

        if (!snd_stop) {
            /* nothing to do: block on the send stream (idle.c), but only
               once the own-pending scan is over (it must not wait); the
               events stream has its own thread (recorder.c) */
            idle = s->held == 0 && got == 0 && snd_queue_pending_done(s);
            if (idle && s->redis != NULL && s->db != NULL) {
                snd_idle_wait(s, 200);
            }
        }

        if (s->inflight == 0 && (s->redis == NULL || s->db == NULL
                                 || (s->held > 0 && next_start > 0)
                                 || snd_only_handed(s, got, next_start)))
        {
            /* nothing to poll on: wait for a reconnect or a start time */
            long long ms = next_start > 0 && next_start < 200 ? next_start
                                                                 : 200;
            if (snd_only_handed(s, got, next_start) && ms > 5) {
                ms = 5;             /* new jobs are read between naps */
            }
            struct timespec ts = { 0, (long) ms * 1000000L };
            nanosleep(&ts, NULL);
        }
    }
}

int
main(int argc, char **argv)
{
    snd_t              *s;
    const char         *config = NULL;
    struct sigaction    sa;
    int                 i, rc = 0;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else {
            fprintf(stderr, "usage: broadcast-sender --config FILE\n");
            return 2;
        }
    }
    if (config == NULL) {
        fprintf(stderr, "usage: broadcast-sender --config FILE\n");
        return 2;
    }

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return 1;
    }
    if (snd_conf_load(&s->conf, config) != 0) {
        free(s);
        return 1;
    }
    s->batch_min = s->conf.max_inflight / 4 > 0 ? s->conf.max_inflight / 4
                                                 : 1;
    /* hold (and so claim) ahead of the transfers: the next batch is in the
       ledger while the current one is on the wire, and claims are large */
    s->hold_max = 4 * s->conf.max_inflight;
    if (s->hold_max < SND_CLAIM_MAX) {
        s->hold_max = SND_CLAIM_MAX;
    }
    s->idset = calloc(SND_IDSET_SIZE, sizeof(snd_item_t *));
    if (s->idset == NULL) {
        snd_conf_free(&s->conf);
        free(s);
        return 1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = snd_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned) (snd_now_ms() ^ getpid()));

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK
        || mysql_library_init(0, NULL, NULL) != 0)
    {
        snd_log(SND_LOG_ERR, "library initialisation failed");
        rc = 1;
        goto done;
    }
    if (snd_http_init(s) != 0) {
        snd_log(SND_LOG_ERR, "curl multi initialisation failed");
        rc = 1;
        goto libs;
    }
    if (snd_write_pidfile(s->conf.pidfile) != 0) {
        rc = 1;
        goto http;
    }
    snd_log(SND_LOG_INFO, "broadcast-sender %s starting (max_inflight %d)",
        s->conf.consumer, s->conf.max_inflight);

    if (snd_recorder_start(s) != 0) {
        if (s->conf.pidfile[0] != '\0') {
            unlink(s->conf.pidfile);
        }
        rc = 1;
        goto http;
    }

    if (snd_campaign_start(s) != 0) {
        snd_stop = 1;
        snd_recorder_join(s);
        if (s->conf.pidfile[0] != '\0') {
            unlink(s->conf.pidfile);
        }
        rc = 1;
        goto http;
    }

    if (snd_retention_start(s) != 0) {
        snd_log(SND_LOG_ERR, "retention: not started; rows are kept");
    }

    snd_run(s);
    snd_stop = 1;               /* the recorder and the dispatcher finish
                                   their turns */
    snd_retention_stop();
    snd_campaign_join(s);
    snd_recorder_join(s);

    if (s->inflight > 0 || s->finished != NULL || s->to_ack != NULL
        || s->handed != NULL)
    {
        snd_log(SND_LOG_WARN, "exiting with unfinished work (%d in flight); "
            "the ledger reconciles it at the next start", s->inflight);
    }
    snd_log(SND_LOG_INFO, "stopped");
    if (s->conf.pidfile[0] != '\0') {
        unlink(s->conf.pidfile);
    }

http:
    snd_free_list(s, &s->claim);
    snd_free_list(s, &s->parked);
    snd_free_list(s, &s->wait);
    snd_free_list(s, &s->finished);
    snd_free_list(s, &s->to_ack);
    snd_free_list(s, &s->handed);
    snd_http_free(s);           /* in-flight easies: freed by the multi */
    snd_rate_free(s);
    snd_buf_release();
libs:
    if (s->redis != NULL) {
        bc_rc_free(s->redis);
    }
    snd_bulk_close_all(s);
    if (s->db != NULL) {
        mysql_close(s->db);
    }
    mysql_library_end();
    curl_global_cleanup();
    bc_phone_shutdown();        /* the dispatcher's audience filter */
done:
    free(s->idset);
    snd_conf_free(&s->conf);
    /* every thread has ended: the process-wide key ring goes too */
    bc_crypt_ring_free(bc_crypt_default());
    free(s);
    return rc;
}

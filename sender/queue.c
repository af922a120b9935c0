/*
 * The Redis side of the send path: XREADGROUP (own pending first, then new),
 * XAUTOCLAIM of dead consumers' entries, promotion of due retries, and the
 * pipelined XACK / DEL / ZADD / HINCRBY after each result commit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sender.h"

#define SND_PROMOTE_EVERY_MS  500
#define SND_PROMOTE_BATCH     "1000"

const char *
snd_send_stream(char *out, unsigned lane)
{
    bc_lane_key(out, 64, BC_LANE_SEND, lane, BC_SFX_SEND_STREAM);
    return out;
}

const char *
snd_events_stream(char *out, unsigned lane)
{
    bc_lane_key(out, 64, BC_LANE_EVENTS, lane, BC_SFX_EVENTS_STREAM);
    return out;
}

/* moves due members of a lane's retry set back to its stream, atomically */
static const char snd_promote_lua[] =
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1],"
    " 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "for _, m in ipairs(due) do\n"
    "  redis.call('XADD', KEYS[2], '*', 'job', m)\n"
    "  redis.call('ZREM', KEYS[1], m)\n"
    "end\n"
    "return #due\n";

#define SND_TRIM_EVERY_MS  1000

/*
 * Drops the entries every consumer group of the stream has been given and
 * has acknowledged: XTRIM MINID at the lowest of each group's
 * last-delivered-id and oldest pending id. Without it both streams kept
 * every job and every webhook body forever. Exact, not "~": the cost is
 * the entries removed, once a second.
 */
static const char snd_trim_lua[] =
    "local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])\n"
    "if not ok or #groups == 0 then return 0 end\n"
    "local function parse(id)\n"
    "  local ms, seq = string.match(id, '^(%d+)-(%d+)$')\n"
    "  return tonumber(ms), tonumber(seq)\n"
    "end\n"
    "local min_ms, min_seq\n"
    "for _, g in ipairs(groups) do\n"
    "  local name, ms, seq\n"
    "  for i = 1, #g, 2 do\n"
    "    if g[i] == 'name' then name = g[i + 1]\n"
    "    elseif g[i] == 'last-delivered-id' then ms, seq = parse(g[i + 1])"
    " end\n"
    "  end\n"
    /* every entry up to last-delivered-id was given out: keep from the
       next one, or from the oldest still unacknowledged */
    "  seq = seq + 1\n"
    "  local p = redis.call('XPENDING', KEYS[1], name)\n"
    "  if p[1] > 0 then\n"
    "    local pm, ps = parse(p[2])\n"
    "    if pm < ms or (pm == ms and ps < seq) then ms, seq = pm, ps end\n"
    "  end\n"
    "  if min_ms == nil or ms < min_ms or (ms == min_ms and seq < min_seq)"
    " then\n"
    "    min_ms, min_seq = ms, seq\n"
    "  end\n"
    "end\n"
    "return redis.call('XTRIM', KEYS[1], 'MINID',"
    " string.format('%.0f-%.0f', min_ms, min_seq))\n";

static void
snd_queue_trim(snd_t *s, const char *stream)
{
    const char  *argv[4] = { "EVAL", snd_trim_lua, "1", stream };
    redisReply  *r;

    r = snd_redis_argv(s, 4, argv);
    if (r == NULL) {
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snd_log(SND_LOG_WARN, "trimming %s: %s", stream, r->str);
    } else if (r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
        snd_log(SND_LOG_DEBUG, "trimmed %lld entries of %s", r->integer,
            stream);
    }
    freeReplyObject(r);
}

/* one stream entry [id, [f, v, ...]] of a lane -> item on s->claim */
static void
snd_queue_entry(snd_t *s, redisReply *e, snd_stage_t *claim, unsigned lane)
{
    snd_item_t   *it;
    redisReply   *id, *fv;
    char          err[256];
    size_t        i;

    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2
        || e->element[0]->type != REDIS_REPLY_STRING)
    {
        return;
    }
    id = e->element[0];
    fv = e->element[1];
    if (id->len >= sizeof(it->stream_id)) {
        return;
    }
    it = calloc(1, sizeof(*it));
    if (it == NULL) {
        return;                 /* stays pending; read again later */
    }
    memcpy(it->stream_id, id->str, id->len);
    it->lane = lane;
    it->segments = -1;

    if (fv->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i + 1 < fv->elements; i += 2) {
            redisReply *f = fv->element[i], *v = fv->element[i + 1];
            if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING
                && f->len == 3 && memcmp(f->str, "job", 3) == 0)
            {
                it->raw = strndup(v->str, v->len);
                if (it->raw != NULL
                    && bc_job_parse(v->str, v->len, &it->job, err,
                                    sizeof(err)) == 0)
                {
                    it->parsed = 1;
                    /* the ledger's id columns are ASCII (sql/005) */
                    if (!snd_ascii(it->job.id)
                        || !snd_ascii(it->job.batch_id))
                    {
                        it->parsed = 0;
                        bc_job_free(&it->job);
                        snd_log(SND_LOG_ERR, "stream entry %s: bad job: "
                            "non-ASCII id; dropping it", it->stream_id);
                    }
                } else {
                    snd_log(SND_LOG_ERR, "stream entry %s: bad job: %s; "
                        "dropping it", it->stream_id, err);
                }
                break;
            }
        }
    }
    if (!it->parsed) {
        if (fv->type != REDIS_REPLY_ARRAY) {
            snd_log(SND_LOG_WARN, "stream entry %s was deleted; acking",
                it->stream_id);
        }
        it->outcome = SND_OUT_ACK;
        snd_list_append(&s->to_ack, it);
        s->held++;
        return;
    }
    if (snd_idset_has(s, it->job.id)) {
        /* a second entry for a message we are handling: the first decides */
        snd_log(SND_LOG_DEBUG, "message %s: duplicate entry %s; acking",
            it->job.id, it->stream_id);
        it->dup = 1;            /* do not DEL bc:{q}:msg for it */
        it->outcome = SND_OUT_ACK;
        snd_list_append(&s->to_ack, it);
        s->held++;
        return;
    }
    snd_idset_add(s, it);
    if (claim != NULL) {
        snd_stage_add(claim, it);
    } else {
        snd_list_append(&s->claim, it);
    }
    s->held++;
}

/* XREADGROUP reply: [[stream, [entries]]] or nil; returns entries seen */
static int
snd_queue_entries(snd_t *s, redisReply *r, char *last_id, size_t last_len,
    unsigned lane)
{
    redisReply  *entries;
    snd_stage_t  claim;
    size_t       i;

    SND_STAGE_INIT(&claim);
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1
        || r->element[0]->type != REDIS_REPLY_ARRAY
        || r->element[0]->elements < 2)
    {
        return 0;
    }
    entries = r->element[0]->element[1];
    if (entries->type != REDIS_REPLY_ARRAY) {
        return 0;
    }
    for (i = 0; i < entries->elements; i++) {
        redisReply *e = entries->element[i];
        if (last_id != NULL && e->type == REDIS_REPLY_ARRAY
            && e->elements >= 1 && e->element[0]->type == REDIS_REPLY_STRING
            && e->element[0]->len < last_len)
        {
            memcpy(last_id, e->element[0]->str, e->element[0]->len);
            last_id[e->element[0]->len] = '\0';
        }
        snd_queue_entry(s, e, &claim, lane);
    }
    snd_list_splice(&s->claim, &claim);
    return (int) entries->elements;
}

/* the arguments of an XREADGROUP (snd_xreadgroup); argc */
typedef struct {
    const char  *argv[12];
    char         cnt[16], blk[16];
} snd_xread_t;

static int
snd_xreadgroup_argv(snd_t *s, snd_xread_t *x, const char *group,
    const char *stream, int count, int block_ms, int pending_done,
    char *cursor)
{
    int  argc = 0;

    snprintf(x->cnt, sizeof(x->cnt), "%d", count);
    x->argv[argc++] = "XREADGROUP";
    x->argv[argc++] = "GROUP";
    x->argv[argc++] = group;
    x->argv[argc++] = s->conf.consumer;
    x->argv[argc++] = "COUNT";
    x->argv[argc++] = x->cnt;
    if (pending_done && block_ms > 0) {
        snprintf(x->blk, sizeof(x->blk), "%d", block_ms);
        x->argv[argc++] = "BLOCK";
        x->argv[argc++] = x->blk;
    }
    x->argv[argc++] = "STREAMS";
    x->argv[argc++] = stream;
    if (!pending_done) {
        if (cursor[0] == '\0') {
            strcpy(cursor, "0");
        }
        x->argv[argc++] = cursor;
    } else {
        x->argv[argc++] = ">";
    }
    return argc;
}

/* the consumer groups of every lane, created where missing */
static void
snd_queue_groups(snd_t *s)
{
    char  err[256];

    if (bc_redis_ensure_groups(s->redis, SND_LANES(s), err, sizeof(err))
        != 0)
    {
        snd_log(SND_LOG_ERR, "creating groups: %s", err);
    }
}

/* an XREADGROUP's error reply, logged and freed; 1 if a group was missing */
static int
snd_xreadgroup_error(const char *stream, redisReply *r)
{
    int  nogroup = strncmp(r->str, "NOGROUP", 7) == 0;

    snd_log(SND_LOG_ERR, "XREADGROUP %s: %s", stream, r->str);
    freeReplyObject(r);
    return nogroup;
}

/*
 * XREADGROUP on one stream for this consumer: its own pending entries first
 * (from *cursor, "0" at start) until they run out, then new ones (">"),
 * blocking up to block_ms only for new ones. Returns the reply, NULL if the
 * link was lost or Redis answered an error (a missing group is recreated).
 */
redisReply *
snd_xreadgroup(snd_t *s, const char *group, const char *stream, int count,
    int block_ms, int pending_done, char *cursor)
{
    snd_xread_t  x;
    int          argc;
    redisReply  *r;

    argc = snd_xreadgroup_argv(s, &x, group, stream, count, block_ms,
                               pending_done, cursor);
    r = snd_redis_argv(s, argc, x.argv);
    if (r == NULL) {
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        if (snd_xreadgroup_error(stream, r)) {
            snd_queue_groups(s);
        }
        return NULL;
    }
    return r;
}

/* a lane's reply: its entries taken, its own-pending scan moved on; the
   entries seen */
static int
snd_queue_lane_reply(snd_t *s, unsigned lane, redisReply *r)
{
    int  n;

    n = snd_queue_entries(s, r, s->own_pending_done[lane]
                                ? NULL : s->pending_cursor[lane],
                          sizeof(s->pending_cursor[lane]), lane);
    freeReplyObject(r);
    if (!s->own_pending_done[lane] && n == 0) {
        s->own_pending_done[lane] = 1;
        snd_log(SND_LOG_DEBUG, "own pending entries of lane %u done", lane);
    }
    return n;
}

/* one lane's read: its own pending entries first, then new ones */
static int
snd_queue_read_lane(snd_t *s, unsigned lane, int count, int block_ms)
{
    char         stream[64];
    redisReply  *r;

    r = snd_xreadgroup(s, BC_GROUP_SENDERS, snd_send_stream(stream, lane),
                       count, block_ms, s->own_pending_done[lane],
                       s->pending_cursor[lane]);
    return r == NULL ? -1 : snd_queue_lane_reply(s, lane, r);
}

/*
 * Every lane at once, a share of count each, pipelined (on a cluster the
 * lanes' nodes answer in parallel): one round trip, not one a lane. A lane
 * that filled its share may hold more: full[lane]. The entries seen, or -1
 * if the link was lost.
 */
static int
snd_queue_read_lanes(snd_t *s, int share, int *full)
{
    snd_xread_t  x[BC_LANES_MAX];
    char         stream[BC_LANES_MAX][64];
    unsigned     lanes = SND_LANES(s), lane;
    int          argc, n, got = 0, nogroup = 0;
    redisReply  *r;

    for (lane = 0; lane < lanes; lane++) {
        argc = snd_xreadgroup_argv(s, &x[lane], BC_GROUP_SENDERS,
                                   snd_send_stream(stream[lane], lane), share,
                                   0, s->own_pending_done[lane],
                                   s->pending_cursor[lane]);
        bc_rc_append(s->redis, argc, x[lane].argv, NULL);
    }
    for (lane = 0; lane < lanes; lane++) {
        full[lane] = 0;
        if (bc_rc_get_reply(s->redis, &r) != REDIS_OK) {
            snd_redis_lost(s, bc_rc_errstr(s->redis));
            return -1;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            /* the groups once every reply of the pipeline is read */
            nogroup |= snd_xreadgroup_error(stream[lane], r);
            continue;
        }
        n = snd_queue_lane_reply(s, lane, r);
        full[lane] = n >= share;
        got += n;
    }
    if (nogroup) {
        snd_queue_groups(s);
    }
    return got;
}

/*
 * With several lanes: first every lane's share of count in one pipelined
 * round trip; then, while there is room, more from the lanes that filled
 * their share, lane after lane from the one after where the last read
 * started (none starves). One lane reads as it always did, and may block.
 */
int
snd_queue_read(snd_t *s, int count, int block_ms)
{
    unsigned  lanes = SND_LANES(s), i, lane;
    int       n, got, full[BC_LANES_MAX];

    if (count <= 0 || snd_redis_ok(s) != 0) {
        return 0;
    }
    if (lanes == 1) {
        return snd_queue_read_lane(s, 0, count, block_ms);
    }
    got = snd_queue_read_lanes(s, (count + (int) lanes - 1) / (int) lanes,
                               full);
    if (got < 0) {
        return -1;
    }
    lane = s->read_lane % lanes;
    s->read_lane = (lane + 1) % lanes;
    for (i = 0; i < lanes && got < count && s->redis != NULL;
         i++, lane = (lane + 1) % lanes)
    {
        if (!full[lane]) {
            continue;
        }
        n = snd_queue_read_lane(s, lane, count - got, 0);
        if (n < 0) {
            break;
        }
        got += n;
    }
    return got;
}

int
snd_queue_pending_done(const snd_t *s)
{
    unsigned  lane;

    for (lane = 0; lane < SND_LANES(s); lane++) {
        if (!s->own_pending_done[lane]) {
            return 0;
        }
    }
    return 1;
}

static void
snd_queue_promote(snd_t *s, unsigned lane, long long now)
{
    char         nowbuf[32], retry[64], stream[64];
    const char  *argv[7];
    redisReply  *r;

    snprintf(nowbuf, sizeof(nowbuf), "%lld", now);
    bc_lane_key(retry, sizeof(retry), BC_LANE_SEND, lane, BC_SFX_RETRY);
    argv[0] = "EVAL";
    argv[1] = snd_promote_lua;
    argv[2] = "2";
    argv[3] = retry;
    argv[4] = snd_send_stream(stream, lane);
    argv[5] = nowbuf;
    argv[6] = SND_PROMOTE_BATCH;
    r = snd_redis_argv(s, 7, argv);
    if (r == NULL) {
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snd_log(SND_LOG_ERR, "retry promotion: %s", r->str);
    } else if (r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
        snd_log(SND_LOG_DEBUG, "promoted %lld retries", r->integer);
    }
    freeReplyObject(r);
}

/* XAUTOCLAIM of the entries idle for reclaim_idle_ms, from start; NULL
   (the connection dropped) if redis did not answer */
static redisReply *
snd_xautoclaim(snd_t *s, const char *stream, const char *group,
    const char *start, const char *count, int justid)
{
    char         idle[32];
    const char  *argv[9];

    snprintf(idle, sizeof(idle), "%ld", s->conf.reclaim_idle_ms);
    argv[0] = "XAUTOCLAIM";
    argv[1] = stream;
    argv[2] = group;
    argv[3] = s->conf.consumer;
    argv[4] = idle;
    argv[5] = start;
    argv[6] = "COUNT";
    argv[7] = count;
    argv[8] = "JUSTID";
    return snd_redis_argv(s, justid ? 9 : 8, argv);
}

static void
snd_queue_reclaim(snd_t *s, unsigned lane)
{
    redisReply  *r;
    size_t       i;
    char        *cursor = s->reclaim_cursor[lane], stream[64];

    if (cursor[0] == '\0') {
        strcpy(cursor, "0-0");
    }
    r = snd_xautoclaim(s, snd_send_stream(stream, lane), BC_GROUP_SENDERS,
        cursor, "100", 0);
    if (r == NULL) {
        return;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2
        && r->element[0]->type == REDIS_REPLY_STRING
        && r->element[1]->type == REDIS_REPLY_ARRAY)
    {
        redisReply *c = r->element[0], *entries = r->element[1];
        if (c->len < sizeof(s->reclaim_cursor[lane])) {
            memcpy(cursor, c->str, c->len);
            cursor[c->len] = '\0';
        }
        for (i = 0; i < entries->elements; i++) {
            redisReply *e = entries->element[i];
            if (e->type == REDIS_REPLY_ARRAY && e->elements >= 2) {
                snd_queue_entry(s, e, NULL, lane);
            }
        }
        if (entries->elements > 0) {
            snd_log(SND_LOG_INFO, "reclaimed %zu idle send entries",
                entries->elements);
        }
    } else if (r->type == REDIS_REPLY_ERROR) {
        snd_log(SND_LOG_ERR, "XAUTOCLAIM: %s", r->str);
    }
    freeReplyObject(r);
}

/*
 * Events: claim dead recorders' entries, then re-read our own PEL. Run by
 * the recorder thread on its own connection (recorder.c), every
 * reclaim_idle_ms / 4 (1 s .. 5 s) like the send stream's reclaim.
 */
void
snd_queue_reclaim_events(snd_t *s)
{
    redisReply  *r;
    unsigned     lane;
    char         stream[64];

    for (lane = 0; lane < SND_LANES(s) && s->redis != NULL; lane++) {
        r = snd_xautoclaim(s, snd_events_stream(stream, lane),
                           BC_GROUP_RECORDERS, "0-0", "500", 1);
        if (r == NULL) {
            return;
        }
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2
            && r->element[1]->type == REDIS_REPLY_ARRAY
            && r->element[1]->elements > 0)
        {
            snd_log(SND_LOG_INFO, "reclaimed %zu idle events of lane %u",
                r->element[1]->elements, lane);
            s->ev_pending_done[lane] = 0;
            strcpy(s->ev_cursor[lane], "0");
        }
        freeReplyObject(r);
    }
}

int
snd_queue_maintain(snd_t *s)
{
    long long  now = snd_now_ms(), every;
    unsigned   lane;
    char       stream[64];

    if (snd_redis_ok(s) != 0) {
        return -1;
    }
    if (now >= s->next_promote_ms) {
        for (lane = 0; lane < SND_LANES(s) && s->redis != NULL; lane++) {
            snd_queue_promote(s, lane, now);
        }
        s->next_promote_ms = now + SND_PROMOTE_EVERY_MS;
    }
    if (s->redis != NULL && now >= s->next_reclaim_ms) {
        for (lane = 0; lane < SND_LANES(s) && s->redis != NULL; lane++) {
            snd_queue_reclaim(s, lane);
        }
        every = s->conf.reclaim_idle_ms / 4;
        every = every < 1000 ? 1000 : every > 5000 ? 5000 : every;
        s->next_reclaim_ms = now + every;
    }
    if (s->redis != NULL && now >= s->next_trim_ms) {
        for (lane = 0; lane < SND_LANES(s) && s->redis != NULL; lane++) {
            snd_queue_trim(s, snd_send_stream(stream, lane));
            if (s->redis != NULL) {
                snd_queue_trim(s, snd_events_stream(stream, lane));
            }
        }
        s->next_trim_ms = now + SND_TRIM_EVERY_MS;
    }
    return 0;
}

/*
 * Per lane with entries to settle: MULTI; one XACK of its entries; one DEL
 * of its finished jobs' msg keys; one ZADD of its retries; EXEC. One
 * command per kind instead of one per item: a turn of a thousand items
 * costs Redis four commands a lane, not two thousand. A lane's keys share
 * one slot, so each transaction is one node's. The reply index of each
 * EXEC goes to execs[].
 */
static int
snd_queue_append_acks(snd_t *s, int *n, int *execs, int *nexecs)
{
    const char *multi[1] = { "MULTI" }, *exec[1] = { "EXEC" };
    const char **xack, **del, **zadd;
    char        *keys, *scores, stream[64], retry[64];
    size_t       items = 0, nx, nd, nz;
    unsigned     lane;
    snd_item_t  *it;

    for (it = s->to_ack; it != NULL; it = it->next) {
        items++;
    }
    xack = malloc((3 + items) * sizeof(char *));
    del = malloc((1 + items) * sizeof(char *));
    zadd = malloc((2 + 2 * items) * sizeof(char *));
    keys = malloc(items * 64);
    scores = malloc(items * 32);
    if (xack == NULL || del == NULL || zadd == NULL || keys == NULL
        || scores == NULL)
    {
        free(xack); free(del); free(zadd); free(keys); free(scores);
        return -1;
    }

    for (lane = 0; lane < SND_LANES(s); lane++) {
        bc_lane_key(retry, sizeof(retry), BC_LANE_SEND, lane, BC_SFX_RETRY);
        xack[0] = "XACK"; xack[1] = snd_send_stream(stream, lane);
        xack[2] = BC_GROUP_SENDERS;
        del[0] = "DEL";
        zadd[0] = "ZADD"; zadd[1] = retry;
        nx = 3; nd = 1; nz = 2;

        for (it = s->to_ack; it != NULL; it = it->next) {
            if (it->lane != lane) {
                continue;
            }
            xack[nx++] = it->stream_id;
            if (it->parsed && !it->dup && it->outcome != SND_OUT_RETRY) {
                char *key = keys + (nd - 1) * 64;
                bc_lane_key(key, 64, BC_LANE_SEND, lane, BC_SFX_MSG "%s",
                            it->job.id);
                del[nd++] = key;
            }
            if (it->outcome == SND_OUT_RETRY) {
                char *score = scores + (nz - 2) / 2 * 32;
                snprintf(score, 32, "%lld", it->retry_due_ms);
                zadd[nz++] = score;
                zadd[nz++] = it->retry_json;
            }
        }
        if (nx == 3) {
            continue;
        }

        bc_rc_append(s->redis, 1, multi, NULL);
        bc_rc_append(s->redis, (int) nx, xack, NULL);
        *n += 2;
        if (nd > 1) {
            bc_rc_append(s->redis, (int) nd, del, NULL);
            (*n)++;
        }
        if (nz > 2) {
            bc_rc_append(s->redis, (int) nz, zadd, NULL);
            (*n)++;
        }
        bc_rc_append(s->redis, 1, exec, NULL);
        execs[(*nexecs)++] = (*n)++;
    }

    free(xack); free(del); free(zadd); free(keys); free(scores);
    return 0;
}


/* XACK + DEL (+ ZADD retries) in one MULTI, metrics; all pipelined */
int
snd_queue_flush_acks(snd_t *s)
{
    snd_item_t  *it;
    int          n = 0, i, ok = 1, execs[BC_LANES_MAX], nexecs = 0, e = 0;
    redisReply  *r;

    if (s->to_ack == NULL && !snd_metrics_pending(s)) {
        return 0;
    }
    if (snd_redis_ok(s) != 0) {
        return -1;
    }
    /* the retry copies first: nothing half-built goes on the wire */
    for (it = s->to_ack; it != NULL; it = it->next) {
        if (it->outcome == SND_OUT_RETRY && it->retry_json == NULL) {
            /* a throttle did not reach the provider's queue: no attempt */
            it->job.attempt += !it->throttled;
            it->retry_json = bc_job_dump(&it->job);
            it->job.attempt -= !it->throttled;
            if (it->retry_json == NULL) {
                snd_log(SND_LOG_ERR, "out of memory building retry job");
                return -1;
            }
        }
    }

    if (s->to_ack != NULL
        && snd_queue_append_acks(s, &n, execs, &nexecs) != 0)
    {
        snd_log(SND_LOG_ERR, "out of memory building the ack pipeline");
        return -1;
    }

    /* metrics ride along; lost only with the connection */
    snd_metrics_append(s, &n);

    for (i = 0; i < n; i++) {
        if (bc_rc_get_reply(s->redis, &r) != REDIS_OK) {
            snd_redis_lost(s, bc_rc_errstr(s->redis));
            return -1;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            snd_log(SND_LOG_ERR, "ack pipeline: %s", r->str);
            ok = 0;
        }
        if (e < nexecs && i == execs[e]) {
            e++;
            if (r->type != REDIS_REPLY_ARRAY) {
                ok = 0;        /* EXEC aborted */
            }
        }
        freeReplyObject(r);
    }
    if (!ok) {
        return -1;             /* keep to_ack; try again next turn */
    }

    while ((it = s->to_ack) != NULL) {
        s->to_ack = it->next;
        snd_item_free(s, it);
    }
    return 0;
}

/*
 * bc_rc: one Redis client for a single server or a Redis Cluster
 * (bc_rc.h). This file: connecting, sending in append order, reading
 * replies in append order, and following redirects. The slot map and the
 * node links are in bc_rc_map.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bc_rc_int.h"


/* ------------------------------------------------------------ connect */

/* 1 if the server runs in cluster mode, 0 if not, -1 if the link broke */
static int
bc_rc_cluster_enabled(redisContext *c)
{
    redisReply  *r;
    int          on;

    r = redisCommand(c, "INFO cluster");
    if (r == NULL) {
        return -1;
    }

    /* an ACL without +info on a single Redis: single, as before */
    on = r->type == REDIS_REPLY_STRING
         && strstr(r->str, "cluster_enabled:1") != NULL;

    freeReplyObject(r);
    return on;
}


/* one seed: 1 connected (mode set), 0 not reachable (err set) */
static int
bc_rc_connect_seed(bc_rc_t *rc, const bc_redis_conf_t *seed, int several,
    char *err, size_t errlen)
{
    redisContext  *c;
    int            on, node;

    c = bc_redis_connect(seed, err, errlen);
    if (c == NULL) {
        return 0;
    }

    on = seed->socket[0] ? 0 : bc_rc_cluster_enabled(c);
    if (on < 0) {
        snprintf(err, errlen, "redis INFO on %s:%u: %s", seed->host,
                 seed->port, c->errstr);
        redisFree(c);
        return 0;
    }

    if (on == 0) {
        if (several) {
            snprintf(err, errlen, "redis %s:%u is not a cluster node, but "
                     "several Redis addresses are configured (one address "
                     "for a single Redis)", seed->host, seed->port);
            redisFree(c);
            return 0;
        }
        rc->single = c;
        return 1;
    }

    rc->cluster = 1;
    node = bc_rc_node_add(rc, seed->host, strlen(seed->host), seed->port);
    if (node < 0) {
        snprintf(err, errlen, "redis: out of memory");
        redisFree(c);
        return 0;
    }

    /* the same node given twice as a seed: its first link goes */
    if (rc->nodes[node].c != NULL) {
        redisFree(rc->nodes[node].c);
    }
    rc->nodes[node].c = c;

    if (bc_rc_map_read(rc, node) != 0) {
        snprintf(err, errlen, "%s", rc->errstr);
        return 0;
    }

    return 1;
}


bc_rc_t *
bc_rc_connect(const bc_redis_conf_t *conf, char *err, size_t errlen)
{
    bc_rc_t          *rc;
    bc_redis_conf_t   seed;
    unsigned          i, n;

    rc = calloc(1, sizeof(*rc));
    if (rc == NULL) {
        snprintf(err, errlen, "redis: out of memory");
        return NULL;
    }

    rc->conf = *conf;
    rc->tx_node = BC_RC_TX_NONE;
    memset(rc->slots, 0xff, sizeof(rc->slots));

    seed = *conf;
    n = conf->socket[0] ? 1 : conf->nseeds;

    if (n == 0) {
        /* a conf filled in by hand: host/port is the only seed */
        n = 1;
        memcpy(rc->conf.seeds[0].host, conf->host, sizeof(conf->host));
        rc->conf.seeds[0].port = conf->port;
        rc->conf.nseeds = 1;
    }

    /* every seed in turn: after a failover some of them are gone */
    for (i = 0; i < n; i++) {
        if (!conf->socket[0]) {
            memcpy(seed.host, rc->conf.seeds[i].host, sizeof(seed.host));
            seed.port = rc->conf.seeds[i].port;
        }

        if (bc_rc_connect_seed(rc, &seed, n > 1, err, errlen)) {
            return rc;
        }
    }

    bc_rc_free(rc);
    return NULL;
}


void
bc_rc_free(bc_rc_t *rc)
{
    unsigned  i;

    if (rc == NULL) {
        return;
    }

    if (rc->single != NULL) {
        redisFree(rc->single);
    }

    for (i = 0; i < rc->nnodes; i++) {
        if (rc->nodes[i].c != NULL) {
            redisFree(rc->nodes[i].c);
        }
    }

    for (i = rc->qhead; i < rc->qhead + rc->qlen; i++) {
        free(rc->q[i].cmd);
        if (rc->q[i].stash != NULL) {
            freeReplyObject(rc->q[i].stash);
        }
    }

    free(rc->q);
    free(rc->nodes);
    explicit_bzero(rc->conf.password, sizeof(rc->conf.password));
    free(rc);
}


int
bc_rc_is_cluster(const bc_rc_t *rc)
{
    return rc->cluster;
}


int
bc_rc_alive(const bc_rc_t *rc)
{
    unsigned  i;

    if (rc == NULL) {
        return 0;
    }

    if (!rc->cluster) {
        return bc_redis_alive(rc->single);
    }

    if (rc->broken) {
        return 0;
    }

    for (i = 0; i < rc->nnodes; i++) {
        if (rc->nodes[i].c != NULL && !bc_redis_alive(rc->nodes[i].c)) {
            return 0;
        }
    }

    return 1;
}


const char *
bc_rc_errstr(const bc_rc_t *rc)
{
    if (rc == NULL) {
        return "redis: not connected";
    }

    if (!rc->cluster) {
        return rc->single->errstr;
    }

    return rc->errstr[0] ? rc->errstr : "redis: no error";
}


/* -------------------------------------------------------------- queue */

static bc_rc_entry_t *
bc_rc_push(bc_rc_t *rc)
{
    bc_rc_entry_t  *q;
    unsigned        cap;

    if (rc->qhead + rc->qlen == rc->qcap) {
        if (rc->qhead > 0) {
            memmove(rc->q, rc->q + rc->qhead, rc->qlen * sizeof(*q));
            rc->qhead = 0;

        } else {
            cap = rc->qcap ? rc->qcap * 2 : 16;
            q = realloc(rc->q, cap * sizeof(*q));
            if (q == NULL) {
                return NULL;
            }
            rc->q = q;
            rc->qcap = cap;
        }
    }

    q = &rc->q[rc->qhead + rc->qlen++];
    memset(q, 0, sizeof(*q));

    return q;
}


static void
bc_rc_pop(bc_rc_t *rc)
{
    bc_rc_entry_t  *e = &rc->q[rc->qhead];

    free(e->cmd);
    if (e->stash != NULL) {
        freeReplyObject(e->stash);
    }

    rc->qhead++;
    if (--rc->qlen == 0) {
        rc->qhead = 0;
    }
}


/* reads one reply off the node's link for entry e */
static int
bc_rc_read(bc_rc_t *rc, bc_rc_entry_t *e, redisReply **reply)
{
    bc_rc_node_t  *n = &rc->nodes[e->node];
    void          *r;

    if (n->c == NULL || redisGetReply(n->c, &r) != REDIS_OK) {
        bc_rc_fail(rc, e->node);
        return REDIS_ERR;
    }

    n->inflight--;
    e->read = 1;
    *reply = r;

    return REDIS_OK;
}


/*
 * Reads what the node's link still owes into the waiting entries: the
 * link can then carry a resent command whose reply is read at once.
 */
static int
bc_rc_drain(bc_rc_t *rc, int node)
{
    unsigned        i;
    bc_rc_entry_t  *e;

    for (i = rc->qhead; i < rc->qhead + rc->qlen; i++) {
        e = &rc->q[i];
        if (e->node == node && !e->read
            && bc_rc_read(rc, e, &e->stash) != REDIS_OK)
        {
            return REDIS_ERR;
        }
    }

    return REDIS_OK;
}


/* the reply of e: read ahead already, or from its link now */
static int
bc_rc_take(bc_rc_t *rc, bc_rc_entry_t *e, redisReply **reply)
{
    if (e->read) {
        *reply = e->stash;
        e->stash = NULL;
        return REDIS_OK;
    }

    return bc_rc_read(rc, e, reply);
}


/* ----------------------------------------------------------- sending */

static int
bc_rc_send(bc_rc_t *rc, int node, bc_rc_entry_t *e)
{
    redisContext  *c;

    c = bc_rc_node_link(rc, node);
    if (c == NULL) {
        return REDIS_ERR;
    }

    if (redisAppendFormattedCommand(c, e->cmd, e->len) != REDIS_OK) {
        bc_rc_fail(rc, node);
        return REDIS_ERR;
    }

    e->node = node;
    e->read = 0;
    rc->nodes[node].inflight++;
    rc->last_sent = node + 1;

    return REDIS_OK;
}


/* the held MULTI (and what came with it) go to the transaction's node */
static int
bc_rc_flush_held(bc_rc_t *rc, int node)
{
    unsigned  i;

    rc->tx_node = node;

    for (i = rc->qhead; i < rc->qhead + rc->qlen; i++) {
        if (rc->q[i].node == -1 && bc_rc_send(rc, node, &rc->q[i]) != 0) {
            return REDIS_ERR;
        }
    }

    return REDIS_OK;
}


static int
bc_rc_owner(bc_rc_t *rc, int slot)
{
    return slot >= 0 && rc->slots[slot] >= 0 ? rc->slots[slot]
                                             : bc_rc_any_master(rc);
}


/* SCRIPT LOAD and the like: a copy to every master, one reply shown */
static int
bc_rc_send_all(bc_rc_t *rc)
{
    unsigned        i, first, sent;
    bc_rc_entry_t  *e, *f;

    /* a position from the head: a push may move the queue */
    first = rc->qlen - 1;
    sent = 0;

    for (i = 0; i < rc->nnodes; i++) {
        if (!rc->nodes[i].master) {
            continue;
        }

        if (sent++ == 0) {
            e = &rc->q[rc->qhead + first];

        } else {
            e = bc_rc_push(rc);
            f = &rc->q[rc->qhead + first];
            if (e == NULL || (e->cmd = malloc(f->len)) == NULL) {
                snprintf(rc->errstr, sizeof(rc->errstr), "redis: out of "
                         "memory");
                rc->broken = 1;
                return REDIS_ERR;
            }
            memcpy(e->cmd, f->cmd, f->len);
            e->len = f->len;
            e->slot = -1;
            e->hidden = 1;
            f->fan++;
        }

        if (bc_rc_send(rc, (int) i, e) != REDIS_OK) {
            return REDIS_ERR;
        }
    }

    if (sent == 0) {
        return bc_rc_send(rc, bc_rc_any_master(rc),
                          &rc->q[rc->qhead + first]);
    }

    return REDIS_OK;
}


int
bc_rc_append(bc_rc_t *rc, int argc, const char **argv,
    const size_t *argvlen)
{
    bc_rc_entry_t  *e;
    bc_rc_route_t   route;
    long long       len;
    char           *cmd;
    int             key, node;

    if (!rc->cluster) {
        return redisAppendCommandArgv(rc->single, argc, argv, argvlen);
    }

    if (rc->broken) {
        return REDIS_ERR;
    }

    /* a MOVED seen: the whole map is read again before routing more */
    if (rc->refresh && rc->qlen == 0) {
        bc_rc_map_refresh(rc);
    }

    route = bc_rc_route(argc, argv, argvlen, &key);

    len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    e = len < 0 ? NULL : bc_rc_push(rc);
    if (e == NULL) {
        if (len >= 0) {
            redisFreeCommand(cmd);
        }
        snprintf(rc->errstr, sizeof(rc->errstr), "redis: out of memory");
        rc->broken = 1;
        return REDIS_ERR;
    }

    e->cmd = cmd;
    e->len = (size_t) len;
    e->node = -1;
    e->route = route;
    e->slot = key >= 0 ? (int) bc_key_slot(argv[key],
                                 argvlen ? argvlen[key] : strlen(argv[key]))
                       : -1;

    if (rc->tx_node == BC_RC_TX_NONE) {
        switch (route) {
        case BC_RC_ROUTE_MULTI:
            /* held: the next keyed command picks the node */
            e->in_tx = 1;
            rc->tx_node = BC_RC_TX_HELD;
            return REDIS_OK;
        case BC_RC_ROUTE_ALL:
            return bc_rc_send_all(rc);
        case BC_RC_ROUTE_PREV:
            /* WAIT counts the replicas that have this link's writes: it
               must reach the node that took them */
            return bc_rc_send(rc, rc->last_sent ? rc->last_sent - 1
                                                : bc_rc_any_master(rc), e);
        default:
            return bc_rc_send(rc, bc_rc_owner(rc, e->slot), e);
        }
    }

    e->in_tx = 1;

    if (rc->tx_node == BC_RC_TX_HELD) {
        if (route != BC_RC_ROUTE_KEY && route != BC_RC_ROUTE_END) {
            return REDIS_OK;
        }

        node = bc_rc_owner(rc, e->slot);
        if (bc_rc_flush_held(rc, node) != REDIS_OK) {
            return REDIS_ERR;
        }

    } else if (bc_rc_send(rc, rc->tx_node, e) != REDIS_OK) {
        return REDIS_ERR;
    }

    if (route == BC_RC_ROUTE_END) {
        rc->tx_node = BC_RC_TX_NONE;
    }

    return REDIS_OK;
}


/* ---------------------------------------------------------- redirects */

/* "MOVED 3999 127.0.0.1:6381" / "ASK ...": the target node, -1 if none */
static int
bc_rc_redirect_node(bc_rc_t *rc, const redisReply *r, int *slot)
{
    const char  *p, *colon;
    char        *end;
    long         s, port;

    p = strchr(r->str, ' ');
    if (p == NULL) {
        return -1;
    }

    s = strtol(p + 1, &end, 10);
    if (*end != ' ' || s < 0 || s >= BC_RC_SLOTS) {
        return -1;
    }

    p = end + 1;
    colon = strrchr(p, ':');
    if (colon == NULL || colon == p) {
        return -1;
    }

    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port <= 0 || port > 65535) {
        return -1;
    }

    *slot = (int) s;

    return bc_rc_node_add(rc, p, (size_t) (colon - p), (unsigned) port);
}


static int
bc_rc_is_error(const redisReply *r, const char *prefix)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR
           && strncmp(r->str, prefix, strlen(prefix)) == 0;
}


static long long
bc_rc_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static void
bc_rc_backoff(unsigned attempt)
{
    struct timespec  ts;
    unsigned         ms;

    /* 10, 20, 40, 80, then 100 ms: a failover or a slot move takes a
       second or so, a caller's timeout a few */
    ms = attempt < 4 ? 10u << attempt : 100;
    ts.tv_sec = 0;
    ts.tv_nsec = (long) ms * 1000000;
    nanosleep(&ts, NULL);
}


/*
 * What to do with an error reply: the node to send the command to again
 * (*asking for an ASK), or -1 to hand the reply to the caller.
 */
static int
bc_rc_retry_node(bc_rc_t *rc, const bc_rc_entry_t *e, const redisReply *r,
    long long deadline, unsigned attempt, int *asking)
{
    int  node, slot;

    *asking = 0;

    if (bc_rc_is_error(r, "MOVED ")) {
        node = bc_rc_redirect_node(rc, r, &slot);
        if (node >= 0) {
            rc->slots[slot] = (int16_t) node;
            rc->nodes[node].master = 1;
            rc->refresh = 1;
        }
        return node;
    }

    if (bc_rc_is_error(r, "ASK ")) {
        *asking = 1;
        return bc_rc_redirect_node(rc, r, &slot);
    }

    if ((bc_rc_is_error(r, "TRYAGAIN") || bc_rc_is_error(r, "CLUSTERDOWN"))
        && bc_rc_now_ms() < deadline)
    {
        bc_rc_backoff(attempt);
        return bc_rc_owner(rc, e->slot);
    }

    return -1;
}


static long long
bc_rc_deadline(const bc_rc_t *rc)
{
    return bc_rc_now_ms() + (rc->conf.timeout_ms ? rc->conf.timeout_ms
                                                 : 3000);
}


/* a single command's reply: MOVED, ASK and retries followed until final */
static int
bc_rc_resolve(bc_rc_t *rc, bc_rc_entry_t *e, redisReply **reply)
{
    redisContext  *c;
    redisReply    *r = *reply;
    long long      deadline;
    unsigned       attempt;
    int            node, asking;
    void          *ok;

    deadline = bc_rc_deadline(rc);
    *reply = NULL;

    /* a redirect loop (a cluster reconfiguring) ends after 16 hops */
    for (attempt = 0; attempt < 16; attempt++) {
        node = bc_rc_retry_node(rc, e, r, deadline, attempt, &asking);
        if (node < 0) {
            break;
        }

        freeReplyObject(r);

        c = bc_rc_node_link(rc, node);
        if (c == NULL || bc_rc_drain(rc, node) != REDIS_OK) {
            return REDIS_ERR;
        }

        /* ASKING lets the importing node answer for this one command */
        if (asking && redisAppendCommand(c, "ASKING") != REDIS_OK) {
            bc_rc_fail(rc, node);
            return REDIS_ERR;
        }

        if (bc_rc_send(rc, node, e) != REDIS_OK) {
            return REDIS_ERR;
        }

        if (asking) {
            if (redisGetReply(c, &ok) != REDIS_OK) {
                bc_rc_fail(rc, node);
                return REDIS_ERR;
            }
            freeReplyObject(ok);
        }

        if (bc_rc_read(rc, e, &r) != REDIS_OK) {
            return REDIS_ERR;
        }
    }

    *reply = r;
    return REDIS_OK;
}


/* the position of the EXEC/DISCARD closing the head's MULTI, 0 if none */
static unsigned
bc_rc_tx_end(const bc_rc_t *rc)
{
    const bc_rc_entry_t  *e;
    unsigned              i;

    for (i = 1; i < rc->qlen; i++) {
        e = &rc->q[rc->qhead + i];
        if (!e->in_tx) {
            return 0;
        }
        if (e->route == BC_RC_ROUTE_END) {
            return i;
        }
    }

    return 0;
}


/* the node a transaction aborted by a redirect goes to again, or -1 */
static int
bc_rc_tx_retry_node(bc_rc_t *rc, unsigned end, long long deadline,
    unsigned attempt)
{
    bc_rc_entry_t  *e;
    unsigned        i;
    int             asking;

    for (i = 1; i < end; i++) {
        e = &rc->q[rc->qhead + i];

        /* ASKING cannot be queued for a command inside MULTI: wait until
           the migration ends and the slot answers MOVED */
        if (bc_rc_is_error(e->stash, "ASK ")) {
            if (bc_rc_now_ms() >= deadline) {
                return -1;
            }
            bc_rc_backoff(attempt);
            return e->node;
        }

        if (e->stash != NULL && e->stash->type == REDIS_REPLY_ERROR) {
            return bc_rc_retry_node(rc, e, e->stash, deadline, attempt,
                                    &asking);
        }
    }

    return -1;
}


/*
 * Reads a whole MULTI..EXEC group ahead. EXECABORT after a MOVED (or a
 * TRYAGAIN) among the queued commands means nothing was applied: the
 * transaction is sent again, whole, to the node that owns the slot now.
 */
static int
bc_rc_read_tx(bc_rc_t *rc, unsigned end)
{
    bc_rc_entry_t  *e;
    long long       deadline;
    unsigned        i, attempt;
    int             node;

    deadline = bc_rc_deadline(rc);

    for (attempt = 0; /* void */; attempt++) {
        for (i = 0; i <= end; i++) {
            e = &rc->q[rc->qhead + i];
            if (!e->read && bc_rc_read(rc, e, &e->stash) != REDIS_OK) {
                return REDIS_ERR;
            }
        }

        if (attempt == 8
            || !bc_rc_is_error(rc->q[rc->qhead + end].stash, "EXECABORT"))
        {
            return REDIS_OK;
        }

        node = bc_rc_tx_retry_node(rc, end, deadline, attempt);
        if (node < 0) {
            return REDIS_OK;
        }

        if (bc_rc_node_link(rc, node) == NULL
            || bc_rc_drain(rc, node) != REDIS_OK)
        {
            return REDIS_ERR;
        }

        for (i = 0; i <= end; i++) {
            e = &rc->q[rc->qhead + i];
            if (e->stash != NULL) {
                freeReplyObject(e->stash);
                e->stash = NULL;
            }
            if (bc_rc_send(rc, node, e) != REDIS_OK) {
                return REDIS_ERR;
            }
        }
    }
}


int
bc_rc_get_reply(bc_rc_t *rc, redisReply **reply)
{
    bc_rc_entry_t  *e;
    redisReply     *r, *copy;
    unsigned        fan, end;

    if (!rc->cluster) {
        return redisGetReply(rc->single, (void **) reply);
    }

    *reply = NULL;

    if (rc->broken) {
        return REDIS_ERR;
    }

    if (rc->qlen == 0) {
        snprintf(rc->errstr, sizeof(rc->errstr), "redis: no command is "
                 "waiting for its reply");
        return REDIS_ERR;
    }

    e = &rc->q[rc->qhead];

    /* a MULTI read before any keyed command: any master runs it */
    if (e->node == -1
        && bc_rc_flush_held(rc, bc_rc_any_master(rc)) != REDIS_OK)
    {
        return REDIS_ERR;
    }

    if (e->route == BC_RC_ROUTE_MULTI && e->in_tx
        && (end = bc_rc_tx_end(rc)) > 0
        && bc_rc_read_tx(rc, end) != REDIS_OK)
    {
        return REDIS_ERR;
    }

    if (bc_rc_take(rc, e, &r) != REDIS_OK) {
        return REDIS_ERR;
    }

    if (!e->in_tx && bc_rc_resolve(rc, e, &r) != REDIS_OK) {
        return REDIS_ERR;
    }

    /* the copies sent to the other masters: an error among them wins */
    for (fan = e->fan; fan > 0; fan--) {
        bc_rc_pop(rc);
        e = &rc->q[rc->qhead];
        if (bc_rc_take(rc, e, &copy) != REDIS_OK) {
            freeReplyObject(r);
            return REDIS_ERR;
        }
        if (copy->type == REDIS_REPLY_ERROR
            && r->type != REDIS_REPLY_ERROR)
        {
            freeReplyObject(r);
            r = copy;
        } else {
            freeReplyObject(copy);
        }
    }

    bc_rc_pop(rc);
    *reply = r;

    return REDIS_OK;
}


redisReply *
bc_rc_command(bc_rc_t *rc, int argc, const char **argv,
    const size_t *argvlen)
{
    redisReply  *r;

    if (!rc->cluster) {
        return redisCommandArgv(rc->single, argc, argv, argvlen);
    }

    if (bc_rc_append(rc, argc, argv, argvlen) != REDIS_OK
        || bc_rc_get_reply(rc, &r) != REDIS_OK)
    {
        return NULL;
    }

    return r;
}

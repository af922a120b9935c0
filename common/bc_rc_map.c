/*
 * bc_rc: key slots, the command routing table, cluster nodes and their
 * links, and the slot map (CLUSTER SLOTS).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bc_rc_int.h"


/* CRC16-CCITT (XMODEM), the polynomial 0x1021 Redis Cluster uses */
unsigned
bc_crc16(const char *buf, size_t len)
{
    unsigned  crc = 0;
    size_t    i;
    int       b;

    for (i = 0; i < len; i++) {
        crc ^= (unsigned) (unsigned char) buf[i] << 8;
        for (b = 0; b < 8; b++) {
            crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) : (crc << 1);
        }
        crc &= 0xffff;
    }

    return crc;
}


unsigned
bc_key_slot(const char *key, size_t len)
{
    size_t  open, close;

    /* only the part between the first '{' and the next '}' is hashed,
       when it is not empty: keys sharing it share a slot */
    for (open = 0; open < len && key[open] != '{'; open++) { /* void */ }

    if (open < len) {
        for (close = open + 1; close < len && key[close] != '}'; close++) {
            /* void */
        }

        if (close < len && close > open + 1) {
            return bc_crc16(key + open + 1, close - open - 1) & 16383;
        }
    }

    return bc_crc16(key, len) & 16383;
}


/*
 * Commands whose key is not argv[1]. Anything absent with an argument is
 * routed by argv[1] (GET, SET, HSET, XADD, ZADD, EXPIRE, ...), anything
 * absent without one to any master. A row with a subcommand (argv[1])
 * comes before the row of its command without one.
 */
#define BC_RC_KEY_NUMKEYS  -1    /* EVAL script numkeys key...: argv[3] */
#define BC_RC_KEY_STREAMS  -2    /* XREAD ... STREAMS key...: after it */

typedef struct {
    const char    *name;
    const char    *sub;      /* NULL: any subcommand */
    bc_rc_route_t  route;
    int            key;      /* BC_RC_ROUTE_KEY: the argv index of the
                                key, or one of the rules above */
} bc_rc_command_t;

static const bc_rc_command_t  bc_rc_commands[] = {
    { "MULTI",       NULL,    BC_RC_ROUTE_MULTI, 0 },
    { "EXEC",        NULL,    BC_RC_ROUTE_END,   0 },
    { "DISCARD",     NULL,    BC_RC_ROUTE_END,   0 },
    { "EVAL",        NULL,    BC_RC_ROUTE_KEY,   BC_RC_KEY_NUMKEYS },
    { "EVALSHA",     NULL,    BC_RC_ROUTE_KEY,   BC_RC_KEY_NUMKEYS },
    { "EVAL_RO",     NULL,    BC_RC_ROUTE_KEY,   BC_RC_KEY_NUMKEYS },
    { "EVALSHA_RO",  NULL,    BC_RC_ROUTE_KEY,   BC_RC_KEY_NUMKEYS },
    { "FCALL",       NULL,    BC_RC_ROUTE_KEY,   BC_RC_KEY_NUMKEYS },
    { "XREAD",       NULL,    BC_RC_ROUTE_KEY,   BC_RC_KEY_STREAMS },
    { "XREADGROUP",  NULL,    BC_RC_ROUTE_KEY,   BC_RC_KEY_STREAMS },
    { "XINFO",       NULL,    BC_RC_ROUTE_KEY,   2 },
    { "XGROUP",      NULL,    BC_RC_ROUTE_KEY,   2 },
    { "OBJECT",      NULL,    BC_RC_ROUTE_KEY,   2 },
    { "MEMORY",      NULL,    BC_RC_ROUTE_KEY,   2 },
    /* every master must know a script EVALSHA may run there */
    { "SCRIPT",      "LOAD",  BC_RC_ROUTE_ALL,   0 },
    { "SCRIPT",      "FLUSH", BC_RC_ROUTE_ALL,   0 },
    { "SCRIPT",      NULL,    BC_RC_ROUTE_ANY,   0 },
    { "FLUSHALL",    NULL,    BC_RC_ROUTE_ALL,   0 },
    { "FLUSHDB",     NULL,    BC_RC_ROUTE_ALL,   0 },
    { "PING",        NULL,    BC_RC_ROUTE_ANY,   0 },
    { "ECHO",        NULL,    BC_RC_ROUTE_ANY,   0 },
    { "TIME",        NULL,    BC_RC_ROUTE_ANY,   0 },
    { "INFO",        NULL,    BC_RC_ROUTE_ANY,   0 },
    { "DBSIZE",      NULL,    BC_RC_ROUTE_ANY,   0 },
    { "CLUSTER",     NULL,    BC_RC_ROUTE_ANY,   0 },
    { "CLIENT",      NULL,    BC_RC_ROUTE_ANY,   0 },
    { "COMMAND",     NULL,    BC_RC_ROUTE_ANY,   0 },
    { "CONFIG",      NULL,    BC_RC_ROUTE_ANY,   0 },
    { "AUTH",        NULL,    BC_RC_ROUTE_ANY,   0 },
    { "HELLO",       NULL,    BC_RC_ROUTE_ANY,   0 },
    { "WAIT",        NULL,    BC_RC_ROUTE_PREV,  0 },
    { "ACL",         NULL,    BC_RC_ROUTE_ANY,   0 },
    { "FUNCTION",    NULL,    BC_RC_ROUTE_ANY,   0 },
    { "RANDOMKEY",   NULL,    BC_RC_ROUTE_ANY,   0 },
};


static size_t
bc_rc_arglen(const char **argv, const size_t *argvlen, int i)
{
    return argvlen ? argvlen[i] : strlen(argv[i]);
}


static int
bc_rc_arg_is(const char **argv, const size_t *argvlen, int i,
    const char *word)
{
    size_t  n = strlen(word);

    return bc_rc_arglen(argv, argvlen, i) == n
           && strncasecmp(argv[i], word, n) == 0;
}


/* EVAL script numkeys key...: the first key, if numkeys > 0 */
static int
bc_rc_key_numkeys(int argc, const char **argv, const size_t *argvlen)
{
    char    num[24];
    size_t  n;

    if (argc < 4) {
        return -1;
    }

    n = bc_rc_arglen(argv, argvlen, 2);
    if (n == 0 || n >= sizeof(num)) {
        return -1;
    }

    memcpy(num, argv[2], n);
    num[n] = '\0';

    return strtol(num, NULL, 10) > 0 ? 3 : -1;
}


/* XREAD[GROUP] ... STREAMS key [key ...] id [id ...]: the first key */
static int
bc_rc_key_streams(int argc, const char **argv, const size_t *argvlen)
{
    int  a;

    for (a = 1; a + 1 < argc; a++) {
        if (bc_rc_arg_is(argv, argvlen, a, "STREAMS")) {
            return a + 1;
        }
    }

    return -1;
}


bc_rc_route_t
bc_rc_route(int argc, const char **argv, const size_t *argvlen, int *key)
{
    const bc_rc_command_t  *cmd;
    size_t                  i;

    *key = -1;

    if (argc < 1) {
        return BC_RC_ROUTE_ANY;
    }

    for (i = 0; i < sizeof(bc_rc_commands) / sizeof(bc_rc_commands[0]);
         i++)
    {
        cmd = &bc_rc_commands[i];

        if (!bc_rc_arg_is(argv, argvlen, 0, cmd->name)
            || (cmd->sub != NULL
                && (argc < 2 || !bc_rc_arg_is(argv, argvlen, 1, cmd->sub))))
        {
            continue;
        }

        if (cmd->route != BC_RC_ROUTE_KEY) {
            return cmd->route;
        }

        switch (cmd->key) {
        case BC_RC_KEY_NUMKEYS:
            *key = bc_rc_key_numkeys(argc, argv, argvlen);
            break;
        case BC_RC_KEY_STREAMS:
            *key = bc_rc_key_streams(argc, argv, argvlen);
            break;
        default:
            *key = argc > cmd->key ? cmd->key : -1;
        }

        return *key >= 0 ? BC_RC_ROUTE_KEY : BC_RC_ROUTE_ANY;
    }

    if (argc < 2) {
        return BC_RC_ROUTE_ANY;
    }

    *key = 1;
    return BC_RC_ROUTE_KEY;
}


/* ------------------------------------------------------------- nodes */

int
bc_rc_node_add(bc_rc_t *rc, const char *host, size_t hlen, unsigned port)
{
    unsigned       i;
    bc_rc_node_t  *n;

    if (hlen == 0 || hlen >= sizeof(rc->nodes[0].host) || port == 0) {
        return -1;
    }

    for (i = 0; i < rc->nnodes; i++) {
        if (rc->nodes[i].port == port && strlen(rc->nodes[i].host) == hlen
            && memcmp(rc->nodes[i].host, host, hlen) == 0)
        {
            return (int) i;
        }
    }

    if (rc->nnodes == rc->nodes_cap) {
        /* a slot map names a few nodes; 1024 would be a broken one */
        if (rc->nodes_cap >= 1024) {
            return -1;
        }
        n = realloc(rc->nodes, (rc->nodes_cap ? rc->nodes_cap * 2 : 8)
                               * sizeof(*n));
        if (n == NULL) {
            return -1;
        }
        rc->nodes = n;
        rc->nodes_cap = rc->nodes_cap ? rc->nodes_cap * 2 : 8;
    }

    n = &rc->nodes[rc->nnodes];
    memset(n, 0, sizeof(*n));
    memcpy(n->host, host, hlen);
    n->host[hlen] = '\0';
    n->port = port;

    return (int) rc->nnodes++;
}


void
bc_rc_fail(bc_rc_t *rc, int node)
{
    const bc_rc_node_t  *n = &rc->nodes[node];

    /* the first failure is the one worth reporting */
    if (!rc->broken) {
        snprintf(rc->errstr, sizeof(rc->errstr), "redis %s:%u: %s", n->host,
                 n->port, n->c && n->c->err ? n->c->errstr
                                            : "connection lost");
    }

    rc->broken = 1;
    rc->refresh = 1;
}


redisContext *
bc_rc_node_link(bc_rc_t *rc, int node)
{
    bc_rc_node_t     *n;
    bc_redis_conf_t   conf;
    char              err[256];

    if (node < 0 || (unsigned) node >= rc->nnodes) {
        snprintf(rc->errstr, sizeof(rc->errstr), "redis: no cluster node "
                 "serves this slot (the cluster is down or resharding)");
        rc->broken = 1;
        return NULL;
    }

    n = &rc->nodes[node];
    if (n->c != NULL) {
        return n->c;
    }

    /* the same timeouts and credentials as the seeds: AUTH on every link */
    conf = rc->conf;
    memcpy(conf.host, n->host, sizeof(conf.host));
    conf.port = n->port;
    conf.socket[0] = '\0';

    n->c = bc_redis_connect(&conf, err, sizeof(err));
    if (n->c == NULL) {
        snprintf(rc->errstr, sizeof(rc->errstr), "%s", err);
        rc->broken = 1;
        rc->refresh = 1;
        return NULL;
    }

    n->inflight = 0;

    return n->c;
}


int
bc_rc_any_master(bc_rc_t *rc)
{
    unsigned  i;
    int       first = -1;

    /* an open link saves a connect */
    for (i = 0; i < rc->nnodes; i++) {
        if (rc->nodes[i].master) {
            if (rc->nodes[i].c != NULL) {
                return (int) i;
            }
            if (first < 0) {
                first = (int) i;
            }
        }
    }

    return first >= 0 ? first : rc->slots[0];
}


/* ---------------------------------------------------------- slot map */

/* one CLUSTER SLOTS range: [start, end, [host, port, id], replicas...] */
static int
bc_rc_map_range(bc_rc_t *rc, const redisReply *r, const bc_rc_node_t *asked)
{
    const redisReply  *m;
    long long          s, e, port;
    int                node;

    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3
        || r->element[0]->type != REDIS_REPLY_INTEGER
        || r->element[1]->type != REDIS_REPLY_INTEGER
        || r->element[2]->type != REDIS_REPLY_ARRAY
        || r->element[2]->elements < 2
        || r->element[2]->element[0]->type != REDIS_REPLY_STRING
        || r->element[2]->element[1]->type != REDIS_REPLY_INTEGER)
    {
        return -1;
    }

    s = r->element[0]->integer;
    e = r->element[1]->integer;
    m = r->element[2];
    port = m->element[1]->integer;

    if (s < 0 || e >= BC_RC_SLOTS || s > e || port <= 0 || port > 65535) {
        return -1;
    }

    /* an empty or "?" address is the node that answered */
    if (m->element[0]->len == 0 || strcmp(m->element[0]->str, "?") == 0) {
        node = bc_rc_node_add(rc, asked->host, strlen(asked->host),
                              (unsigned) port);
    } else {
        node = bc_rc_node_add(rc, m->element[0]->str, m->element[0]->len,
                              (unsigned) port);
    }

    if (node < 0) {
        return -1;
    }

    rc->nodes[node].master = 1;

    for (; s <= e; s++) {
        rc->slots[s] = (int16_t) node;
    }

    return 0;
}


/* a field of a CLUSTER SHARDS map (a flat name, value array in RESP2) */
static const redisReply *
bc_rc_field(const redisReply *map, const char *name)
{
    size_t  i;

    if (map->type != REDIS_REPLY_ARRAY) {
        return NULL;
    }

    for (i = 0; i + 1 < map->elements; i += 2) {
        if (map->element[i]->type == REDIS_REPLY_STRING
            && strcmp(map->element[i]->str, name) == 0)
        {
            return map->element[i + 1];
        }
    }

    return NULL;
}


/* one CLUSTER SHARDS shard: slots [start, end, ...], nodes [{...}] */
static int
bc_rc_map_shard(bc_rc_t *rc, const redisReply *shard,
    const bc_rc_node_t *asked)
{
    const redisReply  *slots, *nodes, *m, *ip, *port, *role, *health;
    long long          s, e;
    size_t             i;
    int                node;

    slots = bc_rc_field(shard, "slots");
    nodes = bc_rc_field(shard, "nodes");
    if (slots == NULL || nodes == NULL || slots->type != REDIS_REPLY_ARRAY
        || nodes->type != REDIS_REPLY_ARRAY)
    {
        return -1;
    }

    /* the master; one that is online over one marked failed */
    m = NULL;
    for (i = 0; i < nodes->elements; i++) {
        role = bc_rc_field(nodes->element[i], "role");
        health = bc_rc_field(nodes->element[i], "health");
        if (role == NULL || role->type != REDIS_REPLY_STRING
            || strcmp(role->str, "master") != 0)
        {
            continue;
        }
        m = nodes->element[i];
        if (health != NULL && health->type == REDIS_REPLY_STRING
            && strcmp(health->str, "online") == 0)
        {
            break;
        }
    }

    /* a shard without a master (yet) serves nothing: its slots stay
       unknown and go to any master, which answers MOVED or CLUSTERDOWN */
    if (m == NULL) {
        return 0;
    }

    ip = bc_rc_field(m, "ip");
    port = bc_rc_field(m, "port");
    if (ip == NULL || ip->type != REDIS_REPLY_STRING || port == NULL
        || port->type != REDIS_REPLY_INTEGER || port->integer <= 0
        || port->integer > 65535)
    {
        return -1;
    }

    node = ip->len == 0 || strcmp(ip->str, "?") == 0
           ? bc_rc_node_add(rc, asked->host, strlen(asked->host),
                            (unsigned) port->integer)
           : bc_rc_node_add(rc, ip->str, ip->len, (unsigned) port->integer);
    if (node < 0) {
        return -1;
    }

    rc->nodes[node].master = 1;

    for (i = 0; i + 1 < slots->elements; i += 2) {
        if (slots->element[i]->type != REDIS_REPLY_INTEGER
            || slots->element[i + 1]->type != REDIS_REPLY_INTEGER)
        {
            return -1;
        }
        s = slots->element[i]->integer;
        e = slots->element[i + 1]->integer;
        if (s < 0 || e >= BC_RC_SLOTS || s > e) {
            return -1;
        }
        for (; s <= e; s++) {
            rc->slots[s] = (int16_t) node;
        }
    }

    return 0;
}


/* a command on the node's idle link; NULL (the link closed) if it broke */
static redisReply *
bc_rc_map_query(bc_rc_t *rc, int node, const char *command)
{
    bc_rc_node_t  *n = &rc->nodes[node];
    redisReply    *r;

    r = redisCommand(n->c, command);
    if (r == NULL) {
        snprintf(rc->errstr, sizeof(rc->errstr), "redis %s on %s:%u: %s",
                 command, n->host, n->port, n->c->errstr);
        redisFree(n->c);
        n->c = NULL;
    }

    return r;
}


/*
 * The slot map through the node's link: CLUSTER SLOTS, or CLUSTER SHARDS
 * where SLOTS is refused (deprecated since 7.0: an ACL or a later server
 * may offer only SHARDS). 0, or -1 (the map may be partly rewritten: a
 * caller tries another node)
 */
int
bc_rc_map_read(bc_rc_t *rc, int node)
{
    redisReply    *r;
    bc_rc_node_t   asked;
    unsigned       i;
    int            rv, shards;

    if (rc->nodes[node].c == NULL || rc->nodes[node].inflight != 0) {
        return -1;
    }

    shards = 0;
    r = bc_rc_map_query(rc, node, "CLUSTER SLOTS");

    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        freeReplyObject(r);
        shards = 1;
        r = bc_rc_map_query(rc, node, "CLUSTER SHARDS");
    }

    if (r == NULL) {
        return -1;
    }

    rv = -1;
    asked = rc->nodes[node];

    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        snprintf(rc->errstr, sizeof(rc->errstr), "redis CLUSTER %s on "
                 "%s:%u: %s", shards ? "SHARDS" : "SLOTS", asked.host,
                 asked.port,
                 r->type == REDIS_REPLY_ERROR ? r->str : "no slot served");
        goto done;
    }

    for (i = 0; i < rc->nnodes; i++) {
        rc->nodes[i].master = 0;
    }
    memset(rc->slots, 0xff, sizeof(rc->slots));

    for (i = 0; i < r->elements; i++) {
        if ((shards ? bc_rc_map_shard(rc, r->element[i], &asked)
                    : bc_rc_map_range(rc, r->element[i], &asked))
            != 0)
        {
            snprintf(rc->errstr, sizeof(rc->errstr), "redis CLUSTER %s on "
                     "%s:%u: an unexpected reply",
                     shards ? "SHARDS" : "SLOTS", asked.host, asked.port);
            goto done;
        }
    }

    rv = 0;

done:

    freeReplyObject(r);
    return rv;
}


/* after a MOVED, with nothing in flight: any node that answers */
void
bc_rc_map_refresh(bc_rc_t *rc)
{
    unsigned  i;

    for (i = 0; i < rc->nnodes; i++) {
        if (rc->nodes[i].c != NULL && bc_rc_map_read(rc, (int) i) == 0) {
            rc->refresh = 0;
            return;
        }
    }

    /* keep the map MOVED patched; the next MOVED tries again */
}

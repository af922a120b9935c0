/*
 * bc_rc internals shared by bc_rc.c (commands, replies, redirects) and
 * bc_rc_map.c (nodes, links, the slot map). Not for callers.
 */
#ifndef BC_RC_INT_H
#define BC_RC_INT_H

#include <stdint.h>

#include "bc_rc.h"

typedef struct {
    char           host[128];
    unsigned       port;
    redisContext  *c;          /* NULL until a command needs this node */
    unsigned       inflight;   /* replies this link still owes */
    unsigned       master:1;   /* serves slots in the last map read */
} bc_rc_node_t;

/* a command sent (or held) whose reply the caller has not read yet */
typedef struct {
    char          *cmd;        /* formatted: a redirect sends it again */
    size_t         len;
    int            node;       /* -1: a held MULTI (no node chosen yet) */
    int            slot;       /* -1: keyless */
    unsigned       fan;        /* hidden copies that follow (SCRIPT LOAD) */
    unsigned       hidden:1;   /* a fan-out copy: read, merged, not shown */
    unsigned       in_tx:1;    /* MULTI..EXEC: never redirected alone */
    unsigned       read:1;     /* its reply has left the link */
    unsigned       route:3;    /* bc_rc_route_t */
    redisReply    *stash;      /* read ahead of its turn */
} bc_rc_entry_t;

#define BC_RC_TX_NONE  -2
#define BC_RC_TX_HELD  -1

struct bc_rc_s {
    bc_redis_conf_t  conf;
    redisContext    *single;   /* single mode: the only link */
    int              cluster;
    int              broken;   /* a link failed: the caller reconnects */
    int              refresh;  /* a MOVED seen: re-read the map when idle */
    int              tx_node;  /* BC_RC_TX_NONE, _HELD, or the node */
    int              last_sent; /* 1 + the node of the last command sent,
                                   0 none: where WAIT goes */
    char             errstr[512];

    bc_rc_node_t    *nodes;
    unsigned         nnodes, nodes_cap;
    int16_t          slots[BC_RC_SLOTS];   /* node index, -1 unknown */

    bc_rc_entry_t   *q;        /* q[qhead .. qhead+qlen) in append order */
    unsigned         qhead, qlen, qcap;
};

int bc_rc_node_add(bc_rc_t *rc, const char *host, size_t hlen,
    unsigned port);
redisContext *bc_rc_node_link(bc_rc_t *rc, int node);
int bc_rc_any_master(bc_rc_t *rc);
int bc_rc_map_read(bc_rc_t *rc, int node);
void bc_rc_map_refresh(bc_rc_t *rc);
/* a node's link failed: the client is broken, errstr names the node */
void bc_rc_fail(bc_rc_t *rc, int node);

#endif /* BC_RC_INT_H */

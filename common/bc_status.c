/*
 * The one status vocabulary and its forward-only order (docs/DESIGN.md).
 */
#include <stddef.h>
#include <string.h>

#include "bc_status.h"


typedef struct {
    const char  *name;
    int          rank;
} bc_status_rank_t;


static const bc_status_rank_t  bc_status_ranks[] = {
    { "queued",      BC_RANK_QUEUED },
    { "accepted",    BC_RANK_ACCEPTED },
    { "sending",     30 },
    { "sent",        40 },
    { "delivered",   BC_RANK_DELIVERED },
    { "read",        60 },
    { "failed",      BC_RANK_TERMINAL },
    { "undelivered", BC_RANK_TERMINAL },
    { "blocked",     BC_RANK_TERMINAL },
    { "canceled",    BC_RANK_TERMINAL },
};


/* "queued" at Twilio means the provider has it: our "accepted" */
const bc_status_map_t  bc_status_twilio[] = {
    { "queued",              "accepted" },
    { "accepted",            "accepted" },
    { "scheduled",           "accepted" },
    { "sending",             "sending" },
    { "sent",                "sent" },
    { "delivered",           "delivered" },
    { "undelivered",         "undelivered" },
    { "failed",              "failed" },
    { "read",                "read" },
    { "canceled",            "canceled" },
    { "receiving",           NULL },
    { "received",            NULL },
    { "partially_delivered", NULL },
    { NULL, NULL }
};


const bc_status_map_t  bc_status_meta[] = {
    { "sent",      "sent" },
    { "delivered", "delivered" },
    { "read",      "read" },
    { "failed",    "failed" },
    { "received",  NULL },
    { NULL, NULL }
};


/* an open or click proves the e-mail was read; deferred is stored only */
const bc_status_map_t  bc_status_sendgrid[] = {
    { "processed",         "accepted" },
    { "dropped",           "failed" },
    { "delivered",         "delivered" },
    { "deferred",          NULL },
    { "bounce",            "failed" },
    { "open",              "read" },
    { "click",             "read" },
    { "spamreport",        NULL },
    { "unsubscribe",       NULL },
    { "group_unsubscribe", NULL },
    { "group_resubscribe", NULL },
    { "received",          NULL },
    { NULL, NULL }
};


size_t
bc_status_map_size(const bc_status_map_t *map)
{
    size_t  n;

    for (n = 0; map[n].value != NULL; n++) { /* void */ }

    return n;
}


size_t
bc_status_map_index(const bc_status_map_t *map, const char *value,
    size_t len)
{
    size_t  i;

    for (i = 0; map[i].value != NULL; i++) {
        if (strlen(map[i].value) == len
            && memcmp(map[i].value, value, len) == 0)
        {
            break;
        }
    }

    return i;
}


const char *
bc_status_map(const bc_status_map_t *map, const char *value)
{
    size_t  i;

    if (value == NULL) {
        return NULL;
    }

    i = bc_status_map_index(map, value, strlen(value));

    return map[i].ours;
}


int
bc_status_rank(const char *status)
{
    size_t  i;

    if (status == NULL) {
        return -1;
    }

    for (i = 0; i < sizeof(bc_status_ranks) / sizeof(bc_status_ranks[0]);
         i++)
    {
        if (strcmp(status, bc_status_ranks[i].name) == 0) {
            return bc_status_ranks[i].rank;
        }
    }

    return -1;
}


int
bc_status_advances(const char *cur, const char *next)
{
    int  cur_rank, next_rank;

    next_rank = bc_status_rank(next);
    if (next_rank < 0) {
        return 0;
    }

    /* no current status (a new row) accepts any known status */
    cur_rank = bc_status_rank(cur);

    return bc_status_rank_advances(cur_rank < 0 ? 0 : cur_rank, next_rank);
}


int
bc_status_rank_advances(int cur, int next)
{
    if (next <= 0 || cur >= BC_RANK_TERMINAL || next <= cur) {
        return 0;
    }

    return next < BC_RANK_TERMINAL || cur < BC_RANK_DELIVERED;
}


int
bc_status_provider_has(const char *status)
{
    return bc_status_rank(status) >= BC_RANK_ACCEPTED;
}


const char *
bc_status_from_twilio(const char *twilio_status)
{
    return bc_status_map(bc_status_twilio, twilio_status);
}


const char *
bc_status_from_meta(const char *meta_status)
{
    return bc_status_map(bc_status_meta, meta_status);
}


const char *
bc_status_from_sendgrid(const char *sendgrid_event)
{
    return bc_status_map(bc_status_sendgrid, sendgrid_event);
}

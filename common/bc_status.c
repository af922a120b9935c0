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
    { "queued",      10 },
    { "accepted",    20 },
    { "sending",     30 },
    { "sent",        40 },
    { "delivered",   50 },
    { "read",        60 },
    { "failed",      BC_RANK_TERMINAL },
    { "undelivered", BC_RANK_TERMINAL },
    { "blocked",     BC_RANK_TERMINAL },
    { "canceled",    BC_RANK_TERMINAL },
};


typedef struct {
    const char  *twilio;
    const char  *ours;
} bc_status_map_t;


/* "queued" at Twilio means the provider has it: our "accepted" */
static const bc_status_map_t  bc_twilio_statuses[] = {
    { "queued",      "accepted" },
    { "accepted",    "accepted" },
    { "scheduled",   "accepted" },
    { "sending",     "sending" },
    { "sent",        "sent" },
    { "delivered",   "delivered" },
    { "read",        "read" },
    { "failed",      "failed" },
    { "undelivered", "undelivered" },
    { "canceled",    "canceled" },
};


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
    if (cur_rank >= BC_RANK_TERMINAL) {
        return 0;
    }

    return next_rank > cur_rank;
}


const char *
bc_status_from_twilio(const char *twilio_status)
{
    size_t  i;

    if (twilio_status == NULL) {
        return NULL;
    }

    for (i = 0;
         i < sizeof(bc_twilio_statuses) / sizeof(bc_twilio_statuses[0]);
         i++)
    {
        if (strcmp(twilio_status, bc_twilio_statuses[i].twilio) == 0) {
            return bc_twilio_statuses[i].ours;
        }
    }

    return NULL;
}

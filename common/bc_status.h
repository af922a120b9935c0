/*
 * The one status vocabulary, its forward-only order (docs/DESIGN.md), and
 * each provider's values mapped onto it. The provider tables are also the
 * label lists of the module's callback metrics, so a value added here is
 * both recorded and counted.
 */
#ifndef BC_STATUS_H
#define BC_STATUS_H

#include <stddef.h>

#define BC_RANK_QUEUED    10
/* the provider has the message: a status at or above this came from it */
#define BC_RANK_ACCEPTED  20
/* the provider confirmed delivery: no later failure report undoes it */
#define BC_RANK_DELIVERED 50
#define BC_RANK_TERMINAL  100

/*
 * The forward-only rule, once for C and once for SQL over two rank
 * expressions (the recorder's and the ledger's upserts). A status replaces
 * a lower one, nothing replaces a terminal one, and a failure
 * (failed, undelivered, ...) does not replace delivered or read: Twilio
 * and Meta report no failure after a delivery, and a late one (an e-mail's
 * asynchronous bounce) is kept as an event with its error while the
 * message stays delivered. Times follow the status: a message whose status
 * is a failure never shows a delivered or read time.
 */
#define BC_STATUS_ADVANCES_SQL(cur, next)                                     \
    "(" next ">0 AND " cur "<" next " AND " cur "<100 AND (" next "<100 OR "  \
    cur "<50))"

/*
 * One provider value and our status for it; ours is NULL for values that
 * are stored and counted but move no status (inbound, deferred, ...).
 * Each table ends with a { NULL, NULL } row.
 */
typedef struct {
    const char  *value;
    const char  *ours;
} bc_status_map_t;

/* Twilio MessageStatus */
extern const bc_status_map_t  bc_status_twilio[];
/* Meta statuses[].status, and "received" for inbound messages */
extern const bc_status_map_t  bc_status_meta[];
/* SendGrid event names, and "received" for Inbound Parse */
extern const bc_status_map_t  bc_status_sendgrid[];

/* number of rows of a table, without its terminating row */
size_t bc_status_map_size(const bc_status_map_t *map);

/* index of value in map (length len), or bc_status_map_size() if absent */
size_t bc_status_map_index(const bc_status_map_t *map, const char *value,
    size_t len);

/* ours for value, NULL for unknown or status-less values */
const char *bc_status_map(const bc_status_map_t *map, const char *value);

/* rank of one of our statuses, -1 if unknown */
int bc_status_rank(const char *status);

/* 1 if next may replace cur (the rule above) */
int bc_status_advances(const char *cur, const char *next);

/* the same rule over ranks; cur 0 = no status yet */
int bc_status_rank_advances(int cur, int next);

/* 1 if status says the provider has taken the message */
int bc_status_provider_has(const char *status);

/* maps a Twilio MessageStatus onto ours; NULL for inbound/unknown values */
const char *bc_status_from_twilio(const char *twilio_status);
/* maps a Meta statuses[].status onto ours; NULL for unknown values */
const char *bc_status_from_meta(const char *meta_status);
/* maps a SendGrid event onto ours; NULL for events that move no status */
const char *bc_status_from_sendgrid(const char *sendgrid_event);

#endif /* BC_STATUS_H */

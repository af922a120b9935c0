/*
 * The one status vocabulary and its forward-only order (docs/DESIGN.md).
 */
#ifndef BC_STATUS_H
#define BC_STATUS_H

#define BC_RANK_TERMINAL  100

/* rank of one of our statuses, -1 if unknown */
int bc_status_rank(const char *status);

/* 1 if next may replace cur: cur not terminal and rank(next) > rank(cur) */
int bc_status_advances(const char *cur, const char *next);

/* maps a Twilio MessageStatus onto ours; NULL for inbound/unknown values */
const char *bc_status_from_twilio(const char *twilio_status);

#endif /* BC_STATUS_H */

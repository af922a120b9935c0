/*
 * Metric rules the sender and the module share: the field names of the
 * sender's hash bc:metrics:sender and the provider latency buckets.
 */
#ifndef BC_METRICS_H
#define BC_METRICS_H

/* the upper bounds (seconds) of broadcast_provider_latency_seconds, as
   Prometheus prints them; NULL-terminated, +Inf is the count */
extern const char *const  bc_latency_le[];
extern const double       bc_latency_bound[];

#define BC_LATENCY_N  11

/* bc:metrics:sender fields (docs/DESIGN.md "Keys"): the sender HSETs
   BC_FIELD_HEARTBEAT (unix seconds) at most every BC_HEARTBEAT_S */
#define BC_FIELD_HEARTBEAT        "heartbeat"
#define BC_FIELD_LATENCY_BUCKET   "latency_bucket:"   /* <provider>:<le> */
#define BC_FIELD_LATENCY_SUM      "latency_sum:"      /* <provider> */
#define BC_FIELD_LATENCY_COUNT    "latency_count:"    /* <provider> */
#define BC_HEARTBEAT_S            5

#endif

/*
 * The provider latency buckets: from a fast provider API answer (5 ms) to
 * the sender's request timeout range (10 s).
 */
#include "bc_metrics.h"

const char *const  bc_latency_le[BC_LATENCY_N + 1] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
    "10", 0
};

const double  bc_latency_bound[BC_LATENCY_N] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};

/*
 * Lanes: the send queue and the events stream, each spread over K hash tags
 * so that on a Redis Cluster K masters share them (docs/DESIGN.md, "Redis
 * keys"). Lane 0 keeps the tag of a one-lane deployment ({q}, {ev}); lane
 * i > 0 is {q:i}, {ev:i}. Everything one MULTI or script touches is in one
 * lane. A message or batch id names its lane: the last character of its
 * ULID (5 random bits) modulo the lane count, so any process holding an id
 * finds its keys without asking; a queued group of messages shares the
 * lane of its batch id (bc_lane_set_id). Keys that follow a value rather
 * than an id (idempotency records, keyword-reply marks, webhook dedupe
 * keys, WhatsApp windows) take the lane of a hash of that value.
 */
#ifndef BC_LANE_H
#define BC_LANE_H

#include <stddef.h>

#define BC_LANES_MAX     32

/* the two families of lanes */
#define BC_LANE_SEND     "q"
#define BC_LANE_EVENTS   "ev"

/* key suffixes after "bc:{<tag>}:" */
#define BC_SFX_SEND_STREAM    "stream:send"
#define BC_SFX_EVENTS_STREAM  "stream:events"
#define BC_SFX_MSG            "msg:"
#define BC_SFX_BATCH          "batch:"
#define BC_SFX_RETRY          "retry"
#define BC_SFX_IDEM           "idem:"
#define BC_SFX_CRED           "cred:"
#define BC_SFX_KWREPLY        "kwreply:"
#define BC_SFX_DEDUP          "dedup:"
#define BC_SFX_WAWIN          "wawin:"

/* a key is at most this long plus its variable part */
#define BC_LANE_KEY_HEAD  16

/* lanes as configured: 0 (unset) means 1 */
#define bc_lanes_n(n)  ((n) == 0 ? 1u : (unsigned) (n))

/*
 * "bc:{<family>}:<fmt...>" for lane 0, "bc:{<family>:<lane>}:<fmt...>"
 * otherwise, into out; returns the length, or -1 if it did not fit
 */
int bc_lane_key(char *out, size_t size, const char *family, unsigned lane,
    const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* the lane an id (a ULID, or any string whose last character is Crockford
   base32) names among lanes */
unsigned bc_lane_of_id(const char *id, size_t len, unsigned lanes);

/* makes id (a 26-character ULID) name lane (< BC_LANES_MAX) */
void bc_lane_set_id(char *id, size_t len, unsigned lane);

/* the lane of a value (FNV-1a of its bytes) among lanes */
unsigned bc_lane_of_str(const char *s, size_t len, unsigned lanes);

/*
 * The WhatsApp 24-hour window key of a business sender and a customer:
 * bc:{ev..}:wawin:<from>:<peer> in the events lane of "<from>:<peer>", the
 * lane the webhook script that opens it writes the event to. Returns the
 * length, or -1 if it did not fit.
 */
int bc_wawin_key(char *out, size_t size, unsigned lanes, const char *from,
    size_t from_len, const char *peer, size_t peer_len);

#endif /* BC_LANE_H */

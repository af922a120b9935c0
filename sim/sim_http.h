/*
 * broadcast-sim: what the HTTP side (sim_http.c) offers the providers'
 * parts and the control routes: the request, the ways to answer it, and
 * the provider description the dispatcher walks.
 */
#ifndef SIM_HTTP_H
#define SIM_HTTP_H

#include <stddef.h>

#include <jansson.h>
#include <microhttpd.h>

#include "sim.h"
#include "sim_jb.h"

/* one request: its body as read so far, and an answer held back while the
 * connection is suspended for the simulated latency */
typedef struct {
    char                *body;
    size_t               len, cap;
    int                  too_big;
    struct MHD_Response *resp;       /* prepared while suspended */
    unsigned             status;
} sim_req_t;

/* the request body, "" when there is none */
static inline const char *
sim_req_body(const sim_req_t *r)
{
    return r->body ? r->body : "";
}

/*
 * A route's handler: an enum MHD_Result, or SIM_ROUTE_DECLINED when the
 * path turns out not to be one it serves (the next route is tried).
 */
#define SIM_ROUTE_DECLINED  (-1)

typedef int (*sim_route_fn)(struct MHD_Connection *c, sim_req_t *r,
    const char *url, const char *method);

typedef struct {
    const char   *path;
    size_t        path_len;
    int           prefix;            /* 0: the whole path must match */
    sim_route_fn  handler;
} sim_route_t;

#define SIM_ROUTE(path, prefix, handler)                                      \
    { path, sizeof(path) - 1, prefix, handler }

/* POST /sim/inbound for one channel; root is the parsed request (borrowed) */
typedef int (*sim_inbound_fn)(struct MHD_Connection *c, json_t *root);

typedef struct {
    const char      *channel;
    sim_inbound_fn   handler;
} sim_inbound_t;

struct sim_provider_s {
    const char           *name;          /* twilio | meta | sendgrid */
    const sim_route_t    *routes;
    size_t                nroutes;
    const sim_inbound_t  *inbound;
    size_t                ninbound;
    /* GET /sim/messages: the provider's members after "channel" */
    void                (*list_ids)(jb_t *b, const sim_msg_t *m);
    /* ... and after "from"; NULL for none */
    void                (*list_sender)(jb_t *b, const sim_msg_t *m);
    /* POST /sim/reset and exit; NULL for none */
    void                (*reset)(void);
    void                (*free)(void);
};

#define SIM_NELTS(a)  (sizeof(a) / sizeof((a)[0]))

/* SIM_PROVIDERS as a table */
extern const sim_provider_t *const  sim_providers[];
extern const size_t                 sim_nproviders;

/*
 * Answers. body is malloc'd and taken over (sim_reply: NULL for an empty
 * body); headers is a NULL-terminated list of name, value pairs or NULL.
 * With r the answer waits out the configured latency; without it goes at
 * once.
 */
int sim_reply(struct MHD_Connection *c, sim_req_t *r, unsigned status,
    char *body, size_t len, const char *const *headers);
/* j is taken over; 500 "{}" if it cannot be serialised */
int sim_reply_json(struct MHD_Connection *c, sim_req_t *r, unsigned status,
    json_t *j, const char *const *headers);
/* the buffer of b is taken over; 500 "{}" if b ran out of memory */
int sim_reply_jb(struct MHD_Connection *c, sim_req_t *r, unsigned status,
    jb_t *b);
/* a copy of the constant s, at once */
int sim_reply_str(struct MHD_Connection *c, unsigned status, const char *s);
/* {"error": e}, at once */
int sim_reply_error(struct MHD_Connection *c, unsigned status, const char *e);

/* "Authorization: Bearer <token>" with the expected token (Meta, SendGrid) */
int sim_bearer_ok(struct MHD_Connection *c, const char *token);

/* where an inbound webhook goes: url if given, else --webhook-base and path
 * (written to buf); NULL if neither */
const char *sim_inbound_url(const char *url, const char *path, char *buf,
    size_t size);

/* the value of a string member, or NULL */
static inline const char *
sim_jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- sim_ctl.c: the /sim/ control routes ---- */
int sim_ctl_route(struct MHD_Connection *c, sim_req_t *r, const char *url,
    const char *method);

/* ---- sim_twilio.c: Twilio's error shape is the simulator's default ---- */
int sim_twilio_error(struct MHD_Connection *c, sim_req_t *r, unsigned status,
    int code, const char *message);

/* sim_meta_tpl.c: GET /{version}/{waba-id}/message_templates */
int sim_meta_templates(struct MHD_Connection *c, sim_req_t *r,
    const char *version);

#endif /* SIM_HTTP_H */

/*
 * broadcast-sim: what Twilio's two parts (sim_twilio.c, sim_twilio_wa.c)
 * share.
 */
#ifndef SIM_TWILIO_H
#define SIM_TWILIO_H

#include "sim_http.h"

/* HTTP Basic auth with the Twilio account sid and auth token */
int sim_twilio_basic_ok(struct MHD_Connection *c);

/* the WhatsApp checks of a Messages.json create with ContentSid or
 * ContentVariables; 0 ok, else an HTTP status with *code and msg filled */
int sim_twilio_content_check(const char *content_sid, const char *vars,
    int *code, char *msg, size_t msglen);

/* GET /v1/Content */
int sim_twilio_content_route(struct MHD_Connection *c, sim_req_t *r,
    const char *url, const char *method);

/* adds the string members of root's "params" object to kv, while *n < cap */
void sim_twilio_kv_params(bc_kv_t *kv, size_t *n, size_t cap, json_t *root);

/* POST /sim/inbound, channel whatsapp */
int sim_twilio_inbound_whatsapp(struct MHD_Connection *c, json_t *root);

#endif /* SIM_TWILIO_H */

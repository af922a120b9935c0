/*
 * Twilio's webhook events (form bodies): status callbacks and inbound
 * messages, SMS and WhatsApp.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "bc_status.h"
#include "recorder.h"

void
snd_ev_twilio_status(snd_ev_t *e, const char *ct)
{
    (void) ct;
    e->sid = snd_ev_get(e, "MessageSid");
    if (e->sid == NULL) {
        e->sid = snd_ev_get(e, "SmsSid");
    }
    e->st = snd_ev_get(e, "MessageStatus");
    if (e->st == NULL) {
        e->st = snd_ev_get(e, "SmsStatus");
    }
    e->ecode = snd_ev_get(e, "ErrorCode");
    e->emsg = snd_ev_get(e, "ErrorMessage");
    e->price = snd_ev_get(e, "Price");
    e->unit = snd_ev_get(e, "PriceUnit");
    e->segs = snd_ev_get(e, "NumSegments");
    e->to = snd_ev_get(e, "To");
    e->lookup = &snd_provider_twilio;
    e->plain_status = 1;
    e->ours = e->st != NULL ? bc_status_from_twilio(e->st) : NULL;
    snd_ev_dedup(e, "twilio|%s|%s|%s", e->sid ? e->sid : "",
        e->st ? e->st : "", e->ecode ? e->ecode : "");
    if (e->ecode != NULL && strcmp(e->ecode, "21610") == 0 && e->to != NULL)
    {
        e->opt_addr = bc_wa_strip(e->to);
        e->opt_source = "twilio_21610";
        e->opt_reason = "Twilio 21610 in a status callback";
    }
    e->sid = snd_ev_clip(e, e->sid, 128);
    e->st = snd_ev_clip(e, e->st, 32);
    e->ecode = snd_ev_clip(e, e->ecode, 32);
    e->unit = snd_ev_clip(e, e->unit, 8);
}

static void
snd_ev_twilio_inbound(snd_ev_t *e, int wa)
{
    json_t      *p = json_object(), *media = json_array();
    const char  *from = snd_ev_get(e, "From"), *to = snd_ev_get(e, "To");
    const char  *ot = snd_ev_get(e, "OptOutType");
    size_t       i;
    static const char *const keys[][2] = {
        { "ProfileName", "profile_name" }, { "WaId", "wa_id" },
        { "Latitude", "latitude" }, { "Longitude", "longitude" },
        { "Address", "address" }, { "Label", "label" },
        { "ButtonPayload", "button_payload" }, { "ButtonText", "button_text" },
        { "MessageType", "message_type" }, { "NumMedia", "num_media" },
        { "NumSegments", "num_segments" }, { "OptOutType", "opt_out_type" },
        { "Forwarded", "forwarded" }, { "OriginalRepliedMessageSid",
                                        "replied_message_sid" } };

    e->sid = snd_ev_get(e, "MessageSid");
    if (e->sid == NULL) {
        e->sid = snd_ev_get(e, "SmsSid");
    }
    e->st = "received";
    snd_ev_dedup(e, "twilio|in|%s", e->sid ? e->sid : e->id);
    if (e->sid == NULL || from == NULL || snd_ev_new_id(e) != 0) {
        json_decref(p);
        json_decref(media);
        e->inbound = 0;
        return;
    }
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *v = snd_ev_get(e, keys[i][0]);
        if (v != NULL && p != NULL) {
            json_object_set_new(p, keys[i][1], json_string(v));
        }
    }
    for (i = 0; i < e->form.n && media != NULL; i++) {
        bc_kv_t *kv = &e->form.items[i];
        if (kv->name_len > 8 && strncmp(kv->name, "MediaUrl", 8) == 0) {
            char ct[48];
            const char *t;
            snprintf(ct, sizeof(ct), "MediaContentType%.*s",
                (int) (kv->name_len - 8), kv->name + 8);
            t = snd_ev_get(e, ct);
            json_array_append_new(media, json_pack("{s:s%,s:s?}", "url",
                kv->value, kv->value_len, "content_type", t));
        }
    }
    if (p != NULL && json_array_size(media) > 0) {
        json_object_set(p, "media", media);
    }
    json_decref(media);
    e->in_payload = snd_ev_dump(e, p);
    json_decref(p);
    e->in_channel = wa ? "whatsapp" : "sms";
    e->in_from = snd_ev_clip(e, from, 255);
    e->in_to = snd_ev_clip(e, to ? to : "", 255);
    e->in_peer = snd_ev_clip(e, bc_wa_strip(from), 255);
    e->in_text = snd_ev_get(e, "Body");
    e->sid = snd_ev_clip(e, e->sid, 128);
    e->lookup = NULL;
    if (ot != NULL && strcasecmp(ot, "STOP") == 0) {
        e->opt_addr = e->in_peer;
        e->opt_source = "twilio_inbound";
        e->opt_reason = "OptOutType STOP";
    } else if (ot != NULL && strcasecmp(ot, "START") == 0) {
        e->opt_addr = e->in_peer;
        e->opt_in = 1;
    }
}

void
snd_ev_twilio_sms_inbound(snd_ev_t *e, const char *ct)
{
    (void) ct;
    snd_ev_twilio_inbound(e, 0);
}

void
snd_ev_twilio_whatsapp_inbound(snd_ev_t *e, const char *ct)
{
    (void) ct;
    snd_ev_twilio_inbound(e, 1);
}

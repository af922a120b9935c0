/*
 * Meta's WhatsApp Cloud API webhooks: statuses and inbound messages, many
 * to one body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_status.h"
#include "recorder.h"

/* the display text of an inbound Graph message */
static const char *
snd_meta_text(json_t *m)
{
    const char *type = json_string_value(json_object_get(m, "type"));
    json_t     *o;
    const char *t;

    if (type == NULL) {
        return NULL;
    }
    o = json_object_get(m, type);
    if (strcmp(type, "text") == 0) {
        return json_string_value(json_object_get(o, "body"));
    }
    if (strcmp(type, "button") == 0) {
        return json_string_value(json_object_get(o, "text"));
    }
    if (strcmp(type, "interactive") == 0) {
        t = json_string_value(json_object_get(json_object_get(o,
            "button_reply"), "title"));
        return t ? t : json_string_value(json_object_get(json_object_get(o,
            "list_reply"), "title"));
    }
    if (strcmp(type, "reaction") == 0) {
        return json_string_value(json_object_get(o, "emoji"));
    }
    if (strcmp(type, "location") == 0) {
        t = json_string_value(json_object_get(o, "name"));
        return t ? t : json_string_value(json_object_get(o, "address"));
    }
    t = json_string_value(json_object_get(o, "caption"));
    return t ? t : json_string_value(json_object_get(o, "filename"));
}

/* one statuses[] item x: a status of one of our messages */
static int
snd_ev_meta_status(snd_evs_t *v, snd_ev_t *proto, json_t *root, int *n,
    json_t *x)
{
    snd_ev_t    *e = snd_evs_add(v, proto);
    const char  *st = json_string_value(json_object_get(x, "status"));
    const char  *ts = json_string_value(json_object_get(x, "timestamp"));
    json_t      *err = json_array_get(json_object_get(x, "errors"), 0);
    json_t      *code = json_object_get(err, "code");

    if (e == NULL) {
        return -1;
    }
    snd_ev_hold_root(e, root, n);
    snd_ev_set_body(e, x);
    e->mid[0] = '\0';
    e->sid = snd_ev_clip(e, json_string_value(json_object_get(x, "id")),
                         128);
    e->lookup = &snd_provider_meta;
    e->st = snd_ev_clip(e, st, 32);
    e->ours = bc_status_from_meta(st);
    e->to = json_string_value(json_object_get(x, "recipient_id"));
    if (json_is_integer(code)) {
        e->ecode = snd_ev_printf(e, "%lld",
            (long long) json_integer_value(code));
    } else if (json_is_string(code)) {
        e->ecode = snd_ev_clip(e, json_string_value(code), 32);
    }
    e->emsg = json_string_value(json_object_get(err, "title"));
    e->pricing = snd_ev_clip(e, json_string_value(json_object_get(
        json_object_get(x, "pricing"), "category")), 32);
    if (ts != NULL && atoll(ts) > 0) {
        e->at = atoll(ts) * 1000;
    }
    snd_ev_dedup(e, "meta|%s|%s", e->sid ? e->sid : "", st ? st : "");
    return 0;
}

/* one messages[] item x of a change value val: an inbound message to the
   phone number pnid */
static int
snd_ev_meta_message(snd_evs_t *v, snd_ev_t *proto, json_t *root, int *n,
    json_t *val, const char *pnid, json_t *x)
{
    snd_ev_t    *e = snd_evs_add(v, proto);
    const char  *from = json_string_value(json_object_get(x, "from"));
    const char  *ts = json_string_value(json_object_get(x, "timestamp"));
    json_t      *c, *pl;
    size_t       ci;

    if (e == NULL) {
        return -1;
    }
    snd_ev_hold_root(e, root, n);
    e->mid[0] = '\0';
    e->sid = snd_ev_clip(e, json_string_value(json_object_get(x, "id")),
                         128);
    e->st = "received";
    snd_ev_dedup(e, "meta|in|%s", e->sid ? e->sid : "");
    pl = json_deep_copy(x);
    json_array_foreach(json_object_get(val, "contacts"), ci, c) {
        const char *w = json_string_value(json_object_get(c,
            "wa_id"));
        if (pl != NULL && w != NULL && from != NULL
            && strcmp(w, from) == 0)
        {
            json_t *nm = json_object_get(json_object_get(c,
                "profile"), "name");
            if (json_is_string(nm)) {
                json_object_set(pl, "profile_name", nm);
            }
        }
    }
    snd_ev_set_body(e, pl);
    json_decref(pl);
    if (ts != NULL && atoll(ts) > 0) {
        e->at = atoll(ts) * 1000;
    }
    if (e->sid == NULL || from == NULL || snd_ev_new_id(e) != 0) {
        e->inbound = 0;
        return 0;
    }
    e->in_payload = e->body;
    e->in_channel = "whatsapp";
    e->in_peer = snd_ev_clip(e, snd_ev_printf(e, "+%s", from), 255);
    e->in_from = e->in_peer;
    e->in_to = snd_ev_clip(e, snd_ev_printf(e, "meta:%s",
        pnid ? pnid : ""), 255);
    e->in_text = snd_meta_text(x);
    return 0;
}

int
snd_ev_meta(snd_evs_t *v, snd_ev_t *proto)
{
    json_t       *root, *entry, *ch, *val, *x;
    json_error_t  jerr;
    size_t        i, j, k;
    int           n = 0;

    root = json_loadb(proto->body, proto->body_len, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        return 0;
    }
    json_array_foreach(json_object_get(root, "entry"), i, entry) {
    json_array_foreach(json_object_get(entry, "changes"), j, ch) {
        const char *pnid;
        val = json_object_get(ch, "value");
        pnid = json_string_value(json_object_get(json_object_get(val,
            "metadata"), "phone_number_id"));
        json_array_foreach(json_object_get(val, "statuses"), k, x) {
            if (snd_ev_meta_status(v, proto, root, &n, x) != 0) {
                goto done;
            }
        }
        json_array_foreach(json_object_get(val, "messages"), k, x) {
            if (snd_ev_meta_message(v, proto, root, &n, val, pnid, x) != 0) {
                goto done;
            }
        }
    }
    }
done:
    json_decref(root);
    return n;
}

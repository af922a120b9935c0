/*
 * SendGrid's webhook events: the Event Webhook's JSON arrays and Inbound
 * Parse's multipart/form-data messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bc_addr.h"
#include "bc_multipart.h"
#include "bc_sig.h"
#include "bc_status.h"
#include "recorder.h"

int
snd_ev_sendgrid_events(snd_evs_t *v, snd_ev_t *proto)
{
    json_t       *arr, *o;
    json_error_t  jerr;
    size_t        i;
    int           n = 0;

    arr = json_loadb(proto->body, proto->body_len, 0, &jerr);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return 0;
    }
    json_array_foreach(arr, i, o) {
        snd_ev_t    *e;
        const char  *ev = json_string_value(json_object_get(o, "event"));
        const char  *mid = json_string_value(json_object_get(o,
                               "bc_message_id"));
        const char  *eid = json_string_value(json_object_get(o,
                               "sg_event_id"));
        const char  *email = json_string_value(json_object_get(o, "email"));
        const char  *reason = json_string_value(json_object_get(o, "reason"));
        json_t      *ts = json_object_get(o, "timestamp");

        if (!json_is_object(o) || ev == NULL) {
            continue;
        }
        e = snd_evs_add(v, proto);
        if (e == NULL) {
            break;
        }
        snd_ev_hold_root(e, arr, &n);
        snd_ev_set_body(e, o);
        e->mid[0] = '\0';
        if (mid != NULL && strlen(mid) == 26) {
            memcpy(e->mid, mid, 27);
        }
        if (json_is_integer(ts) && json_integer_value(ts) > 0) {
            e->at = (long long) json_integer_value(ts) * 1000;
        }
        e->sid = snd_ev_clip(e, json_string_value(json_object_get(o,
            "sg_message_id")), 128);
        e->lookup = &snd_provider_sendgrid;
        e->st = snd_ev_clip(e, ev, 32);
        e->ours = bc_status_from_sendgrid(ev);
        if (strcmp(ev, "bounce") == 0) {
            const char *t = json_string_value(json_object_get(o, "type"));
            e->ecode = snd_ev_clip(e, snd_ev_printf(e, "bounce:%s",
                t ? t : "bounce"), 32);
            e->emsg = reason;
        } else if (strcmp(ev, "dropped") == 0) {
            e->ecode = "dropped";
            e->emsg = reason;
        }
        if (eid != NULL) {
            snd_ev_dedup(e, "sendgrid|%s", eid);
        } else {
            snd_ev_dedup(e, "sendgrid|%s", e->body);
        }
        if (email != NULL
            && (strcmp(ev, "bounce") == 0 || strcmp(ev, "spamreport") == 0
                || strcmp(ev, "unsubscribe") == 0
                || strcmp(ev, "group_unsubscribe") == 0
                || (strcmp(ev, "dropped") == 0 && reason != NULL
                    && (strstr(reason, "Bounced Address") != NULL
                        || strstr(reason, "Unsubscribed Address") != NULL
                        || strstr(reason, "Spam Reporting Address") != NULL))))
        {
            char *a = strdup(email);
            snd_lower(a);
            e->opt_addr = snd_ev_clip(e, snd_ev_keep(e, a), 255);
            e->opt_source = snd_ev_printf(e, "sendgrid_%.20s", ev);
            e->opt_reason = snd_ev_clip(e, reason ? reason : ev, 255);
        }
    }
    json_decref(arr);
    return n;
}

/* "Name <a@b>" or "a@b" -> lower-cased a@b (malloc'd), NULL if not an
   address (the module refused such a from; an envelope may still hold one) */
static char *
snd_email_addr(const char *s)
{
    char  out[BC_EMAIL_MAX + 1];

    if (s == NULL || !bc_email_mailbox(s, strlen(s), out)) {
        return NULL;
    }
    return strdup(out);
}

void
snd_ev_sendgrid_inbound(snd_ev_t *e, const char *ct)
{
    char        boundary[BC_MP_BOUNDARY_MAX + 1], *f[7], *msgid = NULL, *peer = NULL,
               *to = NULL;
    static const char *const names[7] = { "from", "to", "subject", "text",
                                          "html", "envelope", "headers" };
    json_t     *env, *p;
    json_error_t jerr;
    int         i;

    if (ct == NULL || bc_mp_boundary(ct, strlen(ct), boundary) != 0) {
        boundary[0] = '\0';
    }
    if (boundary[0] == '\0') {
        snd_ev_dedup_body(e);
        return;
    }
    for (i = 0; i < 7; i++) {
        f[i] = bc_mp_field(e->body, e->body_len, boundary, names[i]);
        snd_ev_keep(e, f[i]);
    }
    /* Message-ID header, else the body's hash */
    if (f[6] != NULL) {
        const char *h = f[6];
        while (h != NULL && *h) {
            if (strncasecmp(h, "Message-ID:", 11) == 0) {
                h += 11;
                while (*h == ' ' || *h == '\t') {
                    h++;
                }
                msgid = strndup(h, strcspn(h, "\r\n"));
                break;
            }
            h = strchr(h, '\n');
            h = h ? h + 1 : NULL;
        }
    }
    if (msgid == NULL || *msgid == '\0') {
        free(msgid);
        msgid = malloc(65);
        if (msgid != NULL) {
            bc_sha256_hex(e->body, e->body_len, msgid);
        }
    }
    e->sid = snd_ev_clip(e, snd_ev_keep(e, msgid), 128);
    snd_ev_dedup(e, "sendgrid|in|%s", e->sid ? e->sid : e->id);

    env = f[5] ? json_loads(f[5], 0, &jerr) : NULL;
    peer = snd_email_addr(json_string_value(json_object_get(env, "from")));
    if (peer == NULL || *peer == '\0') {
        free(peer);
        peer = snd_email_addr(f[0]);
    }
    to = snd_email_addr(json_string_value(json_array_get(
        json_object_get(env, "to"), 0)));
    if (to == NULL || *to == '\0') {
        free(to);
        to = snd_email_addr(f[1]);
    }
    json_decref(env);
    snd_ev_keep(e, peer);
    snd_ev_keep(e, to);
    if (e->sid == NULL || peer == NULL || *peer == '\0'
        || snd_ev_new_id(e) != 0)
    {
        e->inbound = 0;
        return;
    }
    p = json_object();
    if (p != NULL) {
        if (f[0]) json_object_set_new(p, "from", json_string(f[0]));
        if (f[1]) json_object_set_new(p, "to", json_string(f[1]));
        if (f[4]) json_object_set_new(p, "html", json_string(f[4]));
        if (f[5]) json_object_set_new(p, "envelope", json_string(f[5]));
        if (f[6]) json_object_set_new(p, "headers", json_string(f[6]));
    }
    e->in_payload = snd_ev_dump(e, p);
    json_decref(p);
    e->in_channel = "email";
    e->in_peer = snd_ev_clip(e, peer, 255);
    e->in_from = e->in_peer;
    e->in_to = snd_ev_clip(e, to ? to : "", 255);
    e->in_subject = snd_ev_clip(e, f[2], 255);
    e->in_text = f[3] != NULL && f[3][0] != '\0' ? f[3] : f[4];
    e->st = "received";
}


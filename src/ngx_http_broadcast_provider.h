/*
 * The providers the module knows (Twilio, SendGrid, Meta): one description
 * each, in its own file, and one table of them (provider.c). Everything
 * that differs by provider (the broadcast_webhook handler, the directives'
 * merge and check, the callback metric labels, the event kinds, the
 * signature-failure counter) is read from the description.
 */

#ifndef _NGX_HTTP_BROADCAST_PROVIDER_H_INCLUDED_
#define _NGX_HTTP_BROADCAST_PROVIDER_H_INCLUDED_


#include "ngx_http_broadcast_common.h"

#include "bc_status.h"


/* the channels, in the order of the per-channel metrics */
enum {
    NGX_HTTP_BROADCAST_CH_SMS = 0,
    NGX_HTTP_BROADCAST_CH_WHATSAPP,
    NGX_HTTP_BROADCAST_CH_EMAIL,
    NGX_HTTP_BROADCAST_CH_N
};

#define NGX_HTTP_BROADCAST_CH(ch)  ((ngx_uint_t) 1 << (ch))


typedef char *(*ngx_http_broadcast_merge_pt)(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *prev, ngx_http_broadcast_loc_conf_t *conf);
typedef char *(*ngx_http_broadcast_check_pt)(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *conf);
typedef char *(*ngx_http_broadcast_kind_pt)(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *conf, ngx_str_t *kind);


struct ngx_http_broadcast_provider_s {
    /* broadcast_webhook <name>; "provider" of its events and metrics */
    ngx_str_t                        name;
    const char                      *title;      /* in log lines */
    ngx_http_handler_pt              handler;    /* its webhook location */

    /* merges the provider's directives (every location) */
    ngx_http_broadcast_merge_pt      merge;
    /* what a "broadcast_webhook <name>" location requires */
    ngx_http_broadcast_check_pt      check;
    /* "broadcast_webhook <name> <kind>": sets conf->webhook_kind; NULL if
       the provider's locations take no kind */
    ngx_http_broadcast_kind_pt       kind;

    /* callback metric labels: the status table, then "other" */
    const bc_status_map_t           *statuses;
    /* NGX_HTTP_BROADCAST_CH() bits: the channels its callbacks count in */
    ngx_uint_t                       channels;
    /* bc:{ev}:stream:events kinds, NULL-terminated */
    const char                     **kinds;

    /* counter indices, laid out once by ngx_http_broadcast_metrics_zone() */
    ngx_uint_t                       cb_base[NGX_HTTP_BROADCAST_CH_N];
    ngx_uint_t                       sigfail;
    ngx_uint_t                       ev_base;
};


extern ngx_http_broadcast_provider_t  ngx_http_broadcast_twilio_provider;
extern ngx_http_broadcast_provider_t  ngx_http_broadcast_sendgrid_provider;
extern ngx_http_broadcast_provider_t  ngx_http_broadcast_meta_provider;

/* NULL-terminated; the order of the provider-labelled metrics */
extern ngx_http_broadcast_provider_t  *ngx_http_broadcast_providers[];
extern const char  *ngx_http_broadcast_channel_names[];


ngx_http_broadcast_provider_t *ngx_http_broadcast_provider_by_name(
    ngx_conf_t *cf, ngx_str_t *name);
char *ngx_http_broadcast_providers_merge(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *prev, ngx_http_broadcast_loc_conf_t *conf);
char *ngx_http_broadcast_provider_requires(ngx_conf_t *cf,
    ngx_http_broadcast_provider_t *provider, const char *directive);

/* the counter of one callback status of provider in channel (loop only) */
static ngx_inline ngx_uint_t
ngx_http_broadcast_callback_index(const ngx_http_broadcast_provider_t *p,
    ngx_uint_t channel, const u_char *status, size_t len)
{
    return p->cb_base[channel]
           + bc_status_map_index(p->statuses, (const char *) status, len);
}

/* directives of one provider, in the provider's file */
char *ngx_http_broadcast_twilio_account_sid(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_broadcast_sendgrid_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_BROADCAST_PROVIDER_H_INCLUDED_ */

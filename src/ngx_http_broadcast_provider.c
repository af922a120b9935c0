/*
 * The table of providers: a provider is one row here plus its description
 * in its own file (webhook_twilio.c, webhook_sendgrid.c, webhook_meta.c).
 */


#include "ngx_http_broadcast_provider.h"


/* the order of the provider-labelled metrics (signature failures, events) */
ngx_http_broadcast_provider_t  *ngx_http_broadcast_providers[] = {
    &ngx_http_broadcast_twilio_provider,
    &ngx_http_broadcast_sendgrid_provider,
    &ngx_http_broadcast_meta_provider,
    NULL
};


/* indexed by NGX_HTTP_BROADCAST_CH_* */
const char  *ngx_http_broadcast_channel_names[] = {
    "sms", "whatsapp", "email", NULL
};


/* broadcast_webhook <name>: the provider, or NULL with the error logged */
ngx_http_broadcast_provider_t *
ngx_http_broadcast_provider_by_name(ngx_conf_t *cf, ngx_str_t *name)
{
    u_char                          names[256], *p, *last;
    ngx_http_broadcast_provider_t  **pp;

    for (pp = ngx_http_broadcast_providers; *pp; pp++) {
        if ((*pp)->name.len == name->len
            && ngx_strncmp((*pp)->name.data, name->data, name->len) == 0)
        {
            return *pp;
        }
    }

    p = names;
    last = names + sizeof(names);

    for (pp = ngx_http_broadcast_providers; *pp; pp++) {
        p = ngx_slprintf(p, last, "%s%V",
                         pp == ngx_http_broadcast_providers ? "" : ", ",
                         &(*pp)->name);
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown provider \"%V\" in broadcast_webhook "
                       "(supported: %*s)", name, (size_t) (p - names),
                       names);

    return NULL;
}


/* a provider's check: its webhook location lacks the directive */
char *
ngx_http_broadcast_provider_requires(ngx_conf_t *cf,
    ngx_http_broadcast_provider_t *provider, const char *directive)
{
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "broadcast_webhook %V requires \"%s\"",
                       &provider->name, directive);
    return NGX_CONF_ERROR;
}


/* every provider's directives; then what a webhook location requires */
char *
ngx_http_broadcast_providers_merge(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *prev, ngx_http_broadcast_loc_conf_t *conf)
{
    ngx_http_broadcast_provider_t  **pp;

    for (pp = ngx_http_broadcast_providers; *pp; pp++) {
        if ((*pp)->merge(cf, prev, conf) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->kind != NGX_HTTP_BROADCAST_WEBHOOK) {
        return NGX_CONF_OK;
    }

    return conf->webhook_provider->check(cf, conf);
}

/*
 * ngx_http_broadcast_module: the broadcast API, admin and webhook endpoints
 * inside nginx workers. This file holds the directives, the module context,
 * configuration create/merge and the process hooks; the areas live in src/,
 * and each provider's directives are merged and checked in its own file
 * (src/ngx_http_broadcast_provider.c has the table of providers).
 */


#include "ngx_http_broadcast_provider.h"

#include "bc_addr.h"
#include "bc_conf.h"
#include "bc_mysql_conf.h"
#include "bc_phone.h"


static ngx_int_t ngx_http_broadcast_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_broadcast_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_broadcast_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_broadcast_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_broadcast_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_broadcast_handler_set(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_broadcast_country(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_broadcast_sms_from(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_broadcast_whatsapp_from(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_broadcast_email_from(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_broadcast_base_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_broadcast_secret_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_broadcast_init_process(ngx_cycle_t *cycle);
static void ngx_http_broadcast_exit_process(ngx_cycle_t *cycle);


static ngx_conf_num_bounds_t  ngx_http_broadcast_recipients_bounds = {
    ngx_conf_check_num_bounds, 1, 100000
};


/* the handler of a location by its kind; a webhook's is its provider's */
static ngx_http_handler_pt  ngx_http_broadcast_kind_handlers[] = {
    NULL,                                  /* NGX_HTTP_BROADCAST_NONE */
    ngx_http_broadcast_api_handler,        /* NGX_HTTP_BROADCAST_API */
    NULL,                                  /* NGX_HTTP_BROADCAST_WEBHOOK */
    ngx_http_broadcast_metrics_handler,    /* NGX_HTTP_BROADCAST_METRICS */
    ngx_http_broadcast_health_handler,     /* NGX_HTTP_BROADCAST_HEALTH */
    ngx_http_broadcast_error_page_handler  /* NGX_HTTP_BROADCAST_ERROR_PAGE */
};


static ngx_command_t  ngx_http_broadcast_commands[] = {

    /* backends: Redis, MariaDB, the thread pool that talks to them */

    { ngx_string("broadcast_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_broadcast_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("broadcast_mysql"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE3|NGX_CONF_TAKE4,
      ngx_http_broadcast_mysql,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("broadcast_mysql_replica"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_broadcast_mysql_replica,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("broadcast_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_broadcast_main_conf_t, thread_pool_name),
      NULL },

    { ngx_string("broadcast_backend_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, backend_timeout),
      NULL },


    /* API: the location, limits, the console session, default senders */

    { ngx_string("broadcast_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_broadcast_handler_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_BROADCAST_API,
      NULL },

    { ngx_string("broadcast_max_recipients"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, max_recipients),
      &ngx_http_broadcast_recipients_bounds },

    { ngx_string("broadcast_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, max_body),
      NULL },

    /* a CSV import's body (POST /api/contacts/import): a file on disk */
    { ngx_string("broadcast_import_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_off_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, import_max_body),
      NULL },

    { ngx_string("broadcast_session_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_broadcast_main_conf_t, session_ttl),
      NULL },

    { ngx_string("broadcast_cookie_secure"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, cookie_secure),
      NULL },

    { ngx_string("broadcast_default_country"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_country,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("broadcast_sms_from"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_sms_from,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("broadcast_whatsapp_from"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_whatsapp_from,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("broadcast_email_from"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_email_from,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("broadcast_email_from_name"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, email_from_name),
      NULL },

    /* the footer "append_opt_out": true adds to an SMS body */
    { ngx_string("broadcast_sms_opt_out_text"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, sms_opt_out_text),
      NULL },


    /* webhooks: the location, broadcast_webhook <provider> [<kind>] */

    { ngx_string("broadcast_webhook"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_broadcast_handler_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_BROADCAST_WEBHOOK,
      NULL },


    /* Twilio: signatures (the URL they sign), account, template listings */

    { ngx_string("broadcast_public_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_base_url,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, public_url),
      NULL },

    { ngx_string("broadcast_twilio_auth_token_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, twilio_token),
      NULL },

    { ngx_string("broadcast_twilio_account_sid"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_twilio_account_sid,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("broadcast_twilio_content_base"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_base_url,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, twilio_content_base),
      NULL },


    /* SendGrid: Event Webhook verification, Inbound Parse credentials */

    { ngx_string("broadcast_sendgrid_webhook_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_sendgrid_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("broadcast_sendgrid_timestamp_tolerance"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, sendgrid_tolerance),
      NULL },

    { ngx_string("broadcast_sendgrid_inbound_auth_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, sendgrid_inbound_auth),
      NULL },


    /* Meta: webhook verification, template listings, the sender */

    { ngx_string("broadcast_meta_app_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, meta_app_secret),
      NULL },

    { ngx_string("broadcast_meta_verify_token_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, meta_verify_token),
      NULL },

    { ngx_string("broadcast_meta_graph_base"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_base_url,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, meta_graph_base),
      NULL },

    { ngx_string("broadcast_meta_access_token_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, meta_access_token),
      NULL },

    { ngx_string("broadcast_meta_waba_id"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, meta_waba_id),
      NULL },

    { ngx_string("broadcast_meta_phone_number_id"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, meta_phone_number_id),
      NULL },

    /* operations: metrics, health, JSON error pages */

    { ngx_string("broadcast_encryption_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot, NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, encryption_key_file), NULL },

    { ngx_string("broadcast_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_broadcast_handler_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_BROADCAST_METRICS,
      NULL },

    { ngx_string("broadcast_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_broadcast_handler_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_BROADCAST_HEALTH,
      NULL },

    { ngx_string("broadcast_error_page"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_broadcast_handler_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_BROADCAST_ERROR_PAGE,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_broadcast_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_broadcast_postconfiguration,  /* postconfiguration */

    ngx_http_broadcast_create_main_conf,   /* create main configuration */
    ngx_http_broadcast_init_main_conf,     /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_broadcast_create_loc_conf,    /* create location configuration */
    ngx_http_broadcast_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_broadcast_module = {
    NGX_MODULE_V1,
    &ngx_http_broadcast_module_ctx,        /* module context */
    ngx_http_broadcast_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_broadcast_init_process,       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_broadcast_exit_process,       /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_broadcast_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_broadcast_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_broadcast_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mcf->redis_spec = { 0, NULL };
     *     mcf->thread_pool_name = { 0, NULL };
     *     mcf->thread_pool = NULL;
     *     mcf->api_used = 0;
     */

    mcf->mysql_set = NGX_CONF_UNSET;
    mcf->mysql_replica_set = NGX_CONF_UNSET;
    mcf->session_ttl = NGX_CONF_UNSET;

    return mcf;
}


static char *
ngx_http_broadcast_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_broadcast_main_conf_t *mcf = conf;

    if (mcf->redis_spec.data == NULL) {
        ngx_str_set(&mcf->redis_spec, "127.0.0.1:6379");

        if (bc_redis_conf_parse(&mcf->redis, "127.0.0.1:6379", 14) != 0) {
            return "failed to set the default Redis address";
        }
    }

    ngx_conf_init_value(mcf->mysql_set, 0);
    ngx_conf_init_value(mcf->mysql_replica_set, 0);

    if (mcf->thread_pool_name.data == NULL) {
        ngx_str_set(&mcf->thread_pool_name, "default");
    }

    ngx_conf_init_value(mcf->session_ttl, 12 * 3600);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_broadcast_postconfiguration(ngx_conf_t *cf)
{
    ngx_msec_t                       timeout;
    ngx_http_broadcast_loc_conf_t   *lcf;
    ngx_http_broadcast_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_broadcast_module);
    lcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_broadcast_module);

    if (!mcf->used) {
        return NGX_OK;
    }

    /* broadcast_mysql may follow the location, so check it only here */
    if (mcf->api_used && !mcf->mysql_set) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "broadcast_api requires \"broadcast_mysql\" "
                           "in the http block");
        return NGX_ERROR;
    }

    mcf->thread_pool = ngx_thread_pool_add(cf, &mcf->thread_pool_name);
    if (mcf->thread_pool == NULL) {
        return NGX_ERROR;
    }

    /* client timeouts follow the http-level broadcast_backend_timeout */
    timeout = (lcf->backend_timeout == NGX_CONF_UNSET_MSEC)
              ? 3000 : lcf->backend_timeout;

    mcf->redis.timeout_ms = (unsigned) timeout;
    mcf->mysql.connect_timeout = (unsigned) ((timeout + 999) / 1000);
    mcf->mysql.rw_timeout = mcf->mysql.connect_timeout;
    mcf->mysql_replica.connect_timeout = mcf->mysql.connect_timeout;
    mcf->mysql_replica.rw_timeout = mcf->mysql.connect_timeout;

    return ngx_http_broadcast_metrics_zone(cf, mcf);
}


static void *
ngx_http_broadcast_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_broadcast_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     lcf->kind = NGX_HTTP_BROADCAST_NONE;
     *     lcf->webhook_provider = NULL;
     *     lcf->webhook_kind = 0;
     *     lcf->public_url = { 0, NULL };
     *     lcf->twilio_token = { 0, NULL };
     *     lcf->twilio_account_sid = { 0, NULL };
     *     lcf->default_country = { 0, NULL };
     *     lcf->sms_from = { 0, NULL };
     */

    lcf->backend_timeout = NGX_CONF_UNSET_MSEC;
    lcf->max_recipients = NGX_CONF_UNSET_UINT;
    lcf->max_body = NGX_CONF_UNSET_SIZE;
    lcf->import_max_body = NGX_CONF_UNSET;
    lcf->cookie_secure = NGX_CONF_UNSET;
    lcf->sendgrid_key = NGX_CONF_UNSET_PTR;
    lcf->sendgrid_tolerance = NGX_CONF_UNSET;

    return lcf;
}


static char *
ngx_http_broadcast_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_broadcast_loc_conf_t *prev = parent;
    ngx_http_broadcast_loc_conf_t *conf = child;

    ngx_conf_merge_msec_value(conf->backend_timeout, prev->backend_timeout,
                              3000);

    ngx_conf_merge_uint_value(conf->max_recipients, prev->max_recipients,
                              1000);
    ngx_conf_merge_size_value(conf->max_body, prev->max_body, 1024 * 1024);
    ngx_conf_merge_off_value(conf->import_max_body, prev->import_max_body,
                             100 * 1024 * 1024);
    ngx_conf_merge_value(conf->cookie_secure, prev->cookie_secure, 1);
    ngx_conf_merge_str_value(conf->default_country, prev->default_country,
                             "US");
    ngx_conf_merge_str_value(conf->sms_from, prev->sms_from, "");
    ngx_conf_merge_str_value(conf->whatsapp_from, prev->whatsapp_from, "");
    ngx_conf_merge_str_value(conf->email_from, prev->email_from, "");
    ngx_conf_merge_str_value(conf->sms_opt_out_text, prev->sms_opt_out_text,
                             "");
    ngx_conf_merge_str_value(conf->email_from_name, prev->email_from_name,
                             "");

    if (ngx_http_broadcast_privacy_merge(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }
    /* each provider's directives, and what its webhook location needs */
    return ngx_http_broadcast_providers_merge(cf, prev, conf);
}


static char *
ngx_http_broadcast_handler_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_broadcast_loc_conf_t *lcf = conf;

    ngx_str_t                       *value;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_broadcast_main_conf_t  *mcf;

    if (lcf->kind != NGX_HTTP_BROADCAST_NONE) {
        return "is duplicate";
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_broadcast_module);
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    lcf->kind = cmd->offset;
    mcf->used = 1;

    if (lcf->kind == NGX_HTTP_BROADCAST_API) {
        mcf->api_used = 1;
    }

    if (lcf->kind == NGX_HTTP_BROADCAST_WEBHOOK) {
        value = cf->args->elts;

        lcf->webhook_provider = ngx_http_broadcast_provider_by_name(cf,
                                                                    &value[1]);
        if (lcf->webhook_provider == NULL) {
            return NGX_CONF_ERROR;
        }

        /* a kind: the location answers that one whatever its path */
        if (cf->args->nelts == 3) {
            if (lcf->webhook_provider->kind == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "broadcast_webhook %V takes no kind",
                                   &value[1]);
                return NGX_CONF_ERROR;
            }

            if (lcf->webhook_provider->kind(cf, lcf, &value[2])
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }
        }

        clcf->handler = lcf->webhook_provider->handler;
        return NGX_CONF_OK;
    }

    clcf->handler = ngx_http_broadcast_kind_handlers[lcf->kind];

    return NGX_CONF_OK;
}


static char *
ngx_http_broadcast_country(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_broadcast_loc_conf_t *lcf = conf;

    ngx_str_t  *value;

    if (lcf->default_country.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (!bc_phone_region_valid((char *) value[1].data)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown region \"%V\" in broadcast_default_country "
                           "(expected an ISO 3166 code such as US or GB)",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    lcf->default_country = value[1];

    return NGX_CONF_OK;
}


/*
 * prefix and the E.164 form of a number written as prefix "+...", copied
 * into field; NGX_DECLINED if it is not such a number
 */
static ngx_int_t
ngx_http_broadcast_conf_number(ngx_conf_t *cf, ngx_str_t *value,
    const char *prefix, size_t prefix_len, ngx_str_t *field)
{
    char         out[BC_PHONE_MAX];
    u_char      *p;
    size_t       len;
    const char  *reason;

    if (value->len < prefix_len + 1
        || ngx_strncmp(value->data, prefix, prefix_len) != 0
        || value->data[prefix_len] != '+'
        || bc_phone_normalize((char *) value->data + prefix_len,
                              value->len - prefix_len, "US", out, &reason)
           != 0)
    {
        return NGX_DECLINED;
    }

    len = prefix_len + ngx_strlen(out);

    field->data = ngx_pnalloc(cf->pool, len + 1);
    if (field->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(field->data, prefix, prefix_len);
    ngx_cpystrn(p, (u_char *) out, len - prefix_len + 1);
    field->len = len;

    return NGX_OK;
}


static char *
ngx_http_broadcast_sms_from(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_broadcast_loc_conf_t *lcf = conf;

    ngx_int_t   rc;
    ngx_str_t  *value;

    if (lcf->sms_from.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rc = ngx_http_broadcast_conf_number(cf, &value[1], "", 0,
                                        &lcf->sms_from);

    if (rc == NGX_DECLINED) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number \"%V\" in broadcast_sms_from "
                           "(expected E.164, e.g. +15005550006)", &value[1]);
    }

    return (rc == NGX_OK) ? NGX_CONF_OK : NGX_CONF_ERROR;
}


/* whatsapp:+E164 (Twilio) or meta:<phone-number-id> */
static char *
ngx_http_broadcast_whatsapp_from(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_broadcast_loc_conf_t *lcf = conf;

    ngx_int_t    rc;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (lcf->whatsapp_from.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len > 5 && ngx_strncmp(value[1].data, "meta:", 5) == 0) {

        for (i = 5; i < value[1].len; i++) {
            if (value[1].data[i] < '0' || value[1].data[i] > '9') {
                goto invalid;
            }
        }

        lcf->whatsapp_from = value[1];
        return NGX_CONF_OK;
    }

    rc = ngx_http_broadcast_conf_number(cf, &value[1], BC_WA_PREFIX,
                                        BC_WA_PREFIX_LEN, &lcf->whatsapp_from);

    if (rc == NGX_OK) {
        return NGX_CONF_OK;
    }

    if (rc == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid sender \"%V\" in broadcast_whatsapp_from "
                       "(expected whatsapp:+E164 or meta:<phone-number-id>)",
                       &value[1]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_broadcast_email_from(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_broadcast_loc_conf_t *lcf = conf;

    char        addr[BC_EMAIL_MAX + 1];
    ngx_str_t  *value;

    if (lcf->email_from.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* the rules of the API's addresses; stored lower-cased */
    if (!bc_email_valid((char *) value[1].data, value[1].len, addr)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid address \"%V\" in broadcast_email_from",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(value[1].data, addr, value[1].len);

    lcf->email_from = value[1];

    return NGX_CONF_OK;
}


/* broadcast_public_url and the provider API bases: http(s)://, no final / */
static char *
ngx_http_broadcast_base_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t  *field, *value, url;

    field = (ngx_str_t *) (p + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    url = value[1];

    if (!((url.len > 7 && ngx_strncasecmp(url.data, (u_char *) "http://", 7)
           == 0)
          || (url.len > 8
              && ngx_strncasecmp(url.data, (u_char *) "https://", 8) == 0)))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid URL \"%V\" in \"%V\" (expected http:// "
                           "or https://)", &url, &cmd->name);
        return NGX_CONF_ERROR;
    }

    /* a URL is this base + a path that starts with '/' (Twilio signs one) */
    while (url.len && url.data[url.len - 1] == '/') {
        url.len--;
    }

    *field = url;

    return NGX_CONF_OK;
}


static char *
ngx_http_broadcast_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    char       *secret, err[256];
    size_t      len;
    ngx_str_t  *field, *value, path;

    field = (ngx_str_t *) (p + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    secret = bc_read_secret_file((char *) path.data, err, sizeof(err));
    if (secret == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cannot read \"%V\" file \"%V\": %s", &cmd->name,
                           &path, err);
        return NGX_CONF_ERROR;
    }

    len = ngx_strlen(secret);

    if (len == 0) {
        free(secret);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" file \"%V\" is empty",
                           &cmd->name, &path);
        return NGX_CONF_ERROR;
    }

    field->data = ngx_pnalloc(cf->pool, len + 1);
    if (field->data == NULL) {
        explicit_bzero(secret, len);
        free(secret);
        return NGX_CONF_ERROR;
    }

    ngx_cpystrn(field->data, (u_char *) secret, len + 1);
    field->len = len;

    explicit_bzero(secret, len);
    free(secret);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_broadcast_init_process(ngx_cycle_t *cycle)
{
    /* once, before any pool thread opens a connection */
    if (mysql_library_init(0, NULL, NULL) != 0) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "mysql_library_init() failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_broadcast_exit_process(ngx_cycle_t *cycle)
{
    /* the thread pools have been joined by now (they exit earlier) */
    ngx_http_broadcast_ac_close();
    ngx_http_broadcast_conn_close_all();
}

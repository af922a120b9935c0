/*
 * ngx_http_broadcast_module: the broadcast API, admin and webhook endpoints
 * inside nginx workers. This file holds the directives, the module context,
 * configuration create/merge and the process hooks; the areas live in src/.
 */


#include "ngx_http_broadcast_common.h"

#include "bc_conf.h"
#include "bc_phone.h"


static ngx_int_t ngx_http_broadcast_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_broadcast_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_broadcast_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_broadcast_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_broadcast_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_broadcast_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_broadcast_mysql(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_broadcast_handler_set(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_broadcast_public_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_broadcast_account_sid(ngx_conf_t *cf,
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


static ngx_command_t  ngx_http_broadcast_commands[] = {

    { ngx_string("broadcast_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
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

    { ngx_string("broadcast_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_broadcast_handler_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_BROADCAST_API,
      NULL },

    { ngx_string("broadcast_webhook"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_handler_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_BROADCAST_WEBHOOK,
      NULL },

    /* webhooks (issue 3) */
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

    { ngx_string("broadcast_public_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_public_url,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("broadcast_twilio_auth_token_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, twilio_token),
      NULL },

    { ngx_string("broadcast_twilio_account_sid"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_account_sid,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("broadcast_default_country"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_country,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
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

    { ngx_string("broadcast_sms_from"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_sms_from,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    /* API channels (issue 3) */

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

    { ngx_string("broadcast_twilio_content_base"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_broadcast_base_url,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_broadcast_loc_conf_t, twilio_content_base),
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
     *     lcf->public_url = { 0, NULL };
     *     lcf->twilio_token = { 0, NULL };
     *     lcf->twilio_account_sid = { 0, NULL };
     *     lcf->default_country = { 0, NULL };
     *     lcf->sms_from = { 0, NULL };
     */

    lcf->backend_timeout = NGX_CONF_UNSET_MSEC;
    lcf->max_recipients = NGX_CONF_UNSET_UINT;
    lcf->max_body = NGX_CONF_UNSET_SIZE;
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
    ngx_conf_merge_str_value(conf->public_url, prev->public_url, "");
    ngx_conf_merge_str_value(conf->twilio_token, prev->twilio_token, "");
    ngx_conf_merge_str_value(conf->twilio_account_sid,
                             prev->twilio_account_sid, "");
    ngx_conf_merge_str_value(conf->default_country, prev->default_country,
                             "US");
    ngx_conf_merge_uint_value(conf->max_recipients, prev->max_recipients,
                              1000);
    ngx_conf_merge_size_value(conf->max_body, prev->max_body, 1024 * 1024);
    ngx_conf_merge_value(conf->cookie_secure, prev->cookie_secure, 1);
    ngx_conf_merge_str_value(conf->sms_from, prev->sms_from, "");

    /* API channels (issue 3) */
    ngx_conf_merge_str_value(conf->whatsapp_from, prev->whatsapp_from, "");
    ngx_conf_merge_str_value(conf->email_from, prev->email_from, "");
    ngx_conf_merge_str_value(conf->email_from_name, prev->email_from_name,
                             "");
    ngx_conf_merge_str_value(conf->twilio_content_base,
                             prev->twilio_content_base,
                             "https://content.twilio.com");
    ngx_conf_merge_str_value(conf->meta_graph_base, prev->meta_graph_base,
                             "https://graph.facebook.com/v21.0");
    ngx_conf_merge_str_value(conf->meta_access_token,
                             prev->meta_access_token, "");
    ngx_conf_merge_str_value(conf->meta_waba_id, prev->meta_waba_id, "");
    ngx_conf_merge_str_value(conf->meta_phone_number_id,
                             prev->meta_phone_number_id, "");

    /* webhook directives: checked per provider in webhook.c */
    if (ngx_http_broadcast_webhook_merge(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_broadcast_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_broadcast_main_conf_t *mcf = conf;

    ngx_str_t  *value;

    if (mcf->redis_spec.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (bc_redis_conf_parse(&mcf->redis, (char *) value[1].data,
                            value[1].len)
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid Redis address \"%V\" in broadcast_redis "
                           "(expected <ip>:<port> or unix:<path>)", &value[1]);
        return NGX_CONF_ERROR;
    }

    mcf->redis_spec = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_http_broadcast_mysql(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_broadcast_main_conf_t *mcf = conf;

    char        *secret, err[256];
    u_char      *colon;
    ngx_str_t   *value, addr, s;
    ngx_int_t    port;
    ngx_uint_t   i;
    struct in6_addr  a6;

    if (mcf->mysql_set == 1) {
        return "is duplicate";
    }

    value = cf->args->elts;
    addr = value[1];

    if (addr.len > 5 && ngx_strncmp(addr.data, "unix:", 5) == 0) {
        if (addr.len - 5 >= sizeof(mcf->mysql.socket)) {
            goto invalid_addr;
        }

        ngx_memcpy(mcf->mysql.socket, addr.data + 5, addr.len - 5);

    } else {
        colon = NULL;

        /* the last ':' separates the port, so IPv6 works in brackets too */
        for (i = addr.len; i > 0; i--) {
            if (addr.data[i - 1] == ':') {
                colon = &addr.data[i - 1];
                break;
            }
        }

        if (colon == NULL) {
            goto invalid_addr;
        }

        port = ngx_atoi(colon + 1, addr.data + addr.len - colon - 1);
        if (port < 1 || port > 65535) {
            goto invalid_addr;
        }

        s.data = addr.data;
        s.len = colon - addr.data;

        if (s.len > 2 && s.data[0] == '[' && s.data[s.len - 1] == ']') {
            s.data++;
            s.len -= 2;
        }

        if (s.len == 0 || s.len >= sizeof(mcf->mysql.host)) {
            goto invalid_addr;
        }

        /* an IP literal: libmariadb would resolve a name with blocking DNS */
        if (ngx_inet_addr(s.data, s.len) == INADDR_NONE
#if (NGX_HAVE_INET6)
            && ngx_inet6_addr(s.data, s.len, a6.s6_addr) != NGX_OK
#endif
           )
        {
            goto invalid_addr;
        }

        ngx_memcpy(mcf->mysql.host, s.data, s.len);
        mcf->mysql.port = (unsigned) port;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "database=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            if (s.len == 0 || s.len >= sizeof(mcf->mysql.database)) {
                goto invalid_param;
            }

            ngx_memcpy(mcf->mysql.database, s.data, s.len);
            continue;
        }

        if (ngx_strncmp(value[i].data, "user=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            if (s.len == 0 || s.len >= sizeof(mcf->mysql.user)) {
                goto invalid_param;
            }

            ngx_memcpy(mcf->mysql.user, s.data, s.len);
            continue;
        }

        if (ngx_strncmp(value[i].data, "password_file=", 14) == 0) {
            s.data = value[i].data + 14;
            s.len = value[i].len - 14;

            if (s.len == 0) {
                goto invalid_param;
            }

            if (ngx_conf_full_name(cf->cycle, &s, 1) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            secret = bc_read_secret_file((char *) s.data, err, sizeof(err));
            if (secret == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "cannot read MySQL password file \"%V\" "
                                   "in broadcast_mysql: %s", &s, err);
                return NGX_CONF_ERROR;
            }

            if (ngx_strlen(secret) >= sizeof(mcf->mysql.password)) {
                explicit_bzero(secret, ngx_strlen(secret));
                free(secret);
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "MySQL password in \"%V\" is too long", &s);
                return NGX_CONF_ERROR;
            }

            ngx_cpystrn((u_char *) mcf->mysql.password, (u_char *) secret,
                        sizeof(mcf->mysql.password));
            explicit_bzero(secret, ngx_strlen(secret));
            free(secret);
            continue;
        }

        goto invalid_param;
    }

    if (mcf->mysql.database[0] == '\0' || mcf->mysql.user[0] == '\0') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "broadcast_mysql requires \"database=\" and "
                           "\"user=\"");
        return NGX_CONF_ERROR;
    }

    mcf->mysql_set = 1;

    return NGX_CONF_OK;

invalid_addr:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid MySQL address \"%V\" in broadcast_mysql "
                       "(expected <ip>:<port> or unix:<path>)", &addr);
    return NGX_CONF_ERROR;

invalid_param:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in broadcast_mysql",
                       &value[i]);
    return NGX_CONF_ERROR;
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

    switch (lcf->kind) {

    case NGX_HTTP_BROADCAST_API:
        mcf->api_used = 1;
        clcf->handler = ngx_http_broadcast_api_handler;
        break;

    case NGX_HTTP_BROADCAST_WEBHOOK:
        value = cf->args->elts;

        if (ngx_strcmp(value[1].data, "twilio") == 0) {
            lcf->webhook_provider = NGX_HTTP_BROADCAST_WH_TWILIO;

        } else if (ngx_strcmp(value[1].data, "sendgrid") == 0) {
            lcf->webhook_provider = NGX_HTTP_BROADCAST_WH_SENDGRID;

        } else if (ngx_strcmp(value[1].data, "meta") == 0) {
            lcf->webhook_provider = NGX_HTTP_BROADCAST_WH_META;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown provider \"%V\" in broadcast_webhook "
                               "(supported: twilio, sendgrid, meta)",
                               &value[1]);
            return NGX_CONF_ERROR;
        }

        clcf->handler = ngx_http_broadcast_webhook_handler;
        break;

    case NGX_HTTP_BROADCAST_METRICS:
        clcf->handler = ngx_http_broadcast_metrics_handler;
        break;

    default: /* NGX_HTTP_BROADCAST_HEALTH */
        clcf->handler = ngx_http_broadcast_health_handler;
        break;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_broadcast_public_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_broadcast_loc_conf_t *lcf = conf;

    ngx_str_t  *value, url;

    if (lcf->public_url.data) {
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
                           "invalid URL \"%V\" in broadcast_public_url "
                           "(expected http://host or https://host)", &url);
        return NGX_CONF_ERROR;
    }

    /* the signed URL is this base + the request URI, which starts with '/' */
    while (url.len && url.data[url.len - 1] == '/') {
        url.len--;
    }

    lcf->public_url = url;

    return NGX_CONF_OK;
}


static char *
ngx_http_broadcast_account_sid(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_broadcast_loc_conf_t *lcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (lcf->twilio_account_sid.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len != 34 || value[1].data[0] != 'A'
        || value[1].data[1] != 'C')
    {
        goto invalid;
    }

    for (i = 2; i < 34; i++) {
        if (!isxdigit(value[1].data[i])) {
            goto invalid;
        }
    }

    lcf->twilio_account_sid = value[1];

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid Twilio account SID \"%V\" in "
                       "broadcast_twilio_account_sid (expected AC and 32 hex "
                       "digits)", &value[1]);
    return NGX_CONF_ERROR;
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


static char *
ngx_http_broadcast_sms_from(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_broadcast_loc_conf_t *lcf = conf;

    char         out[BC_PHONE_MAX];
    size_t       len;
    ngx_str_t   *value;
    const char  *reason;

    if (lcf->sms_from.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].data[0] != '+'
        || bc_phone_normalize((char *) value[1].data, value[1].len, "US", out,
                              &reason)
           != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number \"%V\" in broadcast_sms_from "
                           "(expected E.164, e.g. +15005550006)", &value[1]);
        return NGX_CONF_ERROR;
    }

    len = ngx_strlen(out);

    lcf->sms_from.data = ngx_pnalloc(cf->pool, len + 1);
    if (lcf->sms_from.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_cpystrn(lcf->sms_from.data, (u_char *) out, len + 1);
    lcf->sms_from.len = len;

    return NGX_CONF_OK;
}


/* API channels (issue 3) */

static char *
ngx_http_broadcast_whatsapp_from(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_broadcast_loc_conf_t *lcf = conf;

    char         out[BC_PHONE_MAX];
    size_t       len;
    ngx_str_t   *value;
    ngx_uint_t   i;
    const char  *reason;

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

    if (value[1].len < 10
        || ngx_strncmp(value[1].data, "whatsapp:+", 10) != 0
        || bc_phone_normalize((char *) value[1].data + 9, value[1].len - 9,
                              "US", out, &reason)
           != 0)
    {
        goto invalid;
    }

    len = 9 + ngx_strlen(out);

    lcf->whatsapp_from.data = ngx_pnalloc(cf->pool, len + 1);
    if (lcf->whatsapp_from.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(lcf->whatsapp_from.data, "whatsapp:%s%Z", out);
    lcf->whatsapp_from.len = len;

    return NGX_CONF_OK;

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

    u_char      *at;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (lcf->email_from.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    at = ngx_strlchr(value[1].data, value[1].data + value[1].len, '@');

    if (value[1].len > 254 || at == NULL || at == value[1].data
        || ngx_strlchr(at + 1, value[1].data + value[1].len, '.') == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid address \"%V\" in broadcast_email_from",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < value[1].len; i++) {
        value[1].data[i] = ngx_tolower(value[1].data[i]);
    }

    lcf->email_from = value[1];

    return NGX_CONF_OK;
}


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

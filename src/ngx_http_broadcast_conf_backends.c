/*
 * The backend directives: broadcast_redis and broadcast_mysql, an address
 * and name=value parameters (user=, password_file=, database=) read by
 * the shared parsers of common/ (bc_redis.c, bc_mysql_conf.c).
 */


#include "ngx_http_broadcast_common.h"

#include "bc_mysql_conf.h"


/*
 * one name=value parameter of broadcast_redis or broadcast_mysql: *eq at
 * the '=', *v the value, a password_file made a full path. NGX_OK,
 * NGX_DECLINED (no '='), or NGX_ERROR
 */
static ngx_int_t
ngx_http_broadcast_conf_param(ngx_conf_t *cf, ngx_str_t *param, u_char **eq,
    ngx_str_t *v)
{
    *eq = ngx_strlchr(param->data, param->data + param->len, '=');
    if (*eq == NULL) {
        return NGX_DECLINED;
    }

    v->data = *eq + 1;
    v->len = param->data + param->len - v->data;

    if (v->len > 0 && *eq - param->data == 13
        && ngx_strncmp(param->data, "password_file", 13) == 0
        && ngx_conf_full_name(cf->cycle, v, 1) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * wait_replicas=N (0..16) and wait_timeout=TIME (default 100ms) of
 * broadcast_redis; NGX_DECLINED for another parameter
 */
static ngx_int_t
ngx_http_broadcast_redis_wait_param(ngx_conf_t *cf,
    ngx_http_broadcast_main_conf_t *mcf, ngx_str_t *param, u_char *eq,
    ngx_str_t *v)
{
    ngx_int_t   n;
    ngx_msec_t  ms;
    size_t      name = eq - param->data;

    if (name == 13 && ngx_strncmp(param->data, "wait_replicas", 13) == 0) {
        n = ngx_atoi(v->data, v->len);

        if (n == NGX_ERROR || n > 16) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "broadcast_redis: wait_replicas must be a "
                               "number from 0 to 16, not \"%V\"", v);
            return NGX_ERROR;
        }

        mcf->redis_wait_replicas = (ngx_uint_t) n;
        ngx_sprintf((u_char *) mcf->redis_wait_n, "%i%Z", n);
        return NGX_OK;
    }

    if (name == 12 && ngx_strncmp(param->data, "wait_timeout", 12) == 0) {
        ms = ngx_parse_time(v, 0);

        if (ms == (ngx_msec_t) NGX_ERROR || ms == 0 || ms > 10000) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "broadcast_redis: wait_timeout must be a time "
                               "from 1ms to 10s, not \"%V\"", v);
            return NGX_ERROR;
        }

        ngx_sprintf((u_char *) mcf->redis_wait_ms, "%M%Z", ms);
        return NGX_OK;
    }

    return NGX_DECLINED;
}


char *
ngx_http_broadcast_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_broadcast_main_conf_t *mcf = conf;

    char         err[256];
    u_char      *eq;
    ngx_int_t    rc;
    ngx_str_t   *value, s;
    ngx_uint_t   i;

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

    /* more addresses: Redis Cluster seeds (common/bc_rc.h);
       user=NAME password_file=PATH: Redis 6+ ACL authentication */
    for (i = 2; i < cf->args->nelts; i++) {
        if (ngx_strlchr(value[i].data, value[i].data + value[i].len, '=')
            == NULL)
        {
            if (bc_redis_conf_add_seed(&mcf->redis, (char *) value[i].data,
                                       value[i].len, err, sizeof(err))
                != 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "broadcast_redis: %s", err);
                return NGX_CONF_ERROR;
            }
            continue;
        }

        rc = ngx_http_broadcast_conf_param(cf, &value[i], &eq, &s);

        if (rc == NGX_DECLINED) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in broadcast_redis "
                               "(<ip>:<port> user=NAME password_file=PATH "
                               "wait_replicas=N wait_timeout=TIME lanes=N)",
                           &value[i]);
            return NGX_CONF_ERROR;
        }

        if (rc != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        rc = ngx_http_broadcast_redis_wait_param(cf, mcf, &value[i], eq, &s);

        if (rc != NGX_DECLINED) {
            if (rc != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (bc_redis_conf_set(&mcf->redis, (char *) value[i].data,
                              eq - value[i].data, (char *) s.data, s.len,
                              err, sizeof(err))
            != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "broadcast_redis: %s", err);
            return NGX_CONF_ERROR;
        }
    }

    if (mcf->redis_wait_replicas && mcf->redis_wait_ms[0] == '\0') {
        ngx_sprintf((u_char *) mcf->redis_wait_ms, "100%Z");
    }

    mcf->redis_spec = value[1];

    return NGX_CONF_OK;
}


/*
 * broadcast_mysql and broadcast_mysql_replica: the address, then
 * database=, user=, password_file= (and the replica's max_lag=<seconds>)
 * into db; "name" is the directive's, for the messages
 */
static char *
ngx_http_broadcast_mysql_args(ngx_conf_t *cf, bc_db_conf_t *db,
    time_t *max_lag)
{
    char        err[256];
    u_char      *eq;
    ngx_int_t    rc;
    ngx_str_t   *value, addr, s, *name;
    ngx_uint_t   i;

    value = cf->args->elts;
    name = &value[0];
    addr = value[1];

    if (bc_mysql_conf_addr(db, (char *) addr.data, addr.len)
        != BC_MYSQL_CONF_OK)
    {
        goto invalid_addr;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        rc = ngx_http_broadcast_conf_param(cf, &value[i], &eq, &s);

        if (rc == NGX_DECLINED) {
            goto invalid_param;
        }

        if (rc != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        if (max_lag && eq - value[i].data == 7
            && ngx_strncmp(value[i].data, "max_lag", 7) == 0)
        {
            *max_lag = ngx_parse_time(&s, 1);
            if (*max_lag == (time_t) NGX_ERROR) {
                goto invalid_param;
            }
            continue;
        }

        rc = bc_mysql_conf_set(db, (char *) value[i].data,
                               eq - value[i].data, (char *) s.data, s.len,
                               1, err, sizeof(err));

        if (rc == BC_MYSQL_CONF_SECRET_UNREADABLE) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "cannot read MySQL password file \"%V\" "
                               "in %V: %s", &s, name, err);
            return NGX_CONF_ERROR;
        }

        if (rc == BC_MYSQL_CONF_SECRET_TOO_LONG) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "MySQL password in \"%V\" is too long", &s);
            return NGX_CONF_ERROR;
        }

        if (rc != BC_MYSQL_CONF_OK) {
            goto invalid_param;
        }
    }

    if (db->database[0] == '\0' || db->user[0] == '\0') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V requires \"database=\" and \"user=\"", name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid_addr:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid MySQL address \"%V\" in %V "
                       "(expected <ip>:<port> or unix:<path>)", &addr, name);
    return NGX_CONF_ERROR;

invalid_param:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in %V", &value[i], name);
    return NGX_CONF_ERROR;
}


char *
ngx_http_broadcast_mysql(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_broadcast_main_conf_t *mcf = conf;

    char  *rv;

    if (mcf->mysql_set == 1) {
        return "is duplicate";
    }

    rv = ngx_http_broadcast_mysql_args(cf, &mcf->mysql, NULL);

    if (rv == NGX_CONF_OK) {
        mcf->mysql_set = 1;
    }

    return rv;
}


/* heavy reads (listings, stats, exports) from a replica that is at most
   max_lag (default 5 s) behind: docs/DESIGN.md "MySQL replica" */
char *
ngx_http_broadcast_mysql_replica(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_broadcast_main_conf_t *mcf = conf;

    char  *rv;

    if (mcf->mysql_replica_set == 1) {
        return "is duplicate";
    }

    mcf->replica_max_lag = 5;

    rv = ngx_http_broadcast_mysql_args(cf, &mcf->mysql_replica,
                                       &mcf->replica_max_lag);

    if (rv == NGX_CONF_OK) {
        mcf->mysql_replica_set = 1;
    }

    return rv;
}

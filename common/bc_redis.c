/*
 * hiredis helpers: connection with timeouts, one reconnect on a connection
 * error, and the consumer groups.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "bc_conf.h"
#include "bc_redis.h"
#include "bc_rc.h"


int
bc_redis_conf_parse(bc_redis_conf_t *conf, const char *spec, size_t len)
{
    size_t       i, colon, host_start, host_end;
    unsigned     port;

    /* timeout_ms is the caller's: it may be set before or after this */
    conf->host[0] = '\0';
    conf->socket[0] = '\0';
    conf->port = 0;
    conf->nseeds = 0;

    if (len > 5 && strncmp(spec, "unix:", 5) == 0) {
        if (len - 5 >= sizeof(conf->socket) || spec[5] != '/') {
            return -1;
        }

        memcpy(conf->socket, spec + 5, len - 5);
        conf->socket[len - 5] = '\0';

        return 0;
    }

    colon = len;
    for (i = len; i > 0; i--) {
        if (spec[i - 1] == ':') {
            colon = i - 1;
            break;
        }
    }

    if (colon == len || colon == 0 || colon + 1 == len) {
        return -1;
    }

    /* "[::1]:6379" */
    host_start = 0;
    host_end = colon;

    if (spec[0] == '[') {
        if (spec[colon - 1] != ']') {
            return -1;
        }

        host_start = 1;
        host_end = colon - 1;
    }

    if (host_end <= host_start
        || host_end - host_start >= sizeof(conf->host))
    {
        return -1;
    }

    port = 0;
    for (i = colon + 1; i < len; i++) {
        if (spec[i] < '0' || spec[i] > '9') {
            return -1;
        }

        port = port * 10 + (unsigned) (spec[i] - '0');
        if (port > 65535) {
            return -1;
        }
    }

    if (port == 0) {
        return -1;
    }

    memcpy(conf->host, spec + host_start, host_end - host_start);
    conf->host[host_end - host_start] = '\0';
    conf->port = port;

    memcpy(conf->seeds[0].host, conf->host, sizeof(conf->host));
    conf->seeds[0].port = port;
    conf->nseeds = 1;

    return 0;
}


int
bc_redis_conf_add_seed(bc_redis_conf_t *conf, const char *spec, size_t len,
    char *err, size_t errlen)
{
    bc_redis_conf_t  one;

    if (conf->socket[0] || conf->nseeds == 0) {
        snprintf(err, errlen, "a Redis unix: socket must be the only "
                 "address: a cluster is given as several ip:port addresses");
        return -1;
    }

    if (conf->nseeds == BC_REDIS_SEEDS_MAX) {
        snprintf(err, errlen, "at most %d Redis addresses may be given",
                 BC_REDIS_SEEDS_MAX);
        return -1;
    }

    memset(&one, 0, sizeof(one));

    if (bc_redis_conf_parse(&one, spec, len) != 0 || one.socket[0]) {
        snprintf(err, errlen, "invalid Redis cluster address \"%.*s\" "
                 "(expected <ip>:<port>)", (int) (len < 80 ? len : 80), spec);
        return -1;
    }

    conf->seeds[conf->nseeds++] = one.seeds[0];

    return 0;
}


int
bc_redis_conf_parse_list(bc_redis_conf_t *conf, const char *spec,
    size_t len, char *err, size_t errlen)
{
    size_t  i, start, n;

    n = 0;
    i = 0;

    while (i < len) {
        if (spec[i] == ',' || spec[i] == ' ' || spec[i] == '\t') {
            i++;
            continue;
        }

        start = i;
        while (i < len && spec[i] != ',' && spec[i] != ' '
               && spec[i] != '\t')
        {
            i++;
        }

        if (n++ == 0) {
            if (bc_redis_conf_parse(conf, spec + start, i - start) != 0) {
                snprintf(err, errlen, "invalid Redis address \"%.*s\" "
                         "(expected <ip>:<port> or unix:<path>)",
                         (int) (i - start < 80 ? i - start : 80),
                         spec + start);
                return -1;
            }
            continue;
        }

        if (bc_redis_conf_add_seed(conf, spec + start, i - start, err,
                                   errlen)
            != 0)
        {
            return -1;
        }
    }

    if (n == 0) {
        snprintf(err, errlen, "no Redis address given");
        return -1;
    }

    return 0;
}


int
bc_redis_conf_set(bc_redis_conf_t *conf, const char *name, size_t name_len,
    const char *value, size_t len, char *err, size_t errlen)
{
    char  *secret, path[1024];

    if (name_len == 4 && strncmp(name, "user", 4) == 0) {
        if (len == 0 || len >= sizeof(conf->user)) {
            snprintf(err, errlen, "the Redis user must be 1 to %zu "
                     "characters", sizeof(conf->user) - 1);
            return -1;
        }
        memcpy(conf->user, value, len);
        conf->user[len] = '\0';
        return 0;
    }

    if (name_len == 13 && strncmp(name, "password_file", 13) == 0) {
        if (len == 0 || len >= sizeof(path)) {
            snprintf(err, errlen, "the Redis password_file path is empty "
                     "or too long");
            return -1;
        }
        memcpy(path, value, len);
        path[len] = '\0';

        secret = bc_read_secret_file(path, err, errlen);
        if (secret == NULL) {
            return -1;
        }

        len = strlen(secret);
        if (len == 0 || len >= sizeof(conf->password)) {
            snprintf(err, errlen, "the Redis password in \"%s\" is empty "
                     "or longer than %zu bytes", path,
                     sizeof(conf->password) - 1);
            explicit_bzero(secret, len);
            free(secret);
            return -1;
        }

        memcpy(conf->password, secret, len + 1);
        explicit_bzero(secret, len);
        free(secret);
        return 0;
    }

    if (name_len == 5 && strncmp(name, "lanes", 5) == 0) {
        unsigned  n = 0;
        size_t    i;

        for (i = 0; i < len && value[i] >= '0' && value[i] <= '9'
                    && n <= BC_LANES_MAX; i++)
        {
            n = n * 10 + (unsigned) (value[i] - '0');
        }
        if (len == 0 || i < len || n < 1 || n > BC_LANES_MAX) {
            snprintf(err, errlen, "lanes must be a number from 1 to %d",
                     BC_LANES_MAX);
            return -1;
        }
        conf->lanes = n;
        return 0;
    }

    snprintf(err, errlen, "unknown Redis setting \"%.*s\" (user, "
             "password_file, lanes)", (int) (name_len < 40 ? name_len : 40),
             name);
    return -1;
}


int
bc_redis_auth_argv(const bc_redis_conf_t *conf, const char **argv,
    size_t *argvlen)
{
    int  n = 0;

    if (conf->password[0] == '\0') {
        return 0;
    }

    argv[n] = "AUTH";
    argvlen[n++] = 4;

    if (conf->user[0]) {
        argv[n] = conf->user;
        argvlen[n++] = strlen(conf->user);
    }

    argv[n] = conf->password;
    argvlen[n++] = strlen(conf->password);

    return n;
}


/* AUTH on a fresh connection; 0, or -1 with err (never the password) */
static int
bc_redis_auth(redisContext *c, const bc_redis_conf_t *conf, char *err,
    size_t errlen)
{
    int          argc, rc;
    size_t       lens[3];
    const char  *argv[3];
    redisReply  *reply;

    argc = bc_redis_auth_argv(conf, argv, lens);
    if (argc == 0) {
        return 0;
    }

    reply = redisCommandArgv(c, argc, argv, lens);
    if (reply == NULL) {
        snprintf(err, errlen, "redis AUTH: %s", c->errstr);
        return -1;
    }

    rc = 0;
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "redis AUTH as \"%s\": %s",
                 conf->user[0] ? conf->user : "default", reply->str);
        rc = -1;
    }

    freeReplyObject(reply);
    return rc;
}


redisContext *
bc_redis_connect(const bc_redis_conf_t *conf, char *err, size_t errlen)
{
    redisContext    *c;
    struct timeval   tv;
    unsigned         ms;

    ms = conf->timeout_ms ? conf->timeout_ms : 3000;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;

    if (conf->socket[0]) {
        c = redisConnectUnixWithTimeout(conf->socket, tv);

    } else {
        c = redisConnectWithTimeout(conf->host, (int) conf->port, tv);
    }

    if (c == NULL) {
        snprintf(err, errlen, "redis: out of memory");
        return NULL;
    }

    if (c->err) {
        snprintf(err, errlen, "redis connect %s%s%u: %s",
                 conf->socket[0] ? conf->socket : conf->host,
                 conf->socket[0] ? "" : ":",
                 conf->socket[0] ? 0 : conf->port, c->errstr);
        redisFree(c);
        return NULL;
    }

    if (redisSetTimeout(c, tv) != REDIS_OK) {
        snprintf(err, errlen, "redis: cannot set the timeout: %s",
                 c->errstr);
        redisFree(c);
        return NULL;
    }

    if (bc_redis_auth(c, conf, err, errlen) != 0) {
        redisFree(c);
        return NULL;
    }

    /* batches of stream entries come back as replies of hundreds of KB:
       hiredis keeps its read buffer instead of freeing it after each one
       (a large free makes glibc consolidate all its small free chunks) */
    c->reader->maxbuf = 0;

    return c;
}


int
bc_redis_alive(const redisContext *c)
{
    char     b;
    ssize_t  n;

    if (c == NULL || c->err || c->fd < 0) {
        return 0;
    }

    /* an idle connection has nothing to read: EAGAIN. EOF (0) or an error
       means the server closed it; unread bytes mean it is out of step */
    n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}


redisReply *
bc_redis_cmd(bc_rc_t **rc, const bc_redis_conf_t *conf,
    int argc, const char **argv, const size_t *argvlen, char *err,
    size_t errlen)
{
    redisReply  *reply;
    int          attempt;

    for (attempt = 0; attempt < 2; attempt++) {

        /* a link with an error is unusable in hiredis, and one the server
           closed (a restart) would fail this command: start fresh */
        if (*rc != NULL && !bc_rc_alive(*rc)) {
            bc_rc_free(*rc);
            *rc = NULL;
        }

        if (*rc == NULL) {
            *rc = bc_rc_connect(conf, err, errlen);
            if (*rc == NULL) {
                continue;
            }
        }

        reply = bc_rc_command(*rc, argc, argv, argvlen);
        if (reply != NULL) {
            return reply;
        }

        snprintf(err, errlen, "redis %.*s: %s",
                 argc > 0 ? (int) (argvlen ? argvlen[0] : strlen(argv[0]))
                          : 0,
                 argc > 0 ? argv[0] : "", bc_rc_errstr(*rc));

        bc_rc_free(*rc);
        *rc = NULL;
    }

    return NULL;
}


static int
bc_redis_create_group(bc_rc_t *rc, const char *stream, const char *group,
    char *err, size_t errlen)
{
    redisReply  *reply;
    const char  *argv[6];
    int          ret;

    argv[0] = "XGROUP";
    argv[1] = "CREATE";
    argv[2] = stream;
    argv[3] = group;
    argv[4] = "0";
    argv[5] = "MKSTREAM";

    reply = bc_rc_command(rc, 6, argv, NULL);
    if (reply == NULL) {
        snprintf(err, errlen, "redis XGROUP CREATE %s: %s", stream,
                 bc_rc_errstr(rc));
        return -1;
    }

    ret = 0;

    /* BUSYGROUP: it exists already, which is what we want */
    if (reply->type == REDIS_REPLY_ERROR
        && strncmp(reply->str, "BUSYGROUP", 9) != 0)
    {
        snprintf(err, errlen, "redis XGROUP CREATE %s %s: %s", stream, group,
                 reply->str);
        ret = -1;
    }

    freeReplyObject(reply);

    return ret;
}


int
bc_redis_ensure_groups(bc_rc_t *rc, unsigned lanes, char *err, size_t errlen)
{
    char      key[64];
    unsigned  lane;

    for (lane = 0; lane < bc_lanes_n(lanes); lane++) {
        bc_lane_key(key, sizeof(key), BC_LANE_SEND, lane, BC_SFX_SEND_STREAM);
        if (bc_redis_create_group(rc, key, BC_GROUP_SENDERS, err, errlen)
            != 0)
        {
            return -1;
        }

        bc_lane_key(key, sizeof(key), BC_LANE_EVENTS, lane,
                    BC_SFX_EVENTS_STREAM);
        if (bc_redis_create_group(rc, key, BC_GROUP_RECORDERS, err, errlen)
            != 0)
        {
            return -1;
        }
    }

    return 0;
}


int
bc_redis_conf_from(bc_redis_conf_t *conf, const bc_conf_t *cf, char *err,
    size_t errlen)
{
    static const char *const  keys[3][2] = {
        { "redis_user", "user" }, { "redis_password_file", "password_file" },
        { "redis_lanes", "lanes" }
    };
    const char  *v;
    char         e[256];
    int          k;

    v = bc_conf_get(cf, "redis", "127.0.0.1:6379");
    if (bc_redis_conf_parse_list(conf, v, strlen(v), e, sizeof(e)) != 0) {
        snprintf(err, errlen, "redis: %s", e);
        return -1;
    }

    for (k = 0; k < 3; k++) {
        v = bc_conf_get(cf, keys[k][0], NULL);
        if (v != NULL && bc_redis_conf_set(conf, keys[k][1],
                                           strlen(keys[k][1]), v, strlen(v),
                                           e, sizeof(e)) != 0)
        {
            snprintf(err, errlen, "%s: %s", keys[k][0], e);
            return -1;
        }
    }

    return 0;
}

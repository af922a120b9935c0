/*
 * rc_probe: drives bc_rc (common/bc_rc.h) from stdin for t/44-redis-cluster.t.
 * Not installed.
 *
 *   rc_probe <addr[,addr...]> [user=NAME] [password_file=PATH]
 *
 * One command per line, words split on spaces. A line PIPE starts a
 * pipeline: the commands up to END are appended, then every reply is
 * printed in order. One line per reply:
 *   +STATUS  -ERROR  :INTEGER  $STRING  (nil)  *N[el,el,...]
 * and "!ERR <message>" when the client fails (a connection lost): the
 * probe then frees it and connects again before the next command, as the
 * module and the sender do. On connect it prints "MODE single|cluster".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>

#include "bc_rc.h"

#define RC_PROBE_ARGS  64
#define RC_PROBE_PIPE  256


static void
rc_probe_print(const redisReply *r)
{
    size_t  i;

    switch (r->type) {
    case REDIS_REPLY_STATUS:
        printf("+%s", r->str);
        break;
    case REDIS_REPLY_ERROR:
        printf("-%s", r->str);
        break;
    case REDIS_REPLY_INTEGER:
        printf(":%lld", r->integer);
        break;
    case REDIS_REPLY_NIL:
        printf("(nil)");
        break;
    case REDIS_REPLY_ARRAY:
        printf("*%zu[", r->elements);
        for (i = 0; i < r->elements; i++) {
            if (i > 0) {
                printf(",");
            }
            rc_probe_print(r->element[i]);
        }
        printf("]");
        break;
    default:
        /* strings, and a verbatim INFO reply: one line */
        printf("$");
        for (i = 0; i < r->len; i++) {
            putchar(r->str[i] == '\n' || r->str[i] == '\r' ? ' '
                                                           : r->str[i]);
        }
        break;
    }
}


static int
rc_probe_split(char *line, const char **argv)
{
    int    argc = 0;
    char  *tok, *save;

    for (tok = strtok_r(line, " \t\r\n", &save);
         tok != NULL && argc < RC_PROBE_ARGS;
         tok = strtok_r(NULL, " \t\r\n", &save))
    {
        argv[argc++] = tok;
    }

    return argc;
}


static bc_rc_t *
rc_probe_connect(const bc_redis_conf_t *conf)
{
    char      err[512];
    bc_rc_t  *rc;

    rc = bc_rc_connect(conf, err, sizeof(err));
    if (rc == NULL) {
        printf("!ERR %s\n", err);
        return NULL;
    }

    printf("MODE %s\n", bc_rc_is_cluster(rc) ? "cluster" : "single");
    return rc;
}


/* the commands of a PIPE ... END block: appended, then read in order */
static int
rc_probe_pipe(bc_rc_t *rc)
{
    char         lines[RC_PROBE_PIPE][512];
    const char  *argv[RC_PROBE_ARGS];
    redisReply  *r;
    int          n, i, argc, ok;

    for (n = 0; n < RC_PROBE_PIPE && fgets(lines[n], sizeof(lines[n]), stdin);
         n++)
    {
        if (strncmp(lines[n], "END", 3) == 0) {
            break;
        }
    }

    ok = 1;
    for (i = 0; i < n; i++) {
        argc = rc_probe_split(lines[i], argv);
        if (argc > 0 && bc_rc_append(rc, argc, argv, NULL) != REDIS_OK) {
            ok = 0;
            break;
        }
    }

    for (i = 0; ok && i < n; i++) {
        if (bc_rc_get_reply(rc, &r) != REDIS_OK) {
            ok = 0;
            break;
        }
        rc_probe_print(r);
        printf("\n");
        freeReplyObject(r);
    }

    if (!ok) {
        printf("!ERR %s\n", bc_rc_errstr(rc));
    }

    return ok;
}


int
main(int argc, char **argv)
{
    bc_redis_conf_t   conf;
    bc_rc_t          *rc;
    char              line[4096], err[512];
    const char       *args[RC_PROBE_ARGS];
    const char       *eq;
    redisReply       *r;
    int               i, n, ok;

    if (argc < 2) {
        fprintf(stderr, "usage: rc_probe <addr[,addr...]> [user=NAME] "
                "[password_file=PATH]\n");
        return 2;
    }

    /* a killed node: a write to its socket must fail, not end the probe */
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    memset(&conf, 0, sizeof(conf));
    conf.timeout_ms = 3000;

    if (bc_redis_conf_parse_list(&conf, argv[1], strlen(argv[1]), err,
                                 sizeof(err)) != 0)
    {
        fprintf(stderr, "rc_probe: %s\n", err);
        return 2;
    }

    for (i = 2; i < argc; i++) {
        eq = strchr(argv[i], '=');
        if (eq == NULL
            || bc_redis_conf_set(&conf, argv[i], (size_t) (eq - argv[i]),
                                 eq + 1, strlen(eq + 1), err, sizeof(err))
               != 0)
        {
            fprintf(stderr, "rc_probe: %s: %s\n", argv[i],
                    eq ? err : "expected name=value");
            return 2;
        }
    }

    rc = rc_probe_connect(&conf);

    while (fgets(line, sizeof(line), stdin) != NULL) {
        if (rc == NULL && (rc = rc_probe_connect(&conf)) == NULL) {
            continue;
        }

        if (strncmp(line, "PIPE", 4) == 0) {
            ok = rc_probe_pipe(rc);

        } else {
            n = rc_probe_split(line, args);
            if (n == 0) {
                continue;
            }

            r = bc_rc_command(rc, n, args, NULL);
            ok = r != NULL;
            if (ok) {
                rc_probe_print(r);
                printf("\n");
                freeReplyObject(r);
            } else {
                printf("!ERR %s\n", bc_rc_errstr(rc));
            }
        }

        if (!ok) {
            bc_rc_free(rc);
            rc = NULL;
        }
    }

    bc_rc_free(rc);
    return 0;
}

/*
 * The campaign dispatcher's reads of a MySQL replica (mysql_replica): an
 * audience page (campaign_fanout.c) is the one heavy read that decides no
 * send by itself (opt-outs, blacklist and never-repeat are checked on the
 * primary, and again at the claim), so it may go to the replica, but only
 * once the replica has applied everything the primary had committed when
 * the page was asked for: the primary's @@gtid_binlog_pos, then
 * MASTER_GTID_WAIT on the replica for at most mysql_replica_wait_ms. The
 * page is then what the primary would have read. A replica that is
 * behind, stopped or unreachable is left alone for SND_REPLICA_REST_MS and
 * the primary answers; nothing waits on it twice in a row.
 */
#include <stdio.h>
#include <string.h>

#include "sender.h"

#define SND_REPLICA_REST_MS  5000

enum { SND_REPLICA_UNKNOWN = 0, SND_REPLICA_READING, SND_REPLICA_RESTING };

void
snd_replica_close(snd_t *s)
{
    if (s->replica != NULL) {
        mysql_close(s->replica);
        s->replica = NULL;
    }
}

/* the replica rests: closed, not asked again for a while; logged when it
   starts resting */
static void
snd_replica_rest(snd_t *s, const char *why)
{
    if (s->replica_state != SND_REPLICA_RESTING) {
        snd_log(SND_LOG_WARN, "mysql replica: %s; audiences are read from "
            "the primary", why);
        s->replica_state = SND_REPLICA_RESTING;
    }
    snd_replica_close(s);
    s->replica_retry_ms = snd_now_ms() + SND_REPLICA_REST_MS;
}

/* the one value of a one-row, one-column SELECT on m into out; 0 or -1 */
static int
snd_replica_value(MYSQL *m, const char *sql, char *out, size_t len)
{
    MYSQL_RES  *res;
    MYSQL_ROW   row;
    int         rc = -1;

    if (m == NULL || mysql_query(m, sql) != 0
        || (res = mysql_store_result(m)) == NULL)
    {
        return -1;
    }
    row = mysql_fetch_row(res);
    if (row != NULL && row[0] != NULL && strlen(row[0]) < len) {
        strcpy(out, row[0]);
        rc = 0;
    }
    mysql_free_result(res);
    return rc;
}

/* 0 when the replica has applied what the primary has committed now */
static int
snd_replica_caught_up(snd_t *s)
{
    char  pos[512], esc[1100], sql[1200], v[32], err[256];

    if (snd_now_ms() < s->replica_retry_ms) {
        return -1;
    }
    if (snd_replica_value(s->db, "SELECT @@gtid_binlog_pos", pos,
                          sizeof(pos)) != 0)
    {
        return -1;                  /* the primary's: its caller sees it */
    }
    if (pos[0] == '\0') {
        snd_replica_rest(s, "the primary writes no binlog (no GTID to wait "
            "for)");
        return -1;
    }
    if (s->replica == NULL) {
        s->replica = bc_db_connect(&s->conf.replica, err, sizeof(err));
        if (s->replica == NULL) {
            snd_replica_rest(s, err);
            return -1;
        }
    }
    mysql_real_escape_string(s->replica, esc, pos, strlen(pos));
    snprintf(sql, sizeof(sql), "SELECT MASTER_GTID_WAIT('%s', %.3f)", esc,
             (double) s->conf.replica_wait_ms / 1000);
    if (snd_replica_value(s->replica, sql, v, sizeof(v)) != 0) {
        snd_replica_rest(s, mysql_error(s->replica));
        return -1;
    }
    if (strcmp(v, "0") != 0) {
        snd_replica_rest(s, "it is behind the primary by more than "
            "mysql_replica_wait_ms");
        return -1;
    }
    return 0;
}

MYSQL_RES *
snd_replica_select(snd_t *s, snd_buf_t *q)
{
    MYSQL_RES  *res;

    if (s->conf.replica_set && !q->oom && snd_replica_caught_up(s) == 0) {
        if (mysql_real_query(s->replica, q->p, (unsigned long) q->len) == 0
            && (res = mysql_store_result(s->replica)) != NULL)
        {
            snd_buf_free(q);
            if (s->replica_state != SND_REPLICA_READING) {
                snd_log(SND_LOG_INFO, "mysql replica: audiences are read "
                    "from it (caught up with the primary first)");
                s->replica_state = SND_REPLICA_READING;
            }
            return res;
        }
        snd_replica_rest(s, mysql_error(s->replica));
    }
    return snd_db_select(s, q);
}

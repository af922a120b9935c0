/*
 * Privacy in the sender (docs/DESIGN.md "Privacy"): the salted hash that
 * names an erased person in the suppression lists, and the retention
 * thread that purges old rows.
 *
 * The purge walks each table by primary key, retention_batch keys at a
 * time: one short statement (its own transaction, autocommit) per range,
 * restricted to the range's rows older than the kind's limit, then a pause
 * (retention_pause_ms), so no statement holds many row locks or a long
 * transaction on the hot tables. Messages are purged only once their send
 * is over (send_state 'done', status past queued/sending): a pending,
 * queued or in-flight message is never lost. Only one sender purges at a
 * time: each pass holds MySQL's GET_LOCK('bc_retention') on the thread's
 * connection (released at the pass's end, or with the connection).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sender.h"


static pthread_mutex_t  snd_salt_lock = PTHREAD_MUTEX_INITIALIZER;
static char             snd_salt[65];
static long long        snd_salt_next_ms;   /* next try while unknown */


void
snd_hashed_address(const char *salt, const char *peer, char *out)
{
    memcpy(out, "sha256:", 7);
    bc_crypt_address_hash(salt, peer, out + 7);
}


const char *
snd_privacy_salt(snd_t *s)
{
    snd_buf_t    q = { 0 };
    MYSQL_RES   *res;
    MYSQL_ROW    row;
    const char  *salt = NULL;

    pthread_mutex_lock(&snd_salt_lock);
    if (snd_salt[0] == '\0' && snd_now_ms() >= snd_salt_next_ms
        && s->db != NULL)
    {
        /* before migration 014 the table is missing: try again later */
        snd_salt_next_ms = snd_now_ms() + 60000;
        snd_buf_add(&q, "SELECT salt FROM privacy_salt WHERE id=1");
        if (mysql_real_query(s->db, q.p, q.len) == 0
            && (res = mysql_store_result(s->db)) != NULL)
        {
            row = mysql_fetch_row(res);
            if (row != NULL && row[0] != NULL && strlen(row[0]) == 64) {
                memcpy(snd_salt, row[0], 65);
            }
            mysql_free_result(res);
        }
        snd_buf_free(&q);
    }
    if (snd_salt[0] != '\0') {
        salt = snd_salt;
    }
    pthread_mutex_unlock(&snd_salt_lock);
    return salt;
}


/* ---- retention ---------------------------------------------------------- */

typedef struct {
    const char  *kind;        /* purged:<kind> in bc:metrics:sender */
    const char  *table;
    int          text_key;    /* the primary key is a ULID, else a BIGINT */
    const char  *action;      /* the statement, before its WHERE */
    const char  *time_col;
    const char  *cond;        /* more of the WHERE, or "" */
    size_t       days;        /* offsetof(snd_conf_t, the kind's days) */
} snd_purge_kind_t;

static const snd_purge_kind_t  snd_purge_kinds[] = {
    { "messages", "messages", 1, "DELETE FROM messages", "created_at",
      " AND send_state='done' AND status NOT IN ('pending','queued',"
      "'sending')", offsetof(snd_conf_t, retention_messages_days) },
    { "events", "message_events", 0, "DELETE FROM message_events",
      "received_at", "", offsetof(snd_conf_t, retention_events_days) },
    /* the raw webhook bodies: the parsed columns stay with the event */
    { "webhook_log", "message_events", 0,
      "UPDATE message_events SET payload=NULL", "received_at",
      " AND payload IS NOT NULL",
      offsetof(snd_conf_t, retention_webhook_log_days) },
};

#define SND_RELEASE_SQL  "DO RELEASE_LOCK('bc_retention')"

static pthread_t  snd_retention_thread;
static int        snd_retention_running;


static void
snd_retention_sleep(long ms)
{
    struct timespec  ts;

    while (!snd_stop && ms > 0) {
        ts.tv_sec = 0;
        ts.tv_nsec = (ms < 50 ? ms : 50) * 1000000L;
        nanosleep(&ts, NULL);
        ms -= 50;
    }
}


/* the last key of the next range after cursor (at most batch keys) into
   last; 1 found, 0 the table is walked, -1 error */
static int
snd_purge_range(snd_t *s, const snd_purge_kind_t *k, const char *cursor,
    char *last, size_t lastlen)
{
    snd_buf_t   q = { 0 };
    MYSQL_RES  *res;
    MYSQL_ROW   row;
    int         found = 0;

    snd_buf_add(&q, "SELECT MAX(id) FROM (SELECT id FROM %s WHERE id>",
                k->table);
    if (k->text_key) {
        snd_buf_cstr(s, &q, cursor);
    } else {
        snd_buf_add(&q, "%lld", atoll(cursor));
    }
    snd_buf_add(&q, " ORDER BY id LIMIT %d) r", s->conf.retention_batch);
    res = snd_db_select(s, &q);
    if (res == NULL) {
        return -1;
    }
    row = mysql_fetch_row(res);
    if (row != NULL && row[0] != NULL) {
        snprintf(last, lastlen, "%s", row[0]);
        found = 1;
    }
    mysql_free_result(res);
    return found;
}


/* purges the range (cursor, last] of kind k; rows affected, or -1 */
static long long
snd_purge_batch(snd_t *s, const snd_purge_kind_t *k, int days,
    const char *cursor, const char *last)
{
    snd_buf_t  q = { 0 };
    long long  n;

    snd_buf_add(&q, "%s WHERE id>", k->action);
    if (k->text_key) {
        snd_buf_cstr(s, &q, cursor);
        snd_buf_add(&q, " AND id<=");
        snd_buf_cstr(s, &q, last);
    } else {
        snd_buf_add(&q, "%lld AND id<=%lld", atoll(cursor), atoll(last));
    }
    snd_buf_add(&q, " AND %s<UTC_TIMESTAMP(3)-INTERVAL %d DAY%s",
                k->time_col, days, k->cond);
    if (snd_db_run(s, &q) != 0) {
        snd_buf_free(&q);
        return -1;
    }
    snd_buf_free(&q);
    n = (long long) mysql_affected_rows(s->db);
    return n > 0 ? n : 0;
}


static void
snd_purge_metric(snd_t *s, const char *kind, long long n)
{
    char         field[64], num[32];
    const char  *argv[4] = { "HINCRBY", BC_KEY_SENDER_METRICS, field, num };
    redisReply  *r;

    if (n <= 0 || snd_redis_ok(s) != 0) {
        return;
    }
    snprintf(field, sizeof(field), "purged:%s", kind);
    snprintf(num, sizeof(num), "%lld", n);
    r = snd_redis_argv(s, 4, argv);
    if (r != NULL) {
        freeReplyObject(r);
    }
}


/* one walk of a kind's table; 0, or -1 (the connection failed) */
static int
snd_purge_kind(snd_t *s, const snd_purge_kind_t *k, int days)
{
    char       cursor[64] = "", last[64];
    long long  n, total = 0;
    int        rc;

    if (!k->text_key) {
        strcpy(cursor, "0");
    }
    while (!snd_stop) {
        rc = snd_purge_range(s, k, cursor, last, sizeof(last));
        if (rc <= 0) {
            break;
        }
        n = snd_purge_batch(s, k, days, cursor, last);
        if (n < 0) {
            return -1;
        }
        snd_purge_metric(s, k->kind, n);
        total += n;
        memcpy(cursor, last, sizeof(cursor));
        if (n > 0) {
            snd_retention_sleep(s->conf.retention_pause_ms);
        }
    }
    if (total > 0) {
        snd_log(SND_LOG_INFO, "retention: %lld %s purged (older than %d "
                "days)", total, k->kind, days);
    }
    return rc < 0 ? -1 : 0;
}


/* one pass over every kind with a limit, under the lock; 1 if the lock
   was held by another sender */
static int
snd_retention_pass(snd_t *s)
{
    snd_buf_t   q = { 0 };
    MYSQL_RES  *res;
    MYSQL_ROW   row;
    size_t      i;
    int         days, got = 0;

    if (snd_db_ok(s) != 0) {
        return 0;
    }
    snd_buf_add(&q, "SELECT GET_LOCK('bc_retention',0)");
    res = snd_db_select(s, &q);
    if (res == NULL) {
        return 0;
    }
    row = mysql_fetch_row(res);
    got = row != NULL && row[0] != NULL && strcmp(row[0], "1") == 0;
    mysql_free_result(res);
    if (!got) {
        return 1;
    }
    for (i = 0; i < sizeof(snd_purge_kinds) / sizeof(snd_purge_kinds[0]) && !snd_stop; i++) {
        days = *(int *) ((char *) &s->conf + snd_purge_kinds[i].days);
        if (days > 0 && snd_purge_kind(s, &snd_purge_kinds[i], days) != 0) {
            break;
        }
    }
    if (s->db != NULL) {
        snd_db_exec(s, SND_RELEASE_SQL, sizeof(SND_RELEASE_SQL) - 1);
    }
    return 0;
}


static void *
snd_retention_main(void *arg)
{
    snd_t  *s = arg;

    while (!snd_stop) {
        snd_retention_pass(s);
        snd_retention_sleep(s->conf.retention_interval_s * 1000L);
    }
    if (s->redis != NULL) {
        bc_rc_free(s->redis);
    }
    if (s->db != NULL) {
        mysql_close(s->db);
    }
    snd_buf_release();
    mysql_thread_end();
    free(s);
    return NULL;
}


int
snd_retention_start(snd_t *main_s)
{
    snd_t     *s;
    sigset_t   block, old;
    int        err;

    if (main_s->conf.retention_messages_days == 0
        && main_s->conf.retention_events_days == 0
        && main_s->conf.retention_webhook_log_days == 0)
    {
        return 0;
    }
    s = calloc(1, sizeof(snd_t));
    if (s == NULL) {
        return -1;
    }
    /* the configuration by value, without the provider secrets */
    s->conf = main_s->conf;
    s->conf.twilio_auth_token = NULL;
    s->conf.meta_access_token = NULL;
    s->conf.sendgrid_api_key = NULL;

    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    err = pthread_create(&snd_retention_thread, NULL, snd_retention_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        snd_log(SND_LOG_ERR, "retention thread: %s", strerror(err));
        free(s);
        return -1;
    }
    snd_retention_running = 1;
    return 0;
}


void
snd_retention_stop(void)
{
    if (snd_retention_running) {
        pthread_join(snd_retention_thread, NULL);
        snd_retention_running = 0;
    }
}

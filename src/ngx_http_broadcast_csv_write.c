/*
 * The CSV import's batches into MySQL (csv_import.c parses): one
 * transaction per batch, the rows as one multi-row upsert by normalised
 * address returning their ids, tags and memberships as multi-row inserts, and the imports row's counters in the same commit. A writer
 * thread of the import's own does this for one batch while the parse
 * fills the next: the two halves cost about the same CPU (libphonenumber
 * on one side, the server's upserts on the other), so the import takes
 * about the longer of them rather than their sum.
 */


#include "ngx_http_broadcast_csv_import.h"


static int
ngx_http_broadcast_csv_exec(ngx_http_broadcast_csv_state_t *st,
    ngx_http_broadcast_sql_t *sql)
{
    MYSQL  *m = st->conn->mysql;

    if (sql->failed) {
        snprintf(st->wmessage, sizeof(st->wmessage), "out of memory");
        return -1;
    }

    /* a statement of an open transaction: never reconnected and retried */
    if (mysql_real_query(m, sql->data, sql->len) != 0) {
        snprintf(st->wmessage, sizeof(st->wmessage), "MySQL: %s",
                 mysql_error(m));
        return -1;
    }

    return 0;
}


static void
ngx_http_broadcast_csv_val(ngx_http_broadcast_sql_t *sql, MYSQL *m,
    const char *v)
{
    ngx_http_broadcast_sql_str(sql, m, v[0] ? v : NULL, strlen(v));
}


/* rows [from, to) as one INSERT ... ON DUPLICATE KEY UPDATE */
static void
ngx_http_broadcast_csv_upsert(ngx_http_broadcast_csv_state_t *st,
    ngx_http_broadcast_sql_t *sql, ngx_uint_t from, ngx_uint_t to)
{
    MYSQL                         *m = st->conn->mysql;
    ngx_uint_t                     i;
    ngx_http_broadcast_csv_row_t  *row;

    ngx_http_broadcast_sql_cat(sql, "INSERT INTO contacts (name, phone, "
        "whatsapp, email, attributes, locale, timezone, created_at, "
        "updated_at) VALUES ");

    for (i = from; i < to; i++) {
        row = &st->wbatch[i];
        ngx_http_broadcast_sql_cat(sql, i > from ? ",(" : "(");
        ngx_http_broadcast_csv_val(sql, m, row->name);
        ngx_http_broadcast_sql_cat(sql, ",");
        ngx_http_broadcast_csv_val(sql, m, row->phone);
        ngx_http_broadcast_sql_cat(sql, ",");
        ngx_http_broadcast_csv_val(sql, m, row->whatsapp);
        ngx_http_broadcast_sql_cat(sql, ",");
        ngx_http_broadcast_csv_val(sql, m, row->email);
        ngx_http_broadcast_sql_cat(sql, ",");
        ngx_http_broadcast_csv_val(sql, m, row->attrs ? row->attrs : "");
        ngx_http_broadcast_sql_cat(sql, ",");
        ngx_http_broadcast_csv_val(sql, m, row->locale);
        ngx_http_broadcast_sql_cat(sql, ",");
        ngx_http_broadcast_csv_val(sql, m, row->timezone);
        ngx_http_broadcast_sql_cat(sql, ",NOW(3),NOW(3))");
    }

    /* an empty cell keeps what the contact had: a re-import of a
       narrower file does not wipe columns */
    ngx_http_broadcast_sql_cat(sql, " ON DUPLICATE KEY UPDATE "
        "name = COALESCE(VALUES(name), name), "
        "phone = COALESCE(VALUES(phone), phone), "
        "whatsapp = COALESCE(VALUES(whatsapp), whatsapp), "
        "email = COALESCE(VALUES(email), email), "
        "attributes = COALESCE(VALUES(attributes), attributes), "
        "locale = COALESCE(VALUES(locale), locale), "
        "timezone = COALESCE(VALUES(timezone), timezone), "
        /* a row always changes (a later row of the same statement finds
           updated_at already NOW(3)): each update affects 2, countable */
        "updated_at = IF(updated_at >= NOW(3), "
        "updated_at + INTERVAL 1000 MICROSECOND, NOW(3))"
        /* a row for each of the statement's, in their order: the contact
           and whether it was created (an update always moves updated_at
           off created_at, see above) */
        " RETURNING id, created_at = updated_at");
}


/* tags and group membership of rows [from, to): INSERT IGNORE (kept) */
static int
ngx_http_broadcast_csv_links(ngx_http_broadcast_csv_state_t *st,
    ngx_uint_t from, ngx_uint_t to)
{
    int                            rc;
    MYSQL                         *m = st->conn->mysql;
    size_t                         t;
    json_t                        *tag;
    ngx_uint_t                     i, n;
    ngx_http_broadcast_sql_t       sql = { 0 };
    ngx_http_broadcast_csv_row_t  *row;

    n = 0;
    ngx_http_broadcast_sql_cat(&sql, "INSERT IGNORE INTO contact_tags "
                               "(contact_id, tag) VALUES ");

    for (i = from; i < to; i++) {
        row = &st->wbatch[i];

        if (row->id == 0) {
            continue;
        }

        json_array_foreach(row->tags, t, tag) {
            ngx_http_broadcast_sql_cat(&sql, n++ ? ",(%lld," : "(%lld,",
                                       row->id);
            ngx_http_broadcast_sql_str(&sql, m, json_string_value(tag),
                                       json_string_length(tag));
            ngx_http_broadcast_sql_cat(&sql, ")");
        }
    }

    rc = n ? ngx_http_broadcast_csv_exec(st, &sql) : 0;
    free(sql.data);

    if (rc != 0 || st->job->group_id == 0) {
        return rc;
    }

    ngx_memzero(&sql, sizeof(sql));
    ngx_http_broadcast_sql_cat(&sql, "INSERT IGNORE INTO "
                               "contact_group_members (group_id, "
                               "contact_id, created_at) VALUES ");

    for (i = from, n = 0; i < to; i++) {
        if (st->wbatch[i].id) {
            ngx_http_broadcast_sql_cat(&sql, "%s(%lld,%lld,NOW(3))",
                                       n++ ? "," : "", st->job->group_id,
                                       st->wbatch[i].id);
        }
    }

    rc = n ? ngx_http_broadcast_csv_exec(st, &sql) : 0;
    free(sql.data);

    return rc;
}


/*
 * rows [from, to) upserted, their ids and whether each was created from
 * the upsert's RETURNING (no look-up of the batch afterwards), and linked;
 * 0, 1 if a row's addresses belong to two contacts (1062), -1 on another
 * error
 */
static int
ngx_http_broadcast_csv_write(ngx_http_broadcast_csv_state_t *st,
    ngx_uint_t from, ngx_uint_t to)
{
    int                        rc;
    MYSQL_ROW                  r;
    MYSQL_RES                 *res;
    ngx_uint_t                 i;
    ngx_http_broadcast_sql_t   sql = { 0 };

    ngx_http_broadcast_csv_upsert(st, &sql, from, to);
    rc = ngx_http_broadcast_csv_exec(st, &sql);
    free(sql.data);

    if (rc != 0) {
        return mysql_errno(st->conn->mysql) == 1062 ? 1 : -1;
    }

    res = mysql_use_result(st->conn->mysql);
    if (res == NULL && mysql_errno(st->conn->mysql) == 1062) {
        return 1;
    }

    if (res == NULL) {
        snprintf(st->wmessage, sizeof(st->wmessage), "MySQL: %s",
                 mysql_error(st->conn->mysql));
        return -1;
    }

    for (i = from; (r = mysql_fetch_row(res)) != NULL; i++) {
        if (i < to) {
            st->wbatch[i].id = strtoll(r[0], NULL, 10);
            st->created += (r[1][0] == '1');
            st->updated += (r[1][0] != '1');
        }
    }

    /* a collision may come after the first rows of the result */
    if (mysql_errno(st->conn->mysql) == 1062) {
        mysql_free_result(res);
        return 1;
    }

    if (mysql_errno(st->conn->mysql) || i != to) {
        snprintf(st->wmessage, sizeof(st->wmessage), "MySQL: %s",
                 mysql_errno(st->conn->mysql) ? mysql_error(st->conn->mysql)
                 : "the upsert returned another number of rows");
        mysql_free_result(res);
        return -1;
    }

    mysql_free_result(res);

    return ngx_http_broadcast_csv_links(st, from, to);
}


/* the imports row: status, counters, errors and message (NULL: none) */
static int
ngx_http_broadcast_csv_progress(ngx_http_broadcast_csv_state_t *st,
    const char *status, const char *message)
{
    int                        rc;
    char                      *errors;
    long long                  rows, rejected;
    ngx_http_broadcast_sql_t   sql = { 0 };

    pthread_mutex_lock(&st->mu);
    errors = json_dumps(st->errors, JSON_COMPACT);
    rows = st->rows;
    rejected = st->rejected;
    pthread_mutex_unlock(&st->mu);

    ngx_http_broadcast_sql_cat(&sql, "UPDATE imports SET status = '%s', "
        "`rows` = %lld, created = %lld, updated = %lld, rejected = %lld, "
        "errors = ", status, rows, st->created, st->updated, rejected);
    ngx_http_broadcast_sql_str(&sql, st->conn->mysql, errors,
                               errors ? strlen(errors) : 0);
    ngx_http_broadcast_sql_cat(&sql, ", message = ");
    ngx_http_broadcast_sql_str(&sql, st->conn->mysql, message,
                               message ? strlen(message) : 0);
    ngx_http_broadcast_sql_cat(&sql, ", updated_at = NOW(3) WHERE id = %lld",
                               st->job->import_id);

    rc = ngx_http_broadcast_csv_exec(st, &sql);

    free(sql.data);
    free(errors);

    return rc;
}


void
ngx_http_broadcast_csv_free_rows(ngx_http_broadcast_csv_row_t *rows,
    ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        free(rows[i].attrs);
        json_decref(rows[i].tags);
    }
}


/*
 * One transaction: the writer's batch in one statement; if two rows or a
 * row and two contacts collide on addresses (1062), the batch again row by
 * row, refusing only the rows that collide. The counters in the same
 * commit. After a failure, later batches are dropped.
 */
static void
ngx_http_broadcast_csv_flush(ngx_http_broadcast_csv_state_t *st)
{
    int                        rc;
    MYSQL                     *m = st->conn->mysql;
    ngx_uint_t                 i, n;
    long long                  created, updated;
    ngx_http_broadcast_sql_t   begin = { (char *) "BEGIN", 5, 6, 0, 1 };
    ngx_http_broadcast_sql_t   rollback = { (char *) "ROLLBACK", 8, 9, 0, 1 };
    ngx_http_broadcast_sql_t   commit = { (char *) "COMMIT", 6, 7, 0, 1 };

    n = st->nwbatch;

    if (st->wfailed || n == 0) {
        goto done;
    }

    created = st->created;
    updated = st->updated;

    if (ngx_http_broadcast_csv_exec(st, &begin) != 0) {
        goto failed;
    }

    rc = ngx_http_broadcast_csv_write(st, 0, n);

    if (rc == 1) {
        st->created = created;
        st->updated = updated;

        if (ngx_http_broadcast_csv_exec(st, &rollback) != 0
            || ngx_http_broadcast_csv_exec(st, &begin) != 0)
        {
            goto failed;
        }

        for (i = 0; i < n; i++) {
            rc = ngx_http_broadcast_csv_write(st, i, i + 1);

            if (rc == 1) {
                ngx_http_broadcast_csv_reject(st, st->wbatch[i].line,
                    "its addresses belong to different contacts", 1);
            }

            if (rc < 0) {
                goto failed;
            }
        }

        st->wmessage[0] = '\0';
        rc = 0;
    }

    if (rc != 0 || ngx_http_broadcast_csv_progress(st, "running", NULL) != 0
        || ngx_http_broadcast_csv_exec(st, &commit) != 0)
    {
        goto failed;
    }

    goto done;

failed:

    (void) mysql_rollback(m);

    pthread_mutex_lock(&st->mu);
    st->wfailed = 1;
    pthread_mutex_unlock(&st->mu);

done:

    ngx_http_broadcast_csv_free_rows(st->wbatch, n);
    st->nwbatch = 0;
}


/* ------------------------------------------------------------ the writer */


static void *
ngx_http_broadcast_csv_writer(void *data)
{
    ngx_http_broadcast_csv_state_t *st = data;

    (void) mysql_thread_init();

    pthread_mutex_lock(&st->mu);

    for ( ;; ) {
        while (!st->busy && !st->stop) {
            pthread_cond_wait(&st->cv, &st->mu);
        }

        if (!st->busy) {
            break;
        }

        pthread_mutex_unlock(&st->mu);
        ngx_http_broadcast_csv_flush(st);
        pthread_mutex_lock(&st->mu);

        st->busy = 0;
        pthread_cond_broadcast(&st->cv);
    }

    pthread_mutex_unlock(&st->mu);

    mysql_thread_end();

    return NULL;
}


/* the parse's thread: without a writer, batches are written inline */
void
ngx_http_broadcast_csv_writer_start(ngx_http_broadcast_csv_state_t *st)
{
    st->writer_started = (pthread_create(&st->writer, NULL,
                                         ngx_http_broadcast_csv_writer, st)
                          == 0);
}


/* the parse's thread: waits for the writer to be idle (then wbatch is
   free and its failure, if any, is known); under mu on return */
static void
ngx_http_broadcast_csv_writer_idle(ngx_http_broadcast_csv_state_t *st)
{
    pthread_mutex_lock(&st->mu);

    while (st->busy) {
        pthread_cond_wait(&st->cv, &st->mu);
    }

    if (st->wfailed && !st->failed) {
        st->failed = 1;
        ngx_memcpy(st->message, st->wmessage, sizeof(st->message));
    }
}


void
ngx_http_broadcast_csv_hand_over(ngx_http_broadcast_csv_state_t *st)
{
    if (!st->writer_started) {
        st->wbatch = st->batch;
        st->nwbatch = st->nbatch;
        ngx_http_broadcast_csv_flush(st);
        st->nbatch = 0;

        st->failed |= st->wfailed;
        if (st->wfailed) {
            ngx_memcpy(st->message, st->wmessage, sizeof(st->message));
        }

        return;
    }

    ngx_http_broadcast_csv_writer_idle(st);

    if (st->failed) {
        pthread_mutex_unlock(&st->mu);
        ngx_http_broadcast_csv_free_rows(st->batch, st->nbatch);
        st->nbatch = 0;
        return;
    }

    st->wbatch = st->batch;
    st->nwbatch = st->nbatch;
    st->busy = 1;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);

    st->fill ^= 1;
    st->batch = st->batches[st->fill];
    st->nbatch = 0;
}


/* the parse's thread, at the end: the writer stopped, the last batch
   written here, the final status */
void
ngx_http_broadcast_csv_finish(ngx_http_broadcast_csv_state_t *st)
{
    if (st->writer_started) {
        ngx_http_broadcast_csv_writer_idle(st);
        st->stop = 1;
        pthread_cond_broadcast(&st->cv);
        pthread_mutex_unlock(&st->mu);

        (void) pthread_join(st->writer, NULL);
        st->writer_started = 0;
    }

    if (!st->failed) {
        ngx_http_broadcast_csv_hand_over(st);
    }

    ngx_http_broadcast_csv_free_rows(st->batch, st->nbatch);
    st->nbatch = 0;

    (void) ngx_http_broadcast_csv_progress(st, st->failed ? "failed" : "done",
                                           st->message[0] ? st->message
                                                          : NULL);
}

/*
 * Privacy (docs/DESIGN.md "Privacy"):
 *
 *   broadcast_encryption_key_file   the keys that open sealed values
 *   DELETE /api/privacy/subjects/{address}   erasure (an admin's session)
 *
 * An erasure removes every message to or from the address (and their audit
 * events), the contacts holding it (tags, group memberships, campaign
 * recipient rows, template_sends), and campaign recipient rows naming it.
 * Its opt-out and blacklist rows are kept under a salted hash of the
 * address ("sha256:<hex>", sql/014's privacy_salt), which the sender's
 * claim checks: an erased person who opted out stays opted out. It runs in
 * batches of NGX_HTTP_BROADCAST_ERASE_BATCH rows, one short transaction
 * each, so a person with 100k messages holds no long lock. An audit row
 * (privacy_erasures) keeps who, when, the hash and the counts.
 */


#include "ngx_http_broadcast_contacts.h"

#include "bc_crypt.h"
#include "bc_phone.h"


#define NGX_HTTP_BROADCAST_ERASE_BATCH   1000
#define NGX_HTTP_BROADCAST_ERASE_ADDR    (BC_EMAIL_MAX + 1)


char *
ngx_http_broadcast_privacy_merge(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *prev, ngx_http_broadcast_loc_conf_t *conf)
{
    char       err[512];
    ngx_str_t  path;

    ngx_conf_merge_str_value(conf->encryption_key_file,
                             prev->encryption_key_file, "");

    /* inherited values load again: the http level's own conf is only
       ever a parent, never merged itself (the ring keeps one copy) */
    if (conf->encryption_key_file.len == 0) {
        return NGX_CONF_OK;
    }

    path = conf->encryption_key_file;
    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* a key id loaded twice with the same bytes is one key (a reload) */
    if (bc_crypt_ring_load(bc_crypt_default(), (char *) path.data, err,
                           sizeof(err))
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "broadcast_encryption_key_file: %s", err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* -------------------------------------------------------------- erasure */

typedef enum {
    NGX_HTTP_BROADCAST_ERASED_MESSAGES,
    NGX_HTTP_BROADCAST_ERASED_EVENTS,
    NGX_HTTP_BROADCAST_ERASED_CONTACTS,
    NGX_HTTP_BROADCAST_ERASED_TAGS,
    NGX_HTTP_BROADCAST_ERASED_MEMBERSHIPS,
    NGX_HTTP_BROADCAST_ERASED_RECIPIENTS,
    NGX_HTTP_BROADCAST_ERASED_TEMPLATE_SENDS,
    NGX_HTTP_BROADCAST_HASHED_OPT_OUTS,
    NGX_HTTP_BROADCAST_HASHED_BLACKLIST,
    NGX_HTTP_BROADCAST_ERASED_N
} ngx_http_broadcast_erased_e;

/* the answer's and the audit row's names of the counts */
static const char  *ngx_http_broadcast_erased_names[] = {
    "messages", "message_events", "contacts", "contact_tags",
    "group_memberships", "campaign_recipients", "template_sends",
    "opt_outs_kept_hashed", "blacklist_kept_hashed"
};


typedef struct {
    char         addr[NGX_HTTP_BROADCAST_ERASE_ADDR];   /* peer form */
    char         hashed[7 + 64 + 1];                    /* sha256:<hex> */
    long long    counts[NGX_HTTP_BROADCAST_ERASED_N];
} ngx_http_broadcast_erase_t;


static void ngx_http_broadcast_erase_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);


/* loop: the {address} in its stored (peer) form, as the send APIs
   normalise it; 0, or -1 with ctx's error */
static int
ngx_http_broadcast_erase_address(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_str_t *arg, char *out)
{
    size_t                          len = arg->len;
    const char                     *s = (const char *) arg->data, *reason;
    ngx_http_broadcast_loc_conf_t  *lcf;

    if (len > 0 && memchr(s, '@', len) != NULL) {
        if (bc_email_valid(s, len, out)) {
            return 0;
        }

        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
            "invalid_address", "the address is not a valid e-mail address");
        return -1;
    }

    if (bc_wa_prefixed(s, len)) {
        s += BC_WA_PREFIX_LEN;
        len -= BC_WA_PREFIX_LEN;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);
    reason = "not a phone number";

    if (len > 0 && len < BC_PHONE_MAX * 2
        && ngx_http_broadcast_phone(s, len,
                                    (char *) lcf->default_country.data, out,
                                    &reason)
           == 0)
    {
        return 0;
    }

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
        "invalid_address", "the address must be a phone number (E.164, or "
        "national for the default country), whatsapp:<number> or an e-mail "
        "address: %s", reason);
    return -1;
}


void
ngx_http_broadcast_privacy_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    char                         addr[NGX_HTTP_BROADCAST_ERASE_ADDR];
    ngx_http_broadcast_erase_t  *e;

    if (ngx_http_broadcast_erase_address(r, ctx, &args->id, addr) != 0) {
        return;
    }

    e = ngx_http_broadcast_api_op_new(r, ctx,
                                      sizeof(ngx_http_broadcast_erase_t),
                                      ngx_http_broadcast_erase_op, ngx_free);
    if (e == NULL) {
        return;
    }

    ngx_cpystrn((u_char *) e->addr, (u_char *) addr, sizeof(e->addr));
}


/* thread: runs sql (a statement of a transaction when tx); its affected
   rows, or -1 with ctx's error */
static long long
ngx_http_broadcast_erase_run(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_sql_t *sql,
    ngx_uint_t tx)
{
    long long  n;

    sql->tx = tx;
    n = ngx_http_broadcast_contacts_exec(ctx, conn, sql) == 0
        ? (long long) mysql_affected_rows(conn->mysql) : -1;
    free(sql->data);
    ngx_memzero(sql, sizeof(*sql));

    return n;
}


/* thread: the ids (quoted when text) of a SELECT's first column, joined
   by commas into list; their number, or -1 */
static long long
ngx_http_broadcast_erase_ids(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_sql_t *sql,
    ngx_http_broadcast_sql_t *list, ngx_uint_t text)
{
    long long   n = 0;
    MYSQL_RES  *res;
    MYSQL_ROW   row;

    res = sql->failed ? NULL
          : ngx_http_broadcast_sql_select(ctx, conn, sql->data, sql->len);
    free(sql->data);
    ngx_memzero(sql, sizeof(*sql));

    if (res == NULL) {
        return -1;
    }

    while ((row = mysql_fetch_row(res)) != NULL) {
        ngx_http_broadcast_sql_cat(list, text ? "%s'%s'" : "%s%s",
                                   n++ ? "," : "", row[0]);
    }

    mysql_free_result(res);

    return list->failed ? -1 : n;
}


/* thread: one batch of the person's messages and their events, in one
   transaction; the messages erased (0: none left), or -1 */
static long long
ngx_http_broadcast_erase_messages(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_erase_t *e)
{
    long long                 n, ev, msgs;
    ngx_http_broadcast_sql_t  sql = { 0 }, ids = { 0 };

    ngx_http_broadcast_sql_cat(&sql, "SELECT id FROM messages WHERE peer=");
    ngx_http_broadcast_sql_str(&sql, conn->mysql, e->addr,
                               ngx_strlen(e->addr));
    ngx_http_broadcast_sql_cat(&sql, " LIMIT %d",
                               NGX_HTTP_BROADCAST_ERASE_BATCH);

    n = ngx_http_broadcast_erase_ids(ctx, conn, &sql, &ids, 1);
    if (n <= 0) {
        free(ids.data);
        return n;
    }

    ngx_http_broadcast_sql_cat(&sql, "START TRANSACTION");
    ev = msgs = -1;

    if (ngx_http_broadcast_erase_run(ctx, conn, &sql, 0) == 0) {
        ngx_http_broadcast_sql_cat(&sql, "DELETE FROM message_events WHERE "
                                   "message_id IN (%s)", ids.data);
        ev = ngx_http_broadcast_erase_run(ctx, conn, &sql, 1);
    }

    if (ev >= 0) {
        ngx_http_broadcast_sql_cat(&sql, "DELETE FROM messages WHERE id IN "
                                   "(%s)", ids.data);
        msgs = ngx_http_broadcast_erase_run(ctx, conn, &sql, 1);
    }

    free(ids.data);

    if (msgs < 0 || mysql_query(conn->mysql, "COMMIT") != 0) {
        (void) mysql_query(conn->mysql, "ROLLBACK");
        if (ctx->code == NULL) {
            ngx_http_broadcast_api_mysql_down(ctx);
        }
        return -1;
    }

    e->counts[NGX_HTTP_BROADCAST_ERASED_EVENTS] += ev;
    e->counts[NGX_HTTP_BROADCAST_ERASED_MESSAGES] += msgs;

    return msgs > 0 ? msgs : n;
}


/* thread: statements on rows of "what" matching cond, repeated while a
   batch is full (LIMIT: each its own short autocommit statement); the
   rows, or -1 */
static long long
ngx_http_broadcast_erase_batched(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *table, const char *cond)
{
    long long                 n, total = 0;
    ngx_http_broadcast_sql_t  sql = { 0 };

    do {
        ngx_http_broadcast_sql_cat(&sql, "DELETE FROM %s WHERE %s LIMIT %d",
                                   table, cond,
                                   NGX_HTTP_BROADCAST_ERASE_BATCH);
        n = ngx_http_broadcast_erase_run(ctx, conn, &sql, 0);
        if (n < 0) {
            return -1;
        }
        total += n;
    } while (n == NGX_HTTP_BROADCAST_ERASE_BATCH);

    return total;
}


/* thread: the counts of the contacts' tags and memberships (sql: one row,
   two columns) into c; 0, or -1 */
static int
ngx_http_broadcast_erase_tags(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_sql_t *sql,
    long long *c)
{
    MYSQL_RES  *res;
    MYSQL_ROW   row;

    res = sql->failed ? NULL
          : ngx_http_broadcast_sql_select(ctx, conn, sql->data, sql->len);
    free(sql->data);
    ngx_memzero(sql, sizeof(*sql));

    if (res == NULL) {
        return -1;
    }

    row = mysql_fetch_row(res);
    if (row != NULL) {
        c[NGX_HTTP_BROADCAST_ERASED_TAGS] += row[0] ? atoll(row[0]) : 0;
        c[NGX_HTTP_BROADCAST_ERASED_MEMBERSHIPS] += row[1] ? atoll(row[1])
                                                            : 0;
    }

    mysql_free_result(res);

    return 0;
}


/* thread: the contacts holding the address, with what hangs off them, and
   campaign recipient rows naming it; 0, or -1 */
static int
ngx_http_broadcast_erase_contacts(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_erase_t *e)
{
    int                        email = ngx_strchr(e->addr, '@') != NULL;
    char                      *q;
    long long                  n, *c = e->counts;
    ngx_http_broadcast_sql_t   sql = { 0 }, ids = { 0 }, cond = { 0 };

    q = bc_db_quote(conn->mysql, e->addr, ngx_strlen(e->addr));
    if (q == NULL) {
        ngx_http_broadcast_api_mysql_down(ctx);
        return -1;
    }

    if (email) {
        ngx_http_broadcast_sql_cat(&sql, "SELECT id FROM contacts WHERE "
                                   "email=%s", q);
    } else {
        ngx_http_broadcast_sql_cat(&sql, "SELECT id FROM contacts WHERE "
                                   "phone=%s UNION SELECT id FROM contacts "
                                   "WHERE whatsapp=%s", q, q);
    }

    n = ngx_http_broadcast_erase_ids(ctx, conn, &sql, &ids, 0);

    /* the recipient rows naming the address, of any contact */
    ngx_http_broadcast_sql_cat(&cond, "address IN (%s,CONCAT('whatsapp:',"
                               "%s))", q, q);
    free(q);

    if (n < 0 || cond.failed) {
        goto failed;
    }

    if (n > 0) {
        ngx_http_broadcast_sql_cat(&cond, " OR contact_id IN (%s)",
                                   ids.data);
    }

    n = ngx_http_broadcast_erase_batched(ctx, conn, "campaign_recipients",
                                         cond.data);
    if (n < 0) {
        goto failed;
    }
    c[NGX_HTTP_BROADCAST_ERASED_RECIPIENTS] += n;

    if (ids.data == NULL) {
        free(cond.data);
        return 0;
    }

    /* tags and memberships go with the contact (ON DELETE CASCADE):
       counted first, for the answer */
    ngx_http_broadcast_sql_cat(&sql, "SELECT (SELECT COUNT(*) FROM "
        "contact_tags WHERE contact_id IN (%s)),(SELECT COUNT(*) FROM "
        "contact_group_members WHERE contact_id IN (%s))", ids.data,
        ids.data);

    if (ngx_http_broadcast_erase_tags(ctx, conn, &sql, c) != 0) {
        goto failed;
    }

    ngx_http_broadcast_sql_cat(&sql, "DELETE FROM template_sends WHERE "
                               "contact_id IN (%s)", ids.data);
    n = ngx_http_broadcast_erase_run(ctx, conn, &sql, 0);
    if (n < 0) {
        goto failed;
    }
    c[NGX_HTTP_BROADCAST_ERASED_TEMPLATE_SENDS] += n;

    ngx_http_broadcast_sql_cat(&sql, "DELETE FROM contacts WHERE id IN (%s)",
                               ids.data);
    n = ngx_http_broadcast_erase_run(ctx, conn, &sql, 0);
    if (n < 0) {
        goto failed;
    }
    c[NGX_HTTP_BROADCAST_ERASED_CONTACTS] += n;

    free(ids.data);
    free(cond.data);
    return 0;

failed:

    free(ids.data);
    free(cond.data);
    return -1;
}


/* thread: the opt-out and blacklist rows of the address keep blocking
   sends under its hash (a duplicate of a row already hashed goes); 0, or
   -1 */
static int
ngx_http_broadcast_erase_suppressions(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_erase_t *e)
{
    static const char *const   tables[] = { "opt_outs", "blacklist" };
    long long                  n;
    ngx_uint_t                 i;
    ngx_http_broadcast_sql_t   sql = { 0 };

    for (i = 0; i < 2; i++) {
        ngx_http_broadcast_sql_cat(&sql, "UPDATE IGNORE %s SET address='%s',"
                                   "reason=NULL WHERE address=", tables[i],
                                   e->hashed);
        ngx_http_broadcast_sql_str(&sql, conn->mysql, e->addr,
                                   ngx_strlen(e->addr));
        n = ngx_http_broadcast_erase_run(ctx, conn, &sql, 0);
        if (n < 0) {
            return -1;
        }
        e->counts[NGX_HTTP_BROADCAST_HASHED_OPT_OUTS + i] = n;

        ngx_http_broadcast_sql_cat(&sql, "DELETE FROM %s WHERE address=",
                                   tables[i]);
        ngx_http_broadcast_sql_str(&sql, conn->mysql, e->addr,
                                   ngx_strlen(e->addr));
        if (ngx_http_broadcast_erase_run(ctx, conn, &sql, 0) < 0) {
            return -1;
        }
    }

    return 0;
}


/* thread: e->hashed from the database's salt (sql/014); 0, or -1 */
static int
ngx_http_broadcast_erase_hash(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_erase_t *e)
{
    static const char  sql[] = "SELECT salt FROM privacy_salt WHERE id=1";
    MYSQL_RES         *res;
    MYSQL_ROW          row;

    res = ngx_http_broadcast_sql_select(ctx, conn, sql, sizeof(sql) - 1);
    if (res == NULL) {
        return -1;
    }

    row = mysql_fetch_row(res);
    if (row == NULL || row[0] == NULL) {
        mysql_free_result(res);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
            "not_migrated", "the database has no privacy salt: run "
            "broadcastctl migrate (sql/014_privacy.sql)");
        return -1;
    }

    ngx_memcpy(e->hashed, "sha256:", 7);
    bc_crypt_address_hash(row[0], e->addr, e->hashed + 7);
    mysql_free_result(res);

    return 0;
}


/* thread: the audit row and the answer */
static void
ngx_http_broadcast_erase_done(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_erase_t *e)
{
    char                      *text;
    json_t                    *counts;
    ngx_uint_t                 i;
    ngx_http_broadcast_sql_t   sql = { 0 };

    counts = json_object();
    for (i = 0; counts && i < NGX_HTTP_BROADCAST_ERASED_N; i++) {
        json_object_set_new(counts, ngx_http_broadcast_erased_names[i],
                            json_integer(e->counts[i]));
    }

    text = counts ? json_dumps(counts, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (text == NULL) {
        json_decref(counts);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return;
    }

    ngx_http_broadcast_sql_cat(&sql, "INSERT INTO privacy_erasures "
        "(admin_user_id,address_hash,counts,created_at) VALUES (");
    ngx_http_broadcast_sql_cat(&sql, ctx->user_id > 0 ? "%lld" : "NULL",
                               ctx->user_id);
    ngx_http_broadcast_sql_cat(&sql, ",'%s',", e->hashed + 7);
    ngx_http_broadcast_sql_str(&sql, conn->mysql, text, ngx_strlen(text));
    ngx_http_broadcast_sql_cat(&sql, ",UTC_TIMESTAMP(3))");
    free(text);

    if (ngx_http_broadcast_erase_run(ctx, conn, &sql, 0) < 0) {
        json_decref(counts);
        return;
    }

    ctx->result = json_pack("{s:b,s:s,s:I,s:o}", "erased", 1,
                            "address_hash", e->hashed + 7,
                            "audit_id",
                            (json_int_t) mysql_insert_id(conn->mysql),
                            "counts", counts);
}


static void
ngx_http_broadcast_erase_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    long long                    n;
    ngx_http_broadcast_erase_t  *e = ctx->op_data;

    /* the audit log names the person by the hash, never the address */
    ngx_http_broadcast_audit_target(ctx, "(erased)");

    if (ngx_http_broadcast_sql_connect(ctx, conn) != 0
        || ngx_http_broadcast_erase_hash(ctx, conn, e) != 0)
    {
        return;
    }

    ngx_http_broadcast_audit_target(ctx, e->hashed);

    /* suppressions first: from here on a send to the address is blocked
       by its hash even if a later step fails */
    if (ngx_http_broadcast_erase_suppressions(ctx, conn, e) != 0) {
        return;
    }

    do {
        n = ngx_http_broadcast_erase_messages(ctx, conn, e);
    } while (n == NGX_HTTP_BROADCAST_ERASE_BATCH);

    if (n < 0 || ngx_http_broadcast_erase_contacts(ctx, conn, e) != 0) {
        return;
    }

    ngx_http_broadcast_erase_done(ctx, conn, e);
}

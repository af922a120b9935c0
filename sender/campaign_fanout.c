/*
 * Step 3 of the dispatcher (docs/DESIGN.md "Campaigns"): the next batch of
 * the audience after fanout_cursor becomes recipient rows, each 'pending'
 * or 'skipped' with its reason, with the never-repeat rows, the cursor and
 * the counters in one transaction under the campaign row's lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bc_id.h"
#include "bc_phone.h"
#include "campaign.h"


/* ---- the audience ------------------------------------------------------- */

/* appends ",v" for each integer (ints) or string of the array; the count */
static int
snd_fan_list(snd_t *s, snd_buf_t *q, json_t *arr, int ints)
{
    size_t   i;
    json_t  *v;
    int      n = 0;

    json_array_foreach(arr, i, v) {
        if (ints && json_is_integer(v)) {
            snd_buf_add(q, "%s%" JSON_INTEGER_FORMAT, n++ ? "," : "",
                json_integer_value(v));
        } else if (!ints && json_is_string(v)) {
            snd_buf_add(q, n++ ? "," : "");
            snd_buf_str(s, q, json_string_value(v), json_string_length(v));
        }
    }
    return n;
}

/*
 * The next contacts of the audience: the union of group_ids, tags and
 * contact_ids ({"all":true}: every contact), keyset on contacts.id. The
 * filter narrows in C (snd_fan_match). NULL with *empty set when the
 * audience names nobody.
 */
static MYSQL_RES *
snd_fan_contacts(snd_disp_t *d, snd_camp_t *c, int *empty)
{
    snd_buf_t   q = { 0 };
    json_t     *a = c->audience;
    int         n = 0, mark;
    size_t      at;

    *empty = 0;
    snd_buf_add(&q, "SELECT c.id," SND_CAMP_CONTACT_COLS " FROM contacts c "
        "WHERE c.id>%lld", c->cursor);
    if (!json_is_true(json_object_get(a, "all"))) {
        snd_buf_add(&q, " AND (");
        at = q.len;
        snd_buf_add(&q, "c.id IN (SELECT contact_id FROM "
            "contact_group_members WHERE group_id IN (");
        mark = snd_fan_list(d->s, &q, json_object_get(a, "group_ids"), 1);
        if (mark == 0) {
            q.len = at;
        } else {
            snd_buf_add(&q, "))");
        }
        n += mark;
        at = q.len;
        snd_buf_add(&q, "%sc.id IN (SELECT contact_id FROM contact_tags "
            "WHERE tag IN (", n ? " OR " : "");
        mark = snd_fan_list(d->s, &q, json_object_get(a, "tags"), 0);
        if (mark == 0) {
            q.len = at;
        } else {
            snd_buf_add(&q, "))");
        }
        n += mark;
        at = q.len;
        snd_buf_add(&q, "%sc.id IN (", n ? " OR " : "");
        mark = snd_fan_list(d->s, &q, json_object_get(a, "contact_ids"), 1);
        if (mark == 0) {
            q.len = at;
        } else {
            snd_buf_add(&q, ")");
        }
        n += mark;
        snd_buf_add(&q, ")");
        if (n == 0) {
            snd_buf_free(&q);
            *empty = 1;
            return NULL;
        }
    }
    snd_buf_add(&q, " ORDER BY c.id LIMIT %d", d->s->conf.campaign_batch);
    return snd_replica_select(d->s, &q);
}

/* the filter: every attribute equal (as JSON values), locale equal,
   country equal to the region of the phone (else the WhatsApp) number */
static int
snd_fan_match(json_t *filter, MYSQL_ROW row)
{
    json_t       *want, *attrs, *v;
    const char   *key, *s, *number;
    char          region[3];
    int           ok = 1;

    if (!json_is_object(filter)) {
        return 1;
    }
    s = json_string_value(json_object_get(filter, "locale"));
    if (s != NULL && (row[6] == NULL || strcasecmp(s, row[6]) != 0)) {
        return 0;
    }
    s = json_string_value(json_object_get(filter, "country"));
    if (s != NULL) {
        number = row[2] != NULL ? row[2] : row[3];
        if (bc_phone_region(number, region) != 0
            || strcasecmp(s, region) != 0)
        {
            return 0;
        }
    }
    want = json_object_get(filter, "attributes");
    if (json_object_size(want) == 0) {
        return 1;
    }
    attrs = row[5] != NULL ? json_loads(row[5], 0, NULL) : NULL;
    json_object_foreach(want, key, v) {
        if (!json_equal(json_object_get(attrs, key), v)) {
            ok = 0;
            break;
        }
    }
    json_decref(attrs);
    return ok;
}

/* ---- the skip reasons --------------------------------------------------- */

/* opted out (channel '' or the campaign's) or blacklisted, by peer */
static int
snd_fan_suppressed(snd_disp_t *d, const char *channel, snd_fan_t *f, int n)
{
    snd_buf_t    q = { 0 }, in = { 0 };
    MYSQL_RES   *res;
    MYSQL_ROW    row;
    int          i, k = 0;

    for (i = 0; i < n; i++) {
        if (f[i].skip == NULL) {
            snd_buf_add(&in, k++ ? "," : "");
            snd_buf_cstr(d->s, &in, f[i].peer);
        }
    }
    if (k == 0 || in.oom) {
        snd_buf_free(&in);
        return in.oom ? -1 : 0;
    }
    snd_buf_add(&q, "SELECT address,0 FROM opt_outs WHERE channel IN ('',");
    snd_buf_cstr(d->s, &q, channel);
    snd_buf_add(&q, ") AND address IN (%.*s) UNION ALL SELECT address,1 "
        "FROM blacklist WHERE address IN (%.*s)", (int) in.len, in.p,
        (int) in.len, in.p);
    snd_buf_free(&in);
    res = snd_db_select(d->s, &q);
    if (res == NULL) {
        return -1;
    }
    while ((row = mysql_fetch_row(res)) != NULL) {
        for (i = 0; i < n && row[0] != NULL; i++) {
            if (strcasecmp(f[i].peer, row[0]) != 0) {
                continue;
            }
            /* blacklisted wins, as in the claim */
            if (row[1] != NULL && strcmp(row[1], "1") == 0) {
                f[i].skip = "blacklisted";
            } else if (f[i].skip == NULL) {
                f[i].skip = "opted_out";
            }
        }
    }
    mysql_free_result(res);
    return 0;
}

/* free-form WhatsApp to a peer whose 24-hour window is closed, as the
   module's send checks it (bc:{ev..}:wawin:<from>:<peer>): one pipelined EXISTS
   per such recipient */
static int
snd_fan_windows(snd_disp_t *d, snd_fan_t *f, int n)
{
    bc_rc_t       *rc = d->s->redis;
    redisReply    *r;
    char           key[600];
    const char    *argv[2];
    int            i, sent = 0, failed = 0;

    for (i = 0; i < n; i++) {
        if (f[i].skip == NULL && f[i].v->free_form) {
            bc_wawin_key(key, sizeof(key), SND_LANES(d->s), f[i].v->from,
                         strlen(f[i].v->from), f[i].peer, strlen(f[i].peer));
            argv[0] = "EXISTS";
            argv[1] = key;
            bc_rc_append(rc, 2, argv, NULL);
            sent++;
        }
    }
    for (i = 0; i < n && sent > 0; i++) {
        if (f[i].skip != NULL || !f[i].v->free_form) {
            continue;
        }
        sent--;
        if (bc_rc_get_reply(rc, &r) != REDIS_OK) {
            snd_redis_lost(d->s, bc_rc_errstr(rc));
            return -1;
        }
        if (r->type != REDIS_REPLY_INTEGER) {
            failed = 1;
        } else if (r->integer == 0) {
            f[i].skip = "outside_24h_window";
        }
        freeReplyObject(r);
    }
    return failed ? -1 : 0;
}

/* never_repeat_template: the rows this campaign inserted first are its
   own (INSERT IGNORE, then read back by campaign_id); the others had the
   template already */
static int
snd_fan_never_repeat(snd_disp_t *d, snd_camp_t *c, snd_fan_t *f, int n)
{
    snd_buf_t    q = { 0 };
    MYSQL_RES   *res;
    MYSQL_ROW    row;
    int          i, k = 0;
    char        *mine;

    snd_buf_add(&q, "INSERT IGNORE INTO template_sends (template_id,"
        "contact_id,campaign_id,message_id,created_at) VALUES ");
    for (i = 0; i < n; i++) {
        if (f[i].skip == NULL) {
            snd_buf_add(&q, "%s(%lld,%lld,%lld,'%s',UTC_TIMESTAMP(3))",
                k++ ? "," : "", c->template_id, f[i].contact_id, c->id,
                f[i].message_id);
        }
    }
    if (k == 0 || snd_db_run_free(d->s, &q, k) != 0) {
        snd_buf_free(&q);
        return k == 0 ? 0 : -1;
    }
    snd_buf_add(&q, "SELECT contact_id FROM template_sends WHERE "
        "template_id=%lld AND campaign_id=%lld AND contact_id IN (",
        c->template_id, c->id);
    for (i = 0, k = 0; i < n; i++) {
        if (f[i].skip == NULL) {
            snd_buf_add(&q, "%s%lld", k++ ? "," : "", f[i].contact_id);
        }
    }
    snd_buf_add(&q, ")");
    res = snd_db_select(d->s, &q);
    mine = calloc(n, 1);
    if (res == NULL || mine == NULL) {
        if (res != NULL) {
            mysql_free_result(res);
        }
        free(mine);
        return -1;
    }
    while ((row = mysql_fetch_row(res)) != NULL) {
        /* f is in contact id order (the audience is read ORDER BY c.id):
           a binary search, not a scan per row (a scan with atoll() in it
           was 70% of the sender's CPU in a 1,000,000-contact fan-out) */
        long long  id = atoll(row[0]);
        int        lo = 0, hi = n - 1, mid;

        while (lo <= hi) {
            mid = lo + (hi - lo) / 2;
            if (f[mid].contact_id < id) {
                lo = mid + 1;
            } else if (f[mid].contact_id > id) {
                hi = mid - 1;
            } else {
                mine[mid] = 1;
                break;
            }
        }
    }
    mysql_free_result(res);
    for (i = 0; i < n; i++) {
        if (f[i].skip == NULL && !mine[i]) {
            f[i].skip = "already_sent_template";
        }
    }
    free(mine);
    return 0;
}

/* ---- the batch ---------------------------------------------------------- */

int
snd_fan_prepare(snd_camp_t *c, const snd_camp_variant_t *v, MYSQL_ROW cols,
    snd_fan_t *f)
{
    json_t    *vars;
    bc_job_t   job;
    int        rendered;

    f->v = v;
    snd_camp_address(v, cols, f->address, sizeof(f->address));
    snprintf(f->peer, sizeof(f->peer), "%s", bc_wa_strip(f->address));
    if (bc_ulid(f->message_id) != 0) {
        return -1;
    }
    if (f->address[0] == '\0') {
        f->skip = "no_address";
        return 0;
    }
    /* decided here so the skip is counted when the row is written; the
       queue renders again */
    vars = snd_camp_vars(c, cols);
    memset(&job, 0, sizeof(job));
    rendered = vars != NULL ? snd_camp_render(v, vars, &job) : -1;
    json_decref(vars);
    bc_job_free(&job);
    if (rendered < 0) {
        return -1;
    }
    /* the suppression lists and the window come first */
    f->missing = rendered == 0;
    return 0;
}

int
snd_fan_checks(snd_disp_t *d, const char *channel, snd_fan_t *f, int n)
{
    int  i;

    if (snd_fan_suppressed(d, channel, f, n) != 0
        || snd_fan_windows(d, f, n) != 0)
    {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (f[i].skip == NULL && f[i].missing) {
            f[i].skip = "missing_variables";
        }
    }
    return 0;
}

/* the contacts of res in the audience, with variant, address, message id
   and the skip reasons known without a query; their number */
static int
snd_fan_read(snd_camp_t *c, MYSQL_RES *res, snd_fan_t *f, long long *last)
{
    MYSQL_ROW  row;
    int        n = 0;

    while ((row = mysql_fetch_row(res)) != NULL) {
        *last = atoll(row[0]);
        if (!snd_fan_match(json_object_get(c->audience, "filter"), row)) {
            continue;
        }
        memset(&f[n], 0, sizeof(f[n]));
        f[n].contact_id = *last;
        f[n].variant = snd_camp_pick(c, *last);
        if (snd_fan_prepare(c, &c->variants[f[n].variant], row + 1, &f[n])
            != 0)
        {
            return -1;
        }
        n++;
    }
    return n;
}

int
snd_fan_rows(snd_disp_t *d, snd_camp_t *c, int step, snd_fan_t *f, int n)
{
    snd_buf_t  q = { 0 };
    int        i;

    snd_buf_add(&q, "INSERT IGNORE INTO campaign_recipients (campaign_id,"
        "step,contact_id,variant,address,message_id,state,skip_reason,"
        "created_at,updated_at) VALUES ");
    for (i = 0; i < n; i++) {
        snd_buf_add(&q, "%s(%lld,%d,%lld,%d,", i ? "," : "", c->id, step,
            f[i].contact_id, f[i].variant);
        if (f[i].address[0] != '\0') {
            snd_buf_cstr(d->s, &q, f[i].address);
        } else {
            snd_buf_add(&q, "NULL");
        }
        snd_buf_add(&q, ",'%s','%s',", f[i].message_id,
            f[i].skip ? "skipped" : "pending");
        if (f[i].skip != NULL) {
            snd_buf_cstr(d->s, &q, f[i].skip);
        } else {
            snd_buf_add(&q, "NULL");
        }
        snd_buf_add(&q, ",UTC_TIMESTAMP(3),UTC_TIMESTAMP(3))");
    }
    return snd_db_run_free(d->s, &q, n);
}

/* the recipient rows, the cursor and the counters; under the lock */
static int
snd_fan_write(snd_disp_t *d, snd_camp_t *c, snd_fan_t *f, int n,
    long long cursor, int done, long long eligible)
{
    snd_buf_t  q = { 0 };

    if (snd_fan_rows(d, c, 0, f, n) != 0) {
        return -1;
    }
    snd_buf_add(&q, "UPDATE campaigns SET fanout_cursor=%lld,"
        "fanout_done=%d,recipients=recipients+%d,eligible=eligible+%lld,"
        "updated_at=UTC_TIMESTAMP(3) WHERE id=%lld", cursor, done, n,
        eligible, c->id);
    return snd_db_run_free(d->s, &q, 1);
}

/* the batch's rows in one transaction; 0 committed, 1 lease lost, -1 */
static int
snd_fan_commit(snd_disp_t *d, snd_camp_t *c, snd_fan_t *f, int n,
    long long cursor, int end)
{
    long long  at, eligible = 0;
    int        i, locked;

    locked = snd_camp_lock(d, c, &at);
    if (locked <= 0) {
        return locked < 0 ? -1 : 1;
    }
    if (at != c->cursor) {
        /* another dispatcher moved on (we lost the lease meanwhile) */
        snd_db_rollback(d->s);
        c->cursor = at;
        return 1;
    }
    if (c->never_repeat && c->template_id > 0
        && snd_fan_never_repeat(d, c, f, n) != 0)
    {
        snd_db_rollback(d->s);
        return -1;
    }
    for (i = 0; i < n; i++) {
        eligible += f[i].skip == NULL;
    }
    if (c->limit >= 0 && c->eligible + eligible >= c->limit) {
        end = 1;
    }
    if (snd_fan_write(d, c, f, n, cursor, end, eligible) != 0
        || snd_db_exec(d->s, "COMMIT", 6) != 0)
    {
        snd_db_rollback(d->s);
        return -1;
    }
    c->cursor = cursor;
    c->fanout_done = end;
    c->eligible += eligible;
    return 0;
}

int
snd_camp_fanout(snd_disp_t *d, snd_camp_t *c)
{
    MYSQL_RES  *res;
    snd_fan_t  *f;
    long long   last = c->cursor, room;
    int         empty, n, rows, i, k, end, rc;

    if (c->limit >= 0 && c->eligible >= c->limit) {
        return snd_fan_commit(d, c, NULL, 0, c->cursor, 1) < 0 ? -1 : 0;
    }
    res = snd_fan_contacts(d, c, &empty);
    if (res == NULL) {
        return empty ? (snd_fan_commit(d, c, NULL, 0, c->cursor, 1) < 0
                        ? -1 : 0)
                     : -1;
    }
    rows = (int) mysql_num_rows(res);
    end = rows < d->s->conf.campaign_batch;
    f = calloc(rows > 0 ? rows : 1, sizeof(*f));
    if (f == NULL) {
        mysql_free_result(res);
        return -1;
    }
    n = snd_fan_read(c, res, f, &last);
    mysql_free_result(res);
    if (n < 0 || snd_fan_checks(d, c->channel, f, n) != 0) {
        free(f);
        return -1;
    }
    if (c->limit >= 0) {
        /* the batch ends with the contact that fills the limit (the
           never-repeat check may still skip some: the next batch goes on) */
        room = c->limit - c->eligible;
        for (i = 0, k = 0; i < n && k < room; i++) {
            k += f[i].skip == NULL;
        }
        if (i < n) {
            n = i;
            last = f[n - 1].contact_id;
            end = 0;
        }
    }
    rc = snd_fan_commit(d, c, f, n, last, end);
    free(f);
    if (rc < 0) {
        return -1;
    }
    return c->fanout_done ? 0 : 1;
}

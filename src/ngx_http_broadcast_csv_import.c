/*
 * The CSV import's parse, in a pool thread with no request: libcsv over
 * 64 KB chunks of the file (quotes, embedded commas and newlines, CRLF),
 * the header mapped by synonyms (English and the predecessor's Chinese),
 * rows upserted by normalised address in batches, one transaction each,
 * with the imports row's counters. No nginx calls here but memory ones.
 */


#include "ngx_http_broadcast_csv.h"

#include "bc_utf8.h"

#include <csv.h>


#define NGX_HTTP_BROADCAST_IMPORT_BATCH      1000
#define NGX_HTTP_BROADCAST_IMPORT_ERRORS     1000
#define NGX_HTTP_BROADCAST_IMPORT_COLS       256
#define NGX_HTTP_BROADCAST_IMPORT_FIELD_MAX  65536

enum {
    BC_COL_ATTR = 0, BC_COL_NAME, BC_COL_PHONE, BC_COL_WHATSAPP,
    BC_COL_EMAIL, BC_COL_TAGS, BC_COL_LOCALE, BC_COL_TIMEZONE, BC_COL_ATTRS,
    BC_COL_SKIP
};


typedef struct {
    const char  *header;      /* lower case */
    int          col;
} ngx_http_broadcast_csv_syn_t;


static const ngx_http_broadcast_csv_syn_t  ngx_http_broadcast_csv_syns[] = {
    { "name", BC_COL_NAME },          { "姓名", BC_COL_NAME },
    { "phone", BC_COL_PHONE },        { "mobile", BC_COL_PHONE },
    { "手机", BC_COL_PHONE },         { "手机号", BC_COL_PHONE },
    { "email", BC_COL_EMAIL },        { "邮箱", BC_COL_EMAIL },
    { "whatsapp", BC_COL_WHATSAPP },
    { "tags", BC_COL_TAGS },          { "标签", BC_COL_TAGS },
    { "locale", BC_COL_LOCALE },      { "timezone", BC_COL_TIMEZONE },
    /* the export's: all attributes as one JSON object */
    { "attributes", BC_COL_ATTRS },
    { NULL, 0 }
};


typedef struct {
    char         name[NGX_HTTP_BROADCAST_CONTACT_NAME_MAX * 4 + 1];
    char         phone[BC_PHONE_MAX];
    char         whatsapp[BC_PHONE_MAX];
    char         email[BC_EMAIL_MAX + 1];
    char         locale[36];
    char         timezone[65];
    char        *attrs;                    /* malloc'd JSON or NULL */
    json_t      *tags;                     /* array of strings */
    long long    line;
} ngx_http_broadcast_csv_row_t;


typedef struct {
    ngx_http_broadcast_import_job_t  *job;
    ngx_http_broadcast_conn_t        *conn;

    /* the record being read */
    char                             *fields[NGX_HTTP_BROADCAST_IMPORT_COLS];
    size_t                            lens[NGX_HTTP_BROADCAST_IMPORT_COLS];
    ngx_uint_t                        nfields;
    ngx_uint_t                        too_long;
    long long                         line;        /* physical, 1-based */
    long long                         record_line;
    int                               last_end;    /* cb2's last c */

    /* the header */
    ngx_uint_t                        header_done;
    ngx_uint_t                        ncols;
    int                               cols[NGX_HTTP_BROADCAST_IMPORT_COLS];
    char                             *names[NGX_HTTP_BROADCAST_IMPORT_COLS];

    /* the batch */
    ngx_http_broadcast_csv_row_t      batch[NGX_HTTP_BROADCAST_IMPORT_BATCH];
    ngx_uint_t                        nbatch;

    long long                         rows, created, updated, rejected;
    json_t                           *errors;
    ngx_uint_t                        failed;
    char                              message[256];
} ngx_http_broadcast_csv_state_t;


static void ngx_http_broadcast_csv_flush(ngx_http_broadcast_csv_state_t *st);


static void
ngx_http_broadcast_csv_reject(ngx_http_broadcast_csv_state_t *st,
    const char *why)
{
    st->rows++;
    st->rejected++;

    if (json_array_size(st->errors) < NGX_HTTP_BROADCAST_IMPORT_ERRORS) {
        json_array_append_new(st->errors,
            json_pack("{s:I,s:s}", "line", (json_int_t) st->record_line,
                      "error", why));
    }
}


/* 1 if s has a control character (a name must be one line) */
static int
ngx_http_broadcast_csv_ctl(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if ((u_char) s[i] < 0x20 || s[i] == 0x7f) {
            return 1;
        }
    }

    return 0;
}


static void
ngx_http_broadcast_csv_header(ngx_http_broadcast_csv_state_t *st)
{
    size_t       len, k;
    char        *s, low[64];
    ngx_uint_t   i, j, addr;

    addr = 0;
    st->ncols = st->nfields;

    for (i = 0; i < st->nfields; i++) {
        s = st->fields[i];
        len = st->lens[i];

        /* a UTF-8 BOM before the first header */
        if (i == 0 && len >= 3 && ngx_memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
            s += 3;
            len -= 3;
        }

        while (len && (s[0] == ' ' || s[0] == '\t')) { s++; len--; }
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) { len--; }

        st->cols[i] = len ? BC_COL_ATTR : BC_COL_SKIP;

        if (len < sizeof(low)) {
            for (k = 0; k < len; k++) {
                low[k] = (char) ngx_tolower(s[k]);
            }

            low[len] = '\0';

            for (j = 0; ngx_http_broadcast_csv_syns[j].header; j++) {
                if (strcmp(low, ngx_http_broadcast_csv_syns[j].header) == 0) {
                    st->cols[i] = ngx_http_broadcast_csv_syns[j].col;
                }
            }
        }

        if (st->cols[i] == BC_COL_ATTR
            && (bc_utf8_valid(s, len) != len || len > 255))
        {
            st->cols[i] = BC_COL_SKIP;
        }

        if (st->cols[i] == BC_COL_ATTR) {
            st->names[i] = strndup(s, len);
        }

        if (st->cols[i] == BC_COL_PHONE || st->cols[i] == BC_COL_WHATSAPP
            || st->cols[i] == BC_COL_EMAIL)
        {
            addr = 1;
        }
    }

    if (!addr) {
        st->failed = 1;
        snprintf(st->message, sizeof(st->message), "the header (line 1) "
                 "names no phone, mobile, whatsapp or email column");
    }
}


/* a tags cell into tags; NULL, or why the row is refused */
static const char *
ngx_http_broadcast_csv_tags(json_t *tags, const char *s, size_t len)
{
    const char  *p, *q, *end, *why;
    char         tag[NGX_HTTP_BROADCAST_TAG_SIZE];

    end = s + len;

    while (s < end) {
        for (p = s; p < end && *p != ';' && *p != ','; p++) { /* void */ }

        /* "a; ;b" or a trailing ';': no tag there, not a bad one */
        for (q = s; q < p && (*q == ' ' || *q == '\t'); q++) { /* void */ }

        if (q < p) {
            if (ngx_http_broadcast_contact_tag(s, p - s, tag, &why) != 0) {
                return why;
            }

            if (json_array_size(tags) == NGX_HTTP_BROADCAST_CONTACT_TAGS_MAX)
            {
                return "a contact has at most 100 tags";
            }

            json_array_append_new(tags, json_string(tag));
        }

        s = p + 1;
    }

    return NULL;
}


/* the attributes cell of an export: its keys merged into attrs */
static const char *
ngx_http_broadcast_csv_attrs(json_t *attrs, const char *s, size_t len)
{
    json_t  *obj;

    obj = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL);

    if (!json_is_object(obj)) {
        json_decref(obj);
        return "attributes must be a JSON object";
    }

    json_object_update(attrs, obj);
    json_decref(obj);

    return NULL;
}


/* one cell into the row; NULL, or why the row is refused */
static const char *
ngx_http_broadcast_csv_cell(ngx_http_broadcast_csv_state_t *st,
    ngx_http_broadcast_csv_row_t *row, json_t *attrs, ngx_uint_t i)
{
    char        *s;
    size_t       len;
    const char  *reason;

    s = st->fields[i];
    len = st->lens[i];

    while (len && (s[0] == ' ' || s[0] == '\t')) { s++; len--; }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) { len--; }

    if (len == 0) {
        return NULL;
    }

    if (bc_utf8_valid(s, len) != len) {
        return "a cell is not UTF-8 text";
    }

    switch (st->cols[i]) {

    case BC_COL_NAME:
        if (len >= sizeof(row->name) || ngx_http_broadcast_csv_ctl(s, len)
            || ngx_http_broadcast_utf8_chars(s, len)
               > NGX_HTTP_BROADCAST_CONTACT_NAME_MAX)
        {
            return "name must be one line of at most 255 characters";
        }

        ngx_memcpy(row->name, s, len);
        row->name[len] = '\0';
        return NULL;

    case BC_COL_PHONE:
    case BC_COL_WHATSAPP:
        if (bc_phone_normalize(s, len, st->job->country,
                st->cols[i] == BC_COL_PHONE ? row->phone : row->whatsapp,
                &reason)
            != 0)
        {
            return "phone and whatsapp must be phone numbers, E.164 or "
                   "national for the default country";
        }

        return NULL;

    case BC_COL_EMAIL:
        if (!bc_email_valid(s, len, row->email)) {
            return "email must be an e-mail address of at most 254 "
                   "characters";
        }

        return NULL;

    case BC_COL_TAGS:
        return ngx_http_broadcast_csv_tags(row->tags, s, len);

    case BC_COL_LOCALE:
    case BC_COL_TIMEZONE:
        if (len >= (st->cols[i] == BC_COL_LOCALE ? sizeof(row->locale)
                                                 : sizeof(row->timezone))
            || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789-_/+") < len)
        {
            return "locale (BCP 47) or timezone (IANA) malformed";
        }

        ngx_memcpy(st->cols[i] == BC_COL_LOCALE ? row->locale : row->timezone,
                   s, len);
        (st->cols[i] == BC_COL_LOCALE ? row->locale : row->timezone)[len] = 0;
        return NULL;

    case BC_COL_ATTR:
        json_object_set_new(attrs, st->names[i], json_stringn(s, len));
        return NULL;

    case BC_COL_ATTRS:
        return ngx_http_broadcast_csv_attrs(attrs, s, len);

    default:
        return NULL;
    }
}


static void
ngx_http_broadcast_csv_record(ngx_http_broadcast_csv_state_t *st)
{
    json_t                        *attrs;
    ngx_uint_t                     i, t;
    const char                    *why;
    ngx_http_broadcast_csv_row_t  *row;

    row = &st->batch[st->nbatch];
    ngx_memzero(row, sizeof(ngx_http_broadcast_csv_row_t));

    if (st->too_long) {
        ngx_http_broadcast_csv_reject(st, "a cell is over 65536 bytes");
        return;
    }

    attrs = json_object();
    row->tags = json_array();
    row->line = st->record_line;
    why = NULL;

    for (i = 0; i < st->nfields && i < st->ncols && why == NULL; i++) {
        why = ngx_http_broadcast_csv_cell(st, row, attrs, i);
    }

    if (why == NULL && !row->phone[0] && !row->whatsapp[0] && !row->email[0])
    {
        why = "no phone, whatsapp or email";
    }

    if (why != NULL) {
        json_decref(attrs);
        json_decref(row->tags);
        ngx_http_broadcast_csv_reject(st, why);
        return;
    }

    for (t = 0; t < st->job->ntags; t++) {
        json_array_append_new(row->tags, json_string(st->job->tags[t]));
    }

    if (json_object_size(attrs)) {
        row->attrs = json_dumps(attrs, JSON_COMPACT|JSON_SORT_KEYS);
    }

    json_decref(attrs);

    st->rows++;

    if (++st->nbatch == NGX_HTTP_BROADCAST_IMPORT_BATCH) {
        ngx_http_broadcast_csv_flush(st);
    }
}


/* libcsv: one field of the current record */
static void
ngx_http_broadcast_csv_field(void *data, size_t len, void *state)
{
    ngx_http_broadcast_csv_state_t *st = state;

    char  *s = data;
    size_t i;

    if (st->nfields == 0) {
        st->record_line = st->line;
    }

    for (i = 0; i < len; i++) {
        st->line += (s[i] == '\n');
    }

    if (st->nfields == NGX_HTTP_BROADCAST_IMPORT_COLS) {
        return;
    }

    if (len > NGX_HTTP_BROADCAST_IMPORT_FIELD_MAX) {
        st->too_long = 1;
        len = 0;
    }

    st->fields[st->nfields] = strndup(s ? s : "", len);
    st->lens[st->nfields] = st->fields[st->nfields] ? len : 0;
    st->nfields++;
}


/*
 * libcsv: the end of a record, or (CSV_REPALL_NL) of an empty line: every
 * unquoted CR and LF is reported, so lines are counted right across blank
 * lines; the LF of a CRLF is no line of its own
 */
static void
ngx_http_broadcast_csv_end(int c, void *state)
{
    ngx_http_broadcast_csv_state_t *st = state;

    ngx_uint_t  i, crlf;

    crlf = (c == '\n' && st->last_end == '\r');
    st->last_end = c;

    if (st->nfields == 0) {
        st->line += !crlf;
        return;
    }

    if (st->failed) {
        /* nothing more once the import failed */

    } else if (!st->header_done) {
        st->header_done = 1;
        ngx_http_broadcast_csv_header(st);

    } else {
        ngx_http_broadcast_csv_record(st);
    }

    for (i = 0; i < st->nfields; i++) {
        free(st->fields[i]);
    }

    st->nfields = 0;
    st->too_long = 0;
    st->line++;
}


/* ------------------------------------------------------------------ SQL */


static int
ngx_http_broadcast_csv_exec(ngx_http_broadcast_csv_state_t *st,
    ngx_http_broadcast_sql_t *sql)
{
    MYSQL  *m = st->conn->mysql;

    if (sql->failed) {
        snprintf(st->message, sizeof(st->message), "out of memory");
        return -1;
    }

    /* a statement of an open transaction: never reconnected and retried */
    if (mysql_real_query(m, sql->data, sql->len) != 0) {
        snprintf(st->message, sizeof(st->message), "MySQL: %s",
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
        row = &st->batch[i];
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
        "updated_at + INTERVAL 1000 MICROSECOND, NOW(3))");
}


/* the contact a row was upserted as, by its first address */
static void
ngx_http_broadcast_csv_where(ngx_http_broadcast_sql_t *sql, MYSQL *m,
    ngx_http_broadcast_csv_row_t *row)
{
    const char  *col, *v;

    col = row->phone[0] ? "phone" : row->whatsapp[0] ? "whatsapp" : "email";
    v = row->phone[0] ? row->phone
                      : row->whatsapp[0] ? row->whatsapp : row->email;

    ngx_http_broadcast_sql_cat(sql, " FROM contacts WHERE %s = ", col);
    ngx_http_broadcast_sql_str(sql, m, v, strlen(v));
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
                               "(contact_id, tag) ");

    for (i = from; i < to; i++) {
        row = &st->batch[i];

        json_array_foreach(row->tags, t, tag) {
            ngx_http_broadcast_sql_cat(&sql, n++ ? " UNION ALL SELECT id, "
                                                 : "SELECT id, ");
            ngx_http_broadcast_sql_str(&sql, m, json_string_value(tag),
                                       json_string_length(tag));
            ngx_http_broadcast_csv_where(&sql, m, row);
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
                               "contact_id, created_at) ");

    for (i = from; i < to; i++) {
        ngx_http_broadcast_sql_cat(&sql, "%sSELECT %lld, id, NOW(3)",
                                   i > from ? " UNION ALL " : "",
                                   st->job->group_id);
        ngx_http_broadcast_csv_where(&sql, m, &st->batch[i]);
    }

    rc = ngx_http_broadcast_csv_exec(st, &sql);
    free(sql.data);

    return rc;
}


/*
 * rows [from, to) upserted and linked, counted as created or updated
 * (an insert affects 1 row, an update 2); 0, 1 if a row's addresses
 * belong to two contacts (1062), -1 on another error
 */
static int
ngx_http_broadcast_csv_write(ngx_http_broadcast_csv_state_t *st,
    ngx_uint_t from, ngx_uint_t to)
{
    int                        rc;
    long long                  affected, n;
    ngx_http_broadcast_sql_t   sql = { 0 };

    ngx_http_broadcast_csv_upsert(st, &sql, from, to);
    rc = ngx_http_broadcast_csv_exec(st, &sql);
    free(sql.data);

    if (rc != 0) {
        return mysql_errno(st->conn->mysql) == 1062 ? 1 : -1;
    }

    n = to - from;
    affected = (long long) mysql_affected_rows(st->conn->mysql);
    st->updated += affected - n;
    st->created += 2 * n - affected;

    return ngx_http_broadcast_csv_links(st, from, to);
}


static int
ngx_http_broadcast_csv_progress(ngx_http_broadcast_csv_state_t *st,
    const char *status)
{
    int                        rc;
    char                      *errors;
    ngx_http_broadcast_sql_t   sql = { 0 };

    errors = json_dumps(st->errors, JSON_COMPACT);

    ngx_http_broadcast_sql_cat(&sql, "UPDATE imports SET status = '%s', "
        "`rows` = %lld, created = %lld, updated = %lld, rejected = %lld, "
        "errors = ", status, st->rows, st->created, st->updated,
        st->rejected);
    ngx_http_broadcast_sql_str(&sql, st->conn->mysql, errors,
                               errors ? strlen(errors) : 0);
    ngx_http_broadcast_sql_cat(&sql, ", message = ");
    ngx_http_broadcast_sql_str(&sql, st->conn->mysql,
                               st->message[0] ? st->message : NULL,
                               strlen(st->message));
    ngx_http_broadcast_sql_cat(&sql, ", updated_at = NOW(3) WHERE id = %lld",
                               st->job->import_id);

    rc = ngx_http_broadcast_csv_exec(st, &sql);

    free(sql.data);
    free(errors);

    return rc;
}


static void
ngx_http_broadcast_csv_free_batch(ngx_http_broadcast_csv_state_t *st)
{
    ngx_uint_t  i;

    for (i = 0; i < st->nbatch; i++) {
        free(st->batch[i].attrs);
        json_decref(st->batch[i].tags);
    }

    st->nbatch = 0;
}


/*
 * One transaction: the batch in one statement; if two rows or a row and
 * two contacts collide on addresses (1062), the batch again row by row,
 * refusing only the rows that collide. The counters in the same commit.
 */
static void
ngx_http_broadcast_csv_flush(ngx_http_broadcast_csv_state_t *st)
{
    int                        rc;
    MYSQL                     *m = st->conn->mysql;
    ngx_uint_t                 i;
    long long                  created, updated, line;
    ngx_http_broadcast_sql_t   begin = { (char *) "BEGIN", 5, 6, 0, 1 };
    ngx_http_broadcast_sql_t   rollback = { (char *) "ROLLBACK", 8, 9, 0, 1 };
    ngx_http_broadcast_sql_t   commit = { (char *) "COMMIT", 6, 7, 0, 1 };

    if (st->failed) {
        ngx_http_broadcast_csv_free_batch(st);
        return;
    }

    created = st->created;
    updated = st->updated;

    if (ngx_http_broadcast_csv_exec(st, &begin) != 0) {
        goto failed;
    }

    rc = st->nbatch ? ngx_http_broadcast_csv_write(st, 0, st->nbatch) : 0;

    if (rc == 1) {
        st->created = created;
        st->updated = updated;

        if (ngx_http_broadcast_csv_exec(st, &rollback) != 0
            || ngx_http_broadcast_csv_exec(st, &begin) != 0)
        {
            goto failed;
        }

        line = st->record_line;

        for (i = 0; i < st->nbatch; i++) {
            rc = ngx_http_broadcast_csv_write(st, i, i + 1);

            if (rc == 1) {
                /* counted as a row already: only the rejection */
                st->rows--;
                st->record_line = st->batch[i].line;
                ngx_http_broadcast_csv_reject(st, "its addresses belong to "
                                              "different contacts");
            }

            if (rc < 0) {
                goto failed;
            }
        }

        st->record_line = line;
        st->message[0] = '\0';
        rc = 0;
    }

    if (rc != 0 || ngx_http_broadcast_csv_progress(st, "running") != 0
        || ngx_http_broadcast_csv_exec(st, &commit) != 0)
    {
        goto failed;
    }

    ngx_http_broadcast_csv_free_batch(st);
    return;

failed:

    (void) mysql_rollback(m);
    st->failed = 1;
    ngx_http_broadcast_csv_free_batch(st);
}


/* ------------------------------------------------------------- the job */


static int
ngx_http_broadcast_csv_parse(ngx_http_broadcast_csv_state_t *st, int fd)
{
    u_char             buf[65536], *p;
    ssize_t            n;
    ngx_uint_t         first;
    struct csv_parser  parser;

    if (csv_init(&parser, CSV_APPEND_NULL|CSV_REPALL_NL) != 0) {
        snprintf(st->message, sizeof(st->message), "out of memory");
        return -1;
    }

    first = 1;

    for ( ;; ) {
        n = read(fd, buf, sizeof(buf));

        if (n < 0 && errno == EINTR) {
            continue;
        }

        if (n < 0) {
            snprintf(st->message, sizeof(st->message), "read: %s",
                     strerror(errno));
            csv_free(&parser);
            return -1;
        }

        if (n == 0 || st->failed) {
            break;
        }

        p = buf;

        /* a UTF-8 BOM at the start of the file is no part of the header */
        if (first && n >= 3 && ngx_memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
            p += 3;
            n -= 3;
        }

        first = 0;

        if (csv_parse(&parser, p, n, ngx_http_broadcast_csv_field,
                      ngx_http_broadcast_csv_end, st)
            != (size_t) n)
        {
            snprintf(st->message, sizeof(st->message), "CSV: %s",
                     csv_strerror(csv_error(&parser)));
            csv_free(&parser);
            return -1;
        }
    }

    (void) csv_fini(&parser, ngx_http_broadcast_csv_field,
                    ngx_http_broadcast_csv_end, st);
    csv_free(&parser);

    return 0;
}


void
ngx_http_broadcast_import_run(ngx_http_broadcast_import_job_t *job,
    ngx_http_broadcast_conn_t *conn)
{
    int                              fd;
    char                             err[256];
    ngx_uint_t                       i;
    ngx_http_broadcast_csv_state_t  *st;

    fd = open(job->path, O_RDONLY);

    /* the link is ours alone: gone from the directory now, read by fd */
    (void) unlink(job->path);

    st = calloc(1, sizeof(ngx_http_broadcast_csv_state_t));

    if (st == NULL || conn == NULL) {
        goto done;
    }

    st->job = job;
    st->conn = conn;
    st->line = 1;
    st->errors = json_array();

    if (conn->mysql == NULL) {
        conn->mysql = bc_db_connect(&job->mcf->mysql, err, sizeof(err));
        if (conn->mysql == NULL) {
            goto done;
        }
    }

    /* a connection that went away while the thread was idle: reconnect */
    if (mysql_ping(conn->mysql) != 0) {
        mysql_close(conn->mysql);
        conn->mysql = bc_db_connect(&job->mcf->mysql, err, sizeof(err));
        if (conn->mysql == NULL) {
            goto done;
        }
    }

    if (fd == -1) {
        snprintf(st->message, sizeof(st->message), "the uploaded file is "
                 "gone: %s", strerror(errno));
        st->failed = 1;

    } else if (ngx_http_broadcast_csv_parse(st, fd) != 0) {
        st->failed = 1;

    } else if (!st->header_done) {
        snprintf(st->message, sizeof(st->message), "the file has no header "
                 "line");
        st->failed = 1;
    }

    ngx_http_broadcast_csv_flush(st);

    (void) ngx_http_broadcast_csv_progress(st, st->failed ? "failed"
                                                          : "done");

done:

    if (fd != -1) {
        close(fd);
    }

    if (st) {
        for (i = 0; i < st->nfields; i++) {
            free(st->fields[i]);
        }

        for (i = 0; i < st->ncols; i++) {
            free(st->names[i]);
        }

        ngx_http_broadcast_csv_free_batch(st);
        json_decref(st->errors);
        free(st);
    }
}

/*
 * The CSV import's parse, in a pool thread with no request: libcsv over
 * 64 KB chunks of the file (quotes, embedded commas and newlines, CRLF),
 * the header mapped by synonyms (English and the predecessor's Chinese),
 * rows upserted by normalised address in batches, one transaction each,
 * with the imports row's counters. No nginx calls here but memory ones.
 */


#include "ngx_http_broadcast_csv_import.h"

#include "bc_utf8.h"

#include <csv.h>


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



void
ngx_http_broadcast_csv_count(ngx_http_broadcast_csv_state_t *st)
{
    pthread_mutex_lock(&st->mu);
    st->rows++;
    pthread_mutex_unlock(&st->mu);
}


void
ngx_http_broadcast_csv_reject(ngx_http_broadcast_csv_state_t *st,
    long long line, const char *why, ngx_uint_t counted)
{
    pthread_mutex_lock(&st->mu);

    st->rows += !counted;
    st->rejected++;

    if (json_array_size(st->errors) < NGX_HTTP_BROADCAST_IMPORT_ERRORS) {
        json_array_append_new(st->errors,
            json_pack("{s:I,s:s}", "line", (json_int_t) line, "error", why));
    }

    pthread_mutex_unlock(&st->mu);
}


/* the columns of a headerless file of the predecessor's SMS contacts */
static const int  ngx_http_broadcast_csv_positions[] = {
    BC_COL_PHONE, BC_COL_NAME, BC_COL_TAGS
};


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

    if (addr) {
        return;
    }

    if (!st->job->by_position) {
        st->failed = 1;
        snprintf(st->message, sizeof(st->message), "the header (line 1) "
                 "names no phone, mobile, whatsapp or email column");
        return;
    }

    /* the predecessor's SMS contacts file without a header: phone, name,
       tags by position, and line 1 is a row */
    for (i = 0; i < st->nfields; i++) {
        free(st->names[i]);
        st->names[i] = NULL;
        st->cols[i] = i < 3 ? ngx_http_broadcast_csv_positions[i] : BC_COL_SKIP;
    }

    st->headerless = 1;
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

    if (memchr(s, '\0', len) != NULL) {
        return "a cell holds a NUL byte, which is not text";
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
        ngx_http_broadcast_csv_reject(st, st->record_line,
                                      "a cell is over 65536 bytes", 0);
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
        ngx_http_broadcast_csv_reject(st, st->record_line, why, 0);
        return;
    }

    for (t = 0; t < st->job->ntags; t++) {
        json_array_append_new(row->tags, json_string(st->job->tags[t]));
    }

    if (json_object_size(attrs)) {
        row->attrs = json_dumps(attrs, JSON_COMPACT|JSON_SORT_KEYS);
    }

    json_decref(attrs);

    ngx_http_broadcast_csv_count(st);

    if (++st->nbatch == NGX_HTTP_BROADCAST_IMPORT_BATCH) {
        ngx_http_broadcast_csv_hand_over(st);
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

    /* all len bytes: a cell may hold a NUL byte, where strndup would stop
       while lens kept len (the cell was then read past its copy) */
    st->fields[st->nfields] = malloc(len + 1);
    if (st->fields[st->nfields] != NULL) {
        if (len) {
            ngx_memcpy(st->fields[st->nfields], s, len);
        }
        st->fields[st->nfields][len] = '\0';
    }
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

        if (st->headerless) {
            ngx_http_broadcast_csv_record(st);
        }

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
    st->batch = st->batches[0];
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);

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

    ngx_http_broadcast_csv_writer_start(st);

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

    ngx_http_broadcast_csv_finish(st);

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

        ngx_http_broadcast_csv_free_rows(st->batch, st->nbatch);
        json_decref(st->errors);
        pthread_cond_destroy(&st->cv);
        pthread_mutex_destroy(&st->mu);
        free(st);
    }
}

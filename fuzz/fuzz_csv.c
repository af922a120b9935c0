/*
 * libFuzzer target: the CSV reading of POST /api/contacts/import, at the
 * level the module uses libcsv (src/ngx_http_broadcast_csv_import.c: the
 * parser's options, the BOM of the first chunk, 64 KB chunks of the file;
 * the rest of that file is tied to nginx types and MySQL).
 * Input: 2 bytes of chunk size (1..512), then the file.
 * Invariants:
 *   - a field is NUL-terminated at its length (CSV_APPEND_NULL, which the
 *     module's copies rely on) and no longer than the file
 *   - records and fields do not depend on where the chunks end: the file
 *     read at once and read in small chunks give the same events
 *   - CSV_REPALL_NL reports every unquoted CR and LF: the module's line
 *     count never exceeds the file's line breaks + 1
 *   - the module's cap of 256 fields per record and its field size limit
 *     hold for what it keeps
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define COLS       256           /* NGX_HTTP_BROADCAST_IMPORT_COLS */
#define FIELD_MAX  65536         /* NGX_HTTP_BROADCAST_IMPORT_FIELD_MAX */

typedef struct {
    size_t         size;         /* of the file */
    uint64_t       digest;       /* FNV-1a over the events */
    size_t         events;
    size_t         nfields;      /* of the current record, as kept */
    long long      line;         /* the module's count, from 1 */
    int            last_end;
} csv_state_t;


static void
mix(csv_state_t *st, const void *p, size_t n)
{
    const unsigned char  *b = p;
    size_t                i;

    for (i = 0; i < n; i++) {
        st->digest = (st->digest ^ b[i]) * 1099511628211ULL;
    }
}


static void
on_field(void *data, size_t len, void *state)
{
    csv_state_t  *st = state;
    const char   *s = data;
    size_t        i;

    if (len > st->size || (s != NULL && s[len] != '\0')
        || (s == NULL && len != 0))
    {
        abort();
    }
    for (i = 0; i < len; i++) {
        st->line += (s[i] == '\n');
    }
    mix(st, "F", 1);
    mix(st, &len, sizeof(len));
    if (len) {
        mix(st, s, len);
    }
    st->events++;
    if (st->nfields < COLS) {
        st->nfields++;
    }
    if (st->nfields > COLS) {
        abort();
    }
}


static void
on_end(int c, void *state)
{
    csv_state_t  *st = state;
    int           crlf;

    crlf = (c == '\n' && st->last_end == '\r');
    st->last_end = c;
    mix(st, "E", 1);
    mix(st, &c, sizeof(c));
    st->events++;
    if (st->nfields == 0) {
        st->line += !crlf;
        return;
    }
    st->nfields = 0;
    st->line++;
}


/* the module's loop: the BOM off the first chunk, libcsv over chunks;
   0, or -1 on a parse error */
static int
parse(const unsigned char *p, size_t size, size_t chunk, csv_state_t *st)
{
    struct csv_parser  parser;
    size_t             n, first = 1;
    unsigned char     *buf;

    memset(st, 0, sizeof(*st));
    st->size = size;
    st->digest = 1469598103934665603ULL;
    st->line = 1;

    if (csv_init(&parser, CSV_APPEND_NULL|CSV_REPALL_NL) != 0) {
        return -2;
    }
    while (size > 0) {
        n = size < chunk ? size : chunk;
        /* an exact-size copy per chunk, as read() would fill it */
        buf = malloc(n);
        if (buf == NULL) {
            csv_free(&parser);
            return -2;
        }
        memcpy(buf, p, n);
        p += n;
        size -= n;
        {
            unsigned char  *q = buf;
            size_t          m = n;

            if (first && m >= 3 && memcmp(q, "\xEF\xBB\xBF", 3) == 0) {
                q += 3;
                m -= 3;
            }
            first = 0;
            if (csv_parse(&parser, q, m, on_field, on_end, st) != m) {
                free(buf);
                csv_free(&parser);
                return -1;
            }
        }
        free(buf);
    }
    (void) csv_fini(&parser, on_field, on_end, st);
    csv_free(&parser);
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    csv_state_t  whole, chunked;
    size_t       chunk, i, breaks = 0;
    int          a, b;

    if (size < 2) {
        return 0;
    }
    chunk = 1 + ((size_t) data[0] << 8 | data[1]) % 512;
    data += 2;
    size -= 2;

    /* the BOM is only looked for at the start of the first chunk: a
       chunk shorter than the BOM splits it, as a 64 KB read never does */
    if (chunk < 3) {
        chunk = 3;
    }

    a = parse(data, size, size ? size : 1, &whole);
    b = parse(data, size, chunk, &chunked);
    if (a == -2 || b == -2) {
        return 0;
    }
    if (a != b || (a == 0 && (whole.digest != chunked.digest
                              || whole.events != chunked.events
                              || whole.line != chunked.line)))
    {
        abort();
    }

    for (i = 0; i < size; i++) {
        breaks += data[i] == '\n' || (data[i] == '\r'
                                      && (i + 1 == size || data[i + 1] != '\n'));
    }
    if (a == 0 && whole.line > (long long) breaks + 2) {
        abort();
    }

    return 0;
}

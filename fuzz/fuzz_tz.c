/*
 * libFuzzer target: the TZif reader and POSIX TZ rules of common/bc_tz.c
 * (quiet hours of campaigns), bc_tz_quiet, bc_tz_hhmm and bc_tz_name_ok.
 * bc_tz.c is included, so its static parser reads the input directly
 * (bc_tz_load only reads files under /usr/share/zoneinfo).
 * Input: 8 bytes of time, 2 + 2 bytes of quiet start and end (minutes),
 * a mode byte, then a TZif file (even mode) or a TZ rule (odd mode).
 * Times are kept within +-2^36 s of the epoch (years -207 to 4147), what
 * a clock or a schedule can hold.
 * Invariants:
 *   - the offset at any time is one of the zone's: a type's UT offset or
 *     the rule's standard or daylight one
 *   - quiet: none when start == end; a window ends after t
 *   - hhmm gives -1 or minutes that print back as the same "HH:MM"
 *   - a name name_ok takes has no "..", no leading '/', <= 64 bytes
 */
#include "../common/bc_tz.c"

#include <stdint.h>


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define T_SPAN  ((int64_t) 1 << 36)


static int
offset_known(const bc_tz_t *tz, long off)
{
    int  i;

    if (tz->has_rule && (off == tz->std_off
                         || (tz->has_dst && off == tz->dst_off)))
    {
        return 1;
    }
    for (i = 0; i < tz->ntypes; i++) {
        if (tz->utoff[i] == off) {
            return 1;
        }
    }
    return 0;
}


static void
check_zone(const bc_tz_t *tz, int64_t t, int start, int end)
{
    int64_t  until;
    long     off;
    int      q;

    off = bc_tz_offset(tz, t);
    if (!offset_known(tz, off)) {
        abort();
    }
    q = bc_tz_quiet(tz, t, start, end, &until);
    if (q && (start == end || until <= t)) {
        abort();
    }
    /* one day of windows later, the zone still answers */
    (void) bc_tz_offset(tz, t + BC_TZ_DAY);
    (void) bc_tz_quiet(tz, t + BC_TZ_DAY / 2, end, start, &until);
}


static void
check_text(const char *s)
{
    char  back[8];
    int   m;

    m = bc_tz_hhmm(s);
    if (m != -1) {
        if (m < 0 || m >= 24 * 60) {
            abort();
        }
        snprintf(back, sizeof(back), "%02d:%02d", m / 60, m % 60);
        if (strcmp(back, s) != 0) {
            abort();
        }
    }
    if (bc_tz_name_ok(s)
        && (s[0] == '/' || strstr(s, "..") != NULL || strlen(s) > 64))
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bc_tz_t         *tz;
    unsigned char   *copy;
    char            *rule;
    uint64_t         raw = 0;
    int64_t          t;
    int              start, end, i;
    size_t           len;

    if (size < 13) {
        return 0;
    }
    for (i = 0; i < 8; i++) {
        raw = raw << 8 | data[i];
    }
    t = (int64_t) (raw % (2 * (uint64_t) T_SPAN)) - T_SPAN;
    start = (data[8] << 8 | data[9]) % (24 * 60);
    end = (data[10] << 8 | data[11]) % (24 * 60);
    len = size - 13;

    tz = calloc(1, sizeof(*tz));
    copy = malloc(len ? len : 1);     /* exact size: ASan sees an overread */
    rule = malloc(len + 1);
    if (tz == NULL || copy == NULL || rule == NULL) {
        goto done;
    }
    memcpy(copy, data + 13, len);
    memcpy(rule, data + 13, len);
    rule[len] = '\0';

    if (data[12] % 2 == 0) {
        if (bc_tz_parse(tz, copy, len) == 0) {
            check_zone(tz, t, start, end);
        }
    } else {
        /* a zone of one type, UTC, whose footer is the rule */
        tz->ntypes = 1;
        tz->trans = malloc(sizeof(int64_t));
        tz->idx = malloc(1);
        tz->utoff = calloc(1, sizeof(long));
        if (tz->trans != NULL && tz->idx != NULL && tz->utoff != NULL) {
            if (bc_tz_posix(tz, rule) != 0) {
                tz->has_rule = 0;
                tz->has_dst = 0;
            }
            check_zone(tz, t, start, end);
        }
        check_text(rule);
    }

done:
    bc_tz_free(tz);
    free(copy);
    free(rule);
    return 0;
}

/*
 * TZif (RFC 8536) versions 1 to 4 and the POSIX TZ string of their footer
 * (bc_tz.h): the transitions give the offset up to the last one, the
 * footer's rule after it (a "slim" file has few transitions and relies on
 * it; a "fat" one lists them to 2037).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_tz.h"

#define BC_TZ_FILE_MAX  (256 * 1024)
#define BC_TZ_DAY       86400

/* a POSIX rule's date: Mm.w.d, Jn (1..365, no 29 Feb) or n (0..365) */
typedef struct {
    char   kind;                    /* 'M', 'J' or 'N' */
    int    m, w, d, n;
    long   time;                    /* seconds after local midnight */
} bc_tz_date_t;

struct bc_tz_s {
    int64_t        *trans;          /* transition times, ascending */
    unsigned char  *idx;            /* the type after each transition */
    long           *utoff;          /* per type */
    int             ntrans;
    int             ntypes;
    int             has_rule;       /* a footer to use after the last */
    int             has_dst;
    long            std_off, dst_off;
    bc_tz_date_t    start, end;
};


static int64_t
bc_tz_floordiv(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* days since 1970-01-01 of a proleptic Gregorian date (Hinnant's) */
static int64_t
bc_tz_days(int64_t y, int m, int d)
{
    int64_t  era, yoe, doy;

    y -= m <= 2;
    era = bc_tz_floordiv(y, 400);
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static int64_t
bc_tz_year(int64_t days)
{
    int64_t  z = days + 719468, era, doe, yoe, doy, mp;

    era = bc_tz_floordiv(z, 146097);
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    return yoe + era * 400 + (mp >= 10);
}

static int
bc_tz_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* ---- the POSIX TZ string ------------------------------------------------ */

static const char *
bc_tz_name(const char *s)
{
    const char  *p = s;

    if (*p == '<') {
        p = strchr(p, '>');
        return p != NULL ? p + 1 : NULL;
    }
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) {
        p++;
    }
    return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] into seconds as written; NULL when it is not one */
static const char *
bc_tz_hms(const char *s, long *secs)
{
    long  sign = 1, part[3] = { 0, 0, 0 };
    int   i;

    if (*s == '+' || *s == '-') {
        sign = *s++ == '-' ? -1 : 1;
    }
    for (i = 0; i < 3; i++) {
        if (*s < '0' || *s > '9') {
            return NULL;
        }
        while (*s >= '0' && *s <= '9') {
            part[i] = part[i] * 10 + (*s++ - '0');
            if (part[i] > 1000) {
                return NULL;
            }
        }
        if (*s != ':') {
            break;
        }
        s++;
    }
    *secs = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
    return s;
}

static const char *
bc_tz_rule_date(const char *s, bc_tz_date_t *r)
{
    char  *e;

    r->time = 7200;
    if (*s == 'M') {
        r->kind = 'M';
        r->m = (int) strtol(s + 1, &e, 10);
        if (*e != '.') {
            return NULL;
        }
        r->w = (int) strtol(e + 1, &e, 10);
        if (*e != '.') {
            return NULL;
        }
        r->d = (int) strtol(e + 1, &e, 10);
        if (r->m < 1 || r->m > 12 || r->w < 1 || r->w > 5 || r->d < 0
            || r->d > 6)
        {
            return NULL;
        }
    } else {
        r->kind = *s == 'J' ? 'J' : 'N';
        r->n = (int) strtol(s + (*s == 'J'), &e, 10);
        if (e == s + (*s == 'J') || r->n < 0 || r->n > 365) {
            return NULL;
        }
    }
    if (*e == '/') {
        return bc_tz_hms(e + 1, &r->time);
    }
    return e;
}

/* the footer's TZ string; 0, or -1 when it is not one this reader knows */
static int
bc_tz_posix(bc_tz_t *tz, const char *s)
{
    long  off;

    s = bc_tz_name(s);
    if (s == NULL || (s = bc_tz_hms(s, &off)) == NULL) {
        return -1;
    }
    tz->std_off = -off;                 /* POSIX counts west positive */
    tz->has_rule = 1;
    if (*s == '\0') {
        return 0;
    }
    s = bc_tz_name(s);
    if (s == NULL) {
        return -1;
    }
    tz->dst_off = tz->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if ((s = bc_tz_hms(s, &off)) == NULL) {
            return -1;
        }
        tz->dst_off = -off;
    }
    if (*s == '\0') {
        s = ",M3.2.0,M11.1.0";          /* POSIX's default: the US rule */
    }
    if (*s != ',' || (s = bc_tz_rule_date(s + 1, &tz->start)) == NULL
        || *s != ',' || (s = bc_tz_rule_date(s + 1, &tz->end)) == NULL
        || *s != '\0')
    {
        return -1;
    }
    tz->has_dst = 1;
    return 0;
}

/* local seconds (since the epoch, as if UTC) of a rule's date in year y */
static int64_t
bc_tz_rule_at(const bc_tz_date_t *r, int64_t y)
{
    static const int  mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
                                  30, 31 };
    int64_t           days;
    int               first, day, len;

    if (r->kind == 'M') {
        days = bc_tz_days(y, r->m, 1);
        first = (int) ((days % 7 + 11) % 7);      /* 1970-01-01: Thursday */
        day = 1 + (r->d - first + 7) % 7 + (r->w - 1) * 7;
        len = mdays[r->m - 1] + (r->m == 2 && bc_tz_leap(y));
        while (day > len) {
            day -= 7;
        }
        days += day - 1;
    } else if (r->kind == 'J') {
        days = bc_tz_days(y, 1, 1) + r->n - 1
               + (bc_tz_leap(y) && r->n >= 60);
    } else {
        days = bc_tz_days(y, 1, 1) + r->n;
    }
    return days * BC_TZ_DAY + r->time;
}

static long
bc_tz_rule_offset(const bc_tz_t *tz, int64_t t)
{
    int64_t  y, on, off;

    if (!tz->has_dst) {
        return tz->std_off;
    }
    y = bc_tz_year(bc_tz_floordiv(t + tz->std_off, BC_TZ_DAY));
    /* the start is in standard time, the end in daylight time */
    on = bc_tz_rule_at(&tz->start, y) - tz->std_off;
    off = bc_tz_rule_at(&tz->end, y) - tz->dst_off;
    if (on < off) {
        return t >= on && t < off ? tz->dst_off : tz->std_off;
    }
    return t >= off && t < on ? tz->std_off : tz->dst_off;
}

/* ---- the TZif file ------------------------------------------------------ */

static int64_t
bc_tz_be(const unsigned char *p, int n)
{
    uint64_t  v = 0;
    int       i;

    for (i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    if (n == 4) {
        return (int32_t) (uint32_t) v;
    }
    return (int64_t) v;
}

/* the data block after the header at p (w: 4 or 8 byte times); its
   length, or -1 */
static long
bc_tz_block(bc_tz_t *tz, const unsigned char *p, size_t len, int w)
{
    long  cnt[6], need;
    int   i;

    if (len < 44 || memcmp(p, "TZif", 4) != 0) {
        return -1;
    }
    for (i = 0; i < 6; i++) {
        cnt[i] = (long) bc_tz_be(p + 20 + 4 * i, 4);
        if (cnt[i] < 0 || cnt[i] > 100000) {
            return -1;
        }
    }
    /* isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt */
    need = 44 + cnt[3] * (w + 1) + cnt[4] * 6 + cnt[5] + cnt[2] * (w + 4)
           + cnt[1] + cnt[0];
    if ((size_t) need > len || cnt[4] == 0) {
        return -1;
    }
    free(tz->trans);
    free(tz->idx);
    free(tz->utoff);
    tz->ntrans = (int) cnt[3];
    tz->ntypes = (int) cnt[4];
    tz->trans = malloc((cnt[3] + 1) * sizeof(int64_t));
    tz->idx = malloc(cnt[3] + 1);
    tz->utoff = malloc(cnt[4] * sizeof(long));
    if (tz->trans == NULL || tz->idx == NULL || tz->utoff == NULL) {
        return -1;
    }
    p += 44;
    for (i = 0; i < tz->ntrans; i++) {
        tz->trans[i] = bc_tz_be(p + (size_t) i * w, w);
    }
    p += (size_t) tz->ntrans * w;
    for (i = 0; i < tz->ntrans; i++) {
        tz->idx[i] = p[i];
        if (p[i] >= tz->ntypes) {
            return -1;
        }
    }
    p += tz->ntrans;
    for (i = 0; i < tz->ntypes; i++) {
        tz->utoff[i] = (long) bc_tz_be(p + 6 * i, 4);
    }
    return need;
}

static int
bc_tz_parse(bc_tz_t *tz, const unsigned char *p, size_t len)
{
    long         n;
    const char  *foot, *nl;
    char         rule[128];

    n = bc_tz_block(tz, p, len, 4);
    if (n < 0) {
        return -1;
    }
    if (p[4] < '2') {
        return 0;
    }
    p += n;
    len -= n;
    n = bc_tz_block(tz, p, len, 8);
    if (n < 0) {
        return -1;
    }
    foot = (const char *) p + n;
    if ((size_t) n + 2 > len || *foot != '\n') {
        return 0;
    }
    nl = memchr(foot + 1, '\n', len - n - 1);
    if (nl == NULL || nl == foot + 1 || nl - foot - 1 >= (long) sizeof(rule))
    {
        return 0;
    }
    memcpy(rule, foot + 1, nl - foot - 1);
    rule[nl - foot - 1] = '\0';
    if (bc_tz_posix(tz, rule) != 0) {
        /* a rule this reader does not know: the last transition holds */
        tz->has_rule = 0;
        tz->has_dst = 0;
    }
    return 0;
}

int
bc_tz_name_ok(const char *name)
{
    const char  *p;

    if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL
        || strlen(name) > 64)
    {
        return 0;
    }
    for (p = name; *p; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')
              || (*p >= '0' && *p <= '9') || *p == '/' || *p == '_'
              || *p == '-' || *p == '+'))
        {
            return 0;
        }
    }
    return 1;
}

bc_tz_t *
bc_tz_load(const char *name)
{
    char            path[128];
    unsigned char  *buf;
    size_t          len;
    FILE           *f;
    bc_tz_t        *tz;

    if (!bc_tz_name_ok(name)) {
        return NULL;
    }
    snprintf(path, sizeof(path), BC_TZ_DIR "/%s", name);
    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    buf = malloc(BC_TZ_FILE_MAX);
    tz = calloc(1, sizeof(*tz));
    len = buf != NULL ? fread(buf, 1, BC_TZ_FILE_MAX, f) : 0;
    fclose(f);
    if (buf == NULL || tz == NULL || bc_tz_parse(tz, buf, len) != 0) {
        free(buf);
        bc_tz_free(tz);
        return NULL;
    }
    free(buf);
    return tz;
}

void
bc_tz_free(bc_tz_t *tz)
{
    if (tz != NULL) {
        free(tz->trans);
        free(tz->idx);
        free(tz->utoff);
        free(tz);
    }
}

long
bc_tz_offset(const bc_tz_t *tz, int64_t t)
{
    int  lo, hi, mid;

    if (tz == NULL) {
        return 0;
    }
    if (tz->ntrans == 0 || t < tz->trans[0]) {
        return tz->ntrans == 0 && tz->has_rule ? bc_tz_rule_offset(tz, t)
                                               : tz->utoff[0];
    }
    lo = 0;
    hi = tz->ntrans - 1;
    while (lo < hi) {                   /* the last transition <= t */
        mid = (lo + hi + 1) / 2;
        if (tz->trans[mid] <= t) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    if (lo == tz->ntrans - 1 && tz->has_rule) {
        return bc_tz_rule_offset(tz, t);
    }
    return tz->utoff[tz->idx[lo]];
}

int
bc_tz_quiet(const bc_tz_t *tz, int64_t t, int start, int end,
    int64_t *until)
{
    int64_t  local, day, wall, u, best = 0;
    long     off, tries[3];
    int      minute, i, found = 0;

    if (start == end) {
        return 0;
    }
    off = bc_tz_offset(tz, t);
    local = t + off;
    day = bc_tz_floordiv(local, BC_TZ_DAY);
    minute = (int) ((local - day * BC_TZ_DAY) / 60);
    if (start < end ? minute < start || minute >= end
                    : minute < start && minute >= end)
    {
        return 0;
    }
    if (start > end && minute >= start) {
        day++;                          /* the window ends tomorrow */
    }
    wall = day * BC_TZ_DAY + (int64_t) end * 60;
    /* the offsets that may hold at the end: a DST change inside the
       window moves it; in a gap the later instant is taken */
    tries[0] = off;
    tries[1] = bc_tz_offset(tz, wall - tries[0]);
    tries[2] = bc_tz_offset(tz, wall - tries[1]);
    for (i = 0; i < 3; i++) {
        u = wall - tries[i];
        if (u + bc_tz_offset(tz, u) >= wall && (!found || u < best)) {
            best = u;
            found = 1;
        }
    }
    if (!found) {
        best = wall - off;
    }
    *until = best > t ? best : t + 1;
    return 1;
}

int
bc_tz_hhmm(const char *s)
{
    if (s == NULL || strlen(s) != 5 || s[2] != ':' || s[0] < '0'
        || s[0] > '2' || s[1] < '0' || s[1] > '9' || s[3] < '0'
        || s[3] > '5' || s[4] < '0' || s[4] > '9')
    {
        return -1;
    }
    if ((s[0] - '0') * 10 + (s[1] - '0') > 23) {
        return -1;
    }
    return ((s[0] - '0') * 10 + (s[1] - '0')) * 60
           + (s[3] - '0') * 10 + (s[4] - '0');
}

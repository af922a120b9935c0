/*
 * IANA time zones read from the system's tz database (TZif files under
 * /usr/share/zoneinfo) without tzset(): switching TZ in a threaded process
 * changes every thread's localtime(), so quiet hours (docs/DESIGN.md
 * "Campaigns") compute offsets with this reader instead. No nginx headers.
 */
#ifndef BC_TZ_H
#define BC_TZ_H

#include <stddef.h>
#include <stdint.h>

#define BC_TZ_DIR  "/usr/share/zoneinfo"

typedef struct bc_tz_s  bc_tz_t;

/* a zone by IANA name ("Europe/Berlin", "UTC"); NULL when the name is not
   a zone's (or unsafe: "..", a leading '/') or out of memory */
bc_tz_t *bc_tz_load(const char *name);
void bc_tz_free(bc_tz_t *tz);

/* 1 when name has the shape of a zone name (letters, digits, '/', '_',
   '-', '+'; no "..", no leading '/'; at most 64 bytes), else 0: no file
   is looked at */
int bc_tz_name_ok(const char *name);

/* the zone's offset from UTC in seconds (east positive) at UTC time t */
long bc_tz_offset(const bc_tz_t *tz, int64_t t);

/*
 * Quiet hours: a window from start to end (minutes after local midnight,
 * wrapping midnight when start > end; start == end is no window). 0 when
 * the local time of t in tz (NULL: UTC) is outside it, else 1 with the
 * UTC time the window ends in *until (the first instant at or after the
 * local end, so a DST gap does not make it earlier).
 */
int bc_tz_quiet(const bc_tz_t *tz, int64_t t, int start, int end,
    int64_t *until);

/* "HH:MM" into minutes after midnight; -1 when it is not one */
int bc_tz_hhmm(const char *s);

#endif /* BC_TZ_H */

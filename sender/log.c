/*
 * Logging to stderr: "2026-01-01T00:00:00.123Z [level] message".
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "sender.h"

int snd_log_level = SND_LOG_INFO;

static const char *snd_level_names[] = {
    "debug", "info", "notice", "warn", "error"
};

int
snd_log_level_parse(const char *name)
{
    int  i;

    for (i = 0; i <= SND_LOG_ERR; i++) {
        if (strcmp(name, snd_level_names[i]) == 0) {
            return i;
        }
    }
    if (strcmp(name, "warning") == 0) {
        return SND_LOG_WARN;
    }
    if (strcmp(name, "err") == 0 || strcmp(name, "crit") == 0) {
        return SND_LOG_ERR;
    }
    return -1;
}

void
snd_log_write(int level, const char *fmt, ...)
{
    char            ts[32], msg[2048];
    struct timeval  tv;
    struct tm       tm;
    va_list         ap;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    fprintf(stderr, "%s.%03ldZ [%s] %s\n", ts, (long) tv.tv_usec / 1000,
        snd_level_names[level < 0 ? 0 : level > SND_LOG_ERR ? SND_LOG_ERR
                                                             : level],
        msg);
}

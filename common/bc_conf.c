/*
 * "key = value" configuration files: '#' comments, blank lines, surrounding
 * white space trimmed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_conf.h"


#define BC_SECRET_MAX  65536


static int
bc_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'
           || c == '\v';
}


/* trims s in place, returns the new start */
static char *
bc_trim(char *s)
{
    char  *end;

    while (bc_is_space(*s)) {
        s++;
    }

    end = s + strlen(s);
    while (end > s && bc_is_space(end[-1])) {
        end--;
    }

    *end = '\0';

    return s;
}


/*
 * Cuts a comment: '#' at the start of the line or after white space. A '#'
 * inside a value ("pa#ss") is kept, so secrets and URLs with fragments work.
 */
static void
bc_cut_comment(char *line)
{
    char  *p;

    for (p = line; *p; p++) {
        if (*p == '#' && (p == line || bc_is_space(p[-1]))) {
            *p = '\0';
            return;
        }
    }
}


static int
bc_conf_add(bc_conf_t *conf, const char *key, const char *value)
{
    char  **keys, **values;

    keys = realloc(conf->keys, (conf->n + 1) * sizeof(char *));
    if (keys == NULL) {
        return -1;
    }

    conf->keys = keys;

    values = realloc(conf->values, (conf->n + 1) * sizeof(char *));
    if (values == NULL) {
        return -1;
    }

    conf->values = values;

    keys[conf->n] = strdup(key);
    values[conf->n] = strdup(value);

    if (keys[conf->n] == NULL || values[conf->n] == NULL) {
        free(keys[conf->n]);
        free(values[conf->n]);
        return -1;
    }

    conf->n++;

    return 0;
}


int
bc_conf_load(bc_conf_t *conf, const char *path, char *err, size_t errlen)
{
    FILE     *f;
    char     *line, *text, *eq, *key, *value;
    size_t    cap;
    ssize_t   n;
    unsigned  lineno;

    conf->keys = NULL;
    conf->values = NULL;
    conf->n = 0;

    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }

    line = NULL;
    cap = 0;
    lineno = 0;

    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;

        bc_cut_comment(line);
        text = bc_trim(line);

        if (*text == '\0') {
            continue;
        }

        eq = strchr(text, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "%s:%u: expected \"key = value\"", path,
                     lineno);
            goto failed;
        }

        *eq = '\0';
        key = bc_trim(text);
        value = bc_trim(eq + 1);

        if (*key == '\0') {
            snprintf(err, errlen, "%s:%u: empty key", path, lineno);
            goto failed;
        }

        if (bc_conf_add(conf, key, value) != 0) {
            snprintf(err, errlen, "%s:%u: out of memory", path, lineno);
            goto failed;
        }
    }

    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        goto failed;
    }

    free(line);
    fclose(f);

    return 0;

failed:

    free(line);
    fclose(f);
    bc_conf_free(conf);

    return -1;
}


void
bc_conf_free(bc_conf_t *conf)
{
    size_t  i;

    for (i = 0; i < conf->n; i++) {
        free(conf->keys[i]);
        free(conf->values[i]);
    }

    free(conf->keys);
    free(conf->values);

    conf->keys = NULL;
    conf->values = NULL;
    conf->n = 0;
}


const char *
bc_conf_get(const bc_conf_t *conf, const char *key, const char *def)
{
    size_t  i;

    /* the last assignment wins, as in shell env files */
    for (i = conf->n; i > 0; i--) {
        if (strcmp(conf->keys[i - 1], key) == 0) {
            return conf->values[i - 1];
        }
    }

    return def;
}


char *
bc_read_secret_file(const char *path, char *err, size_t errlen)
{
    FILE    *f;
    char    *buf;
    size_t   n;

    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }

    buf = malloc(BC_SECRET_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }

    n = fread(buf, 1, BC_SECRET_MAX + 1, f);

    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        goto failed;
    }

    if (n > BC_SECRET_MAX) {
        snprintf(err, errlen, "%s: larger than %d bytes", path,
                 BC_SECRET_MAX);
        goto failed;
    }

    fclose(f);

    /* editors add a final newline; it is never part of the secret */
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        n--;
    }

    buf[n] = '\0';

    if (n == 0) {
        snprintf(err, errlen, "%s: empty", path);
        free(buf);
        return NULL;
    }

    return buf;

failed:

    fclose(f);
    free(buf);

    return NULL;
}

/*
 * "key = value" configuration files (sender.conf, providers.env): '#'
 * comments, blank lines, surrounding white space trimmed. Used by the sender,
 * broadcastctl and the simulator.
 */
#ifndef BC_CONF_H
#define BC_CONF_H

#include <stddef.h>

typedef struct {
    char   **keys;     /* owned */
    char   **values;   /* owned */
    size_t   n;
} bc_conf_t;

/* 0, or -1 with err ("path:line: reason") */
int bc_conf_load(bc_conf_t *conf, const char *path, char *err, size_t errlen);
void bc_conf_free(bc_conf_t *conf);
const char *bc_conf_get(const bc_conf_t *conf, const char *key,
    const char *def);

/* reads a whole small secret file, trimming a trailing newline; malloc'd */
char *bc_read_secret_file(const char *path, char *err, size_t errlen);

#endif /* BC_CONF_H */

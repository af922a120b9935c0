/*
 * libFuzzer target: bc_job_parse, and dump/parse round trip of what parses.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bc_job.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bc_job_t   job, again;
    char       err[128], *copy, *dump;

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data, size);

    memset(&job, 0, sizeof(job));
    err[0] = '\0';

    if (bc_job_parse(copy, size, &job, err, sizeof(err)) == 0) {
        dump = bc_job_dump(&job);

        if (dump != NULL) {
            memset(&again, 0, sizeof(again));

            if (bc_job_parse(dump, strlen(dump), &again, err, sizeof(err))
                != 0)
            {
                abort();   /* what we wrote we must read back */
            }

            bc_job_free(&again);
            free(dump);
        }
    }

    bc_job_free(&job);
    free(copy);

    return 0;
}

/*
 * What the cmocka unit tests share: their main() and a temporary file
 * helper.
 */
#ifndef BC_UNIT_H
#define BC_UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>


/* main(): runs the cmocka_unit_test() entries given as one group */
#define BC_UNIT_MAIN(...)                                                     \
    int                                                                       \
    main(void)                                                                \
    {                                                                         \
        const struct CMUnitTest  tests[] = { __VA_ARGS__ };                   \
                                                                              \
        return cmocka_run_group_tests(tests, NULL, NULL);                     \
    }


/* writes text to a new file made from the mkstemp() template tmpl; its
 * name goes to path (room for tmpl and its NUL) */
static inline void
bc_unit_write_temp(char *path, const char *tmpl, const char *text)
{
    int    fd;
    FILE  *f;

    strcpy(path, tmpl);
    fd = mkstemp(path);
    assert_true(fd >= 0);

    f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

#endif /* BC_UNIT_H */

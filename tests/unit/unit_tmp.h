/*
 * unit_tmp.h - a private temporary directory per unit-test program.
 */
#ifndef MB_TEST_UNIT_TMP_H
#define MB_TEST_UNIT_TMP_H

#include <stdio.h>
#include <stdlib.h>

/* mkdtemp under $TMPDIR; the path stays valid for the whole program. The
 * files are small and under /tmp, so they are not removed one by one. */
static inline const char *unit_tmpdir(void)
{
    static char dir[256];
    if (dir[0] == '\0') {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/minbill-unit-XXXXXX", t ? t : "/tmp");
        if (mkdtemp(dir) == NULL) {
            perror("mkdtemp");
            exit(1);
        }
    }
    return dir;
}

static inline const char *unit_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", unit_tmpdir(), name);
    return buf;
}

#endif

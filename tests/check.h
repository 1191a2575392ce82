/*
 * check.h - the assertions every minbill C test uses.
 *
 * CHECK() records a failure with file:line and carries on, so one run shows
 * every broken expectation; CHECK_STATUS() also prints the status message.
 * A test program ends with `return check_summary();`, which prints the
 * closing line CTest logs ("N passed, M failed") and exits non-zero on any
 * failure.
 */
#ifndef MB_TEST_CHECK_H
#define MB_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (cond) {                                                                              \
            check_passed++;                                                                      \
        } else {                                                                                 \
            check_failed++;                                                                      \
            fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond);                   \
        }                                                                                        \
    } while (0)

/* err is an mb_error; code a grpc_status_code. */
#define CHECK_STATUS(err, expected)                                                              \
    do {                                                                                         \
        if ((err).code == (expected)) {                                                          \
            check_passed++;                                                                      \
        } else {                                                                                 \
            check_failed++;                                                                      \
            fprintf(stderr, "%s:%d: FAILED: status %s (%s), expected %s\n", __FILE__, __LINE__,  \
                    mb_status_name((err).code), (err).msg, mb_status_name(expected));            \
        }                                                                                        \
    } while (0)

#define CHECK_CONTAINS(haystack, needle)                                                         \
    do {                                                                                         \
        const char *h_ = (haystack), *n_ = (needle);                                             \
        if (h_ != NULL && strstr(h_, n_) != NULL) {                                              \
            check_passed++;                                                                      \
        } else {                                                                                 \
            check_failed++;                                                                      \
            fprintf(stderr, "%s:%d: FAILED: \"%s\" does not contain \"%s\"\n", __FILE__,         \
                    __LINE__, h_ ? h_ : "(null)", n_);                                           \
        }                                                                                        \
    } while (0)

#define RUN(test)                                                                                \
    do {                                                                                         \
        fprintf(stderr, "-- %s\n", #test);                                                       \
        test();                                                                                  \
    } while (0)

static inline int check_summary(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed == 0 && check_passed > 0 ? 0 : 1;
}

#endif

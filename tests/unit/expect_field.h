/*
 * expect_field.h - the verdict every field-check test asserts: a value
 * passes, or fails with INVALID_ARGUMENT and a message "<field>: <rule>"
 * that contains the expected rule and nothing of the value (echoes() decides
 * what counts as "something of the value" for the kind of field).
 */
#ifndef MB_TEST_EXPECT_FIELD_H
#define MB_TEST_EXPECT_FIELD_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "check.h"

/* want == NULL: must pass; else must fail as described above. */
static void expect_field(int rc, const mb_error *err, const char *field, const char *value,
                         const char *want, bool (*echoes)(const char *msg, const char *value))
{
    int failed_before = check_failed;
    if (want == NULL) {
        CHECK(rc == 0);
    } else {
        size_t flen = strlen(field);
        CHECK(rc == -1);
        CHECK_STATUS(*err, GRPC_STATUS_INVALID_ARGUMENT);
        CHECK(strncmp(err->msg, field, flen) == 0 && strncmp(err->msg + flen, ": ", 2) == 0);
        CHECK_CONTAINS(err->msg, want);
        CHECK(!echoes(err->msg + flen, value));
    }
    if (check_failed != failed_before)
        fprintf(stderr, "   ... for value \"%s\" (rc %d, msg \"%s\")\n", value, rc,
                rc == 0 ? "" : err->msg);
}

#endif

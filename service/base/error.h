/*
 * error.h - the error value every minbill function fills.
 *
 * A function that can fail returns 0 on success or -1 on failure and, on
 * failure, fills an mb_error: a gRPC status code plus one line naming the
 * field and the rule ("account.contacts[1].email: not a valid e-mail
 * address"). Handlers hand the error to the RPC runtime unchanged, so the
 * words written where the failure is detected are the words the caller reads.
 *
 * Messages must never contain a PAN, IBAN, e-mail address or phone number:
 * name the field, never echo its value.
 */
#ifndef MB_ERROR_H
#define MB_ERROR_H

#include <grpc/status.h>

#define MB_ERROR_MSG_MAX 384

typedef struct mb_error {
    grpc_status_code code;
    char msg[MB_ERROR_MSG_MAX];
} mb_error;

/* Fills err (if not NULL) and returns -1, so callers can write
 * `return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "...")`. */
int mb_error_set(mb_error *err, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix" to the message, e.g. to add "events[3]." in front of a
 * field error produced by a validator that only knows its own field. */
void mb_error_prefix(mb_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void mb_error_clear(mb_error *err);

/* The canonical upper-case name of a status code ("INVALID_ARGUMENT"). */
const char *mb_status_name(grpc_status_code code);

#endif

/*
 * notices.h - Art. 19 GDPR: the recipients a rectification or an erasure
 * must be told of, taken from the data inventory (each personal column
 * names its recipients) and recorded on the request in
 * subject_request_notices, once each.
 */
#ifndef MB_PRIVACY_NOTICES_H
#define MB_PRIVACY_NOTICES_H

#include <stddef.h>

#include "base/error.h"
#include "store/store.h"

#define PRIVACY_RECIPIENTS_MAX 8

/* Distinct recipients (the inventory's strings, not copies). */
typedef struct privacy_recipients {
    const char *names[PRIVACY_RECIPIENTS_MAX];
    size_t n;
} privacy_recipients;

/* Adds the recipients of table.column (column NULL: of every personal
 * column of table) to out, leaving out those already in it. */
void privacy_recipients_add(privacy_recipients *out, const char *table, const char *column);

/* Records every recipient of r on request_id, on the writer inside the
 * caller's transaction (a recipient recorded before stays once). */
int privacy_notices_record(store_conn_t *conn, const char *request_id, const privacy_recipients *r,
                           mb_error *err);

#endif

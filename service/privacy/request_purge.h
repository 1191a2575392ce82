/*
 * request_purge.h - closed data-subject requests past their retention: the
 * privacy rule of the purge facility (purge/purge.h).
 *
 * A completed or rejected request is the proof that it was answered; it is
 * kept subject_request_retention_days after it was closed (completed_us),
 * then deleted with its scope and its Art. 19 notices, a chunk of requests
 * per step. Open requests are never purged. Their audit events follow the
 * audit trail's own retention.
 */
#ifndef MB_PRIVACY_REQUEST_PURGE_H
#define MB_PRIVACY_REQUEST_PURGE_H

#include "purge/purge.h"

#define REQUEST_PURGE_CHUNK 200

/* The purge_fn; arg unused. */
int request_purge_step(store_conn_t *conn, void *arg, const purge_ctx *ctx, purge_step *step,
                       mb_error *err);

#endif

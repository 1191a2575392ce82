/*
 * endpoint.h - the metrics endpoint: GET /metrics over plain HTTP/1.1.
 *
 * One thread of its own serves one connection at a time: it reads a request
 * of at most METRICS_REQUEST_MAX bytes within METRICS_IO_TIMEOUT_MS, answers
 * GET /metrics with metrics_render() (text format 0.0.4), anything else
 * with 404 (another path), 405 (another method), 400 (not HTTP) or 431 (too
 * large), within METRICS_IO_TIMEOUT_MS again, and closes the connection. A
 * slow or silent client delays only the next scrape, by at most those
 * timeouts; the gRPC threads never wait for this one. It serves figures, never personal data, and
 * has no authentication: bind it to loopback or a monitoring network.
 */
#ifndef MB_METRICS_ENDPOINT_H
#define MB_METRICS_ENDPOINT_H

#include "base/error.h"

#define METRICS_REQUEST_MAX 4096
#define METRICS_IO_TIMEOUT_MS 2000

typedef struct metrics_endpoint metrics_endpoint_t;

/* Listens on addr ("HOST:PORT", "[V6]:PORT"; port 0 picks a free one)
 * and starts the thread; *port receives the bound port. */
int metrics_endpoint_start(const char *addr, metrics_endpoint_t **out, int *port, mb_error *err);

/* Closes the listener, ends a scrape in progress, joins the thread. NULL is
 * a no-op. */
void metrics_endpoint_stop(metrics_endpoint_t *ep);

#endif

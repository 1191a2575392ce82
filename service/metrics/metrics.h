/*
 * metrics.h - the daemon's operating figures, in Prometheus text format.
 *
 * Owns every counter, gauge and histogram minbilld exposes: calls by method
 * and status code, call latency by method, usage events accepted and
 * duplicate, invoices issued, items purged by category, open and overdue access requests, the
 * writer's queue depth and group size, fsync latency (sync_vfs.h) and the
 * database and WAL file sizes. endpoint.h serves them over HTTP.
 *
 * The recording functions run on the hot paths (completion-queue threads
 * at ~100,000 calls/s, the writer thread): each is a few relaxed atomic
 * additions into fixed arrays, no lock, no allocation. The label sets are
 * fixed when the daemon starts (the method table x the 17 status codes),
 * so a caller can never create a series. State is process-wide, so the
 * hooks in other modules are one call each and need no handle; before
 * metrics_init() they still count, and nothing renders them.
 *
 * Labels name methods, status codes and file kinds only: never an account,
 * an API key, a key name or anything else from a request.
 */
#ifndef MB_METRICS_H
#define MB_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/status.h>

#include "rpc/server.h"

/* Method table entries beyond this are counted as method="unknown". */
#define METRICS_METHODS_MAX 128

typedef enum { METRICS_FILE_DATABASE, METRICS_FILE_WAL, METRICS_FILE_OTHER } metrics_file;

/* Names the methods (index i of methods is the method_index given to
 * metrics_call) and the database whose file sizes are reported. Both must
 * outlive every metrics_render(). Called once, before the threads that
 * record start. */
void metrics_init(const rpc_method *methods, size_t n_methods, const char *db_path);

/* One finished call: method_index into the table (-1: a method the table
 * does not have), its final status and its latency. */
void metrics_call(long method_index, grpc_status_code code, int64_t latency_us);

/* Usage events of a committed batch: counted once, and already counted. */
void metrics_events_add(int64_t accepted, int64_t duplicates);

/* Invoices issued (for invoicing to call after the issuing commit). */
void metrics_invoices_issued_add(uint64_t n);

/* Retention purges (purge/purge.h): a category is registered before the
 * threads start (its slot, or -1 when METRICS_PURGE_CATEGORIES are taken:
 * then it is not counted); items removed are added to its slot. */
#define METRICS_PURGE_CATEGORIES 8
int metrics_purge_category(const char *category);
void metrics_purged_add(int slot, uint64_t n);

/* The writer: one job queued; a group of n jobs taken off the queue. */
void metrics_writer_submitted(void);
void metrics_writer_group(size_t n);

/* One fsync of a database file, of what kind, and how long it took. */
void metrics_fsync(metrics_file kind, int64_t ns);

/* The privacy domain's figures, read at scrape time on the endpoint's
 * thread: fn fills how many access requests are open and how many of those
 * are overdue; 0, or -1 to leave them out of this scrape. fn must be
 * thread-safe and quick (it delays the scrape, never a call). Registering
 * NULL removes it and waits for a scrape that is using it, so arg may be
 * freed afterwards. Until one is registered the gauges are not shown. */
typedef int (*metrics_access_requests_fn)(void *arg, int64_t *open, int64_t *overdue);
void metrics_access_requests_source(metrics_access_requests_fn fn, void *arg);

/* Every metric in text exposition format 0.0.4: a malloc'd, NUL-terminated
 * text (*len bytes), or NULL when out of memory. */
char *metrics_render(size_t *len);

#endif

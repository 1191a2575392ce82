/*
 * cmd_usage.h - `minbill usage show ACCOUNT_ID [--period YYYY-MM]` (the usage
 * counters of one month, from Metering/GetUsage) and `minbill usage import
 * FILE` (usage events from JSON Lines, sent in batches through
 * Metering/RecordUsage; safe to run again thanks to idempotency keys).
 */
#ifndef MB_CMD_USAGE_H
#define MB_CMD_USAGE_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"

extern const cli_command cmd_usage_show;
extern const cli_command cmd_usage_import;

/* One usage event as read from a JSON line; the strings are malloc'd. */
typedef struct usage_line {
    char *idempotency_key, *account_id, *metric;
    int64_t quantity;
    int64_t seconds; /* occurred_at */
    int32_t nanos;
} usage_line;

/* Parses one JSON Lines record: an object with exactly the UsageEvent
 * fields (idempotency_key, account_id, metric: strings; quantity: integer,
 * or a string of digits as protobuf's JSON mapping writes int64;
 * occurred_at: RFC 3339, e.g. "2026-10-01T12:00:00Z"). Returns 0, or -1
 * with why (never quoting the line's values) and nothing to free. */
int usage_line_parse(const char *s, usage_line *out, char *why, size_t why_size);
void usage_line_free(usage_line *l);

#endif

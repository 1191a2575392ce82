/*
 * table.h - how `minbill` commands format what the server answered: aligned
 * tables and label/value sections for people, and protobuf messages as JSON
 * for scripts.
 *
 * Human form. Every cell is cleaned on the way in (table_clean), so a server
 * string carrying an escape sequence cannot move the cursor, retitle the
 * window or hide a line: control characters (C0, DEL, C1), the bidi controls
 * that reorder what is shown, and bytes that are not valid UTF-8 each become
 * '?'. Columns are as wide as their widest cell, counted in characters, not
 * bytes, so "•••• 4242" lines up with plain ASCII (wide CJK characters and
 * combining marks are counted as one, which is good enough for ids, names
 * and masked values). Like json_out, a table remembers running out of memory
 * and table_print reports it, so a command checks once, at the end.
 *
 * JSON form. table_json_message writes any message the tool prints with its
 * proto field names as keys, so `--json` output is stable, complete and
 * follows the .proto without a hand-written list of keys per command.
 *
 * table_show ties it together for a command that makes one call: call, JSON
 * or human form, exit code.
 */
#ifndef MB_TABLE_H
#define MB_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

#include "cli.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "base/json_out.h"

#define TABLE_MAX_COLS 8

typedef struct table {
    int n_cols;
    const char *header[TABLE_MAX_COLS]; /* titles; all NULL: a label/value section */
    char **cells;                       /* n_rows * n_cols cleaned, malloc'd copies */
    size_t n_rows, cap_rows;
    bool failed; /* out of memory: rows were lost, table_print refuses */
} table;

/* Starts an empty table of n_cols (1..TABLE_MAX_COLS) columns. headers: n_cols
 * column titles printed as the first line, or NULL for a label/value section
 * (no title line). */
void table_init(table *t, int n_cols, const char *const *headers);

/* Appends a row of n_cols cells, each cleaned and copied. A NULL cell is
 * left blank (a continuation line); an empty string shows as "-", so an
 * empty field is visibly empty rather than a gap the eye skips. Returns 0,
 * or -1 (the table is marked failed) if memory ran out. */
int table_add(table *t, const char *const *cells);

/* Prints the rows, columns separated by two spaces, the last one unpadded.
 * Returns 0, or -1 without printing anything if the table failed. */
int table_print(const table *t, FILE *f);

void table_free(table *t);

/* A malloc'd copy of s made safe for a terminal as described above; NULL if
 * memory ran out. Never longer than s. */
char *table_clean(const char *s);

/* The value of an enum as a short lower-case word: its proto name without
 * the prefix all its values share (ACCOUNT_STATE_ACTIVE -> "active",
 * PAYMENT_METHOD_TYPE_SEPA_DEBIT -> "sepa_debit"). A value newer than our
 * copy of the .proto is shown as its number rather than guessed at. */
const char *table_enum_word(const ProtobufCEnumDescriptor *d, int value, char *buf, size_t size);

/* The date of ts in UTC, "2026-01-01"; "" if ts is NULL. Returns buf. */
const char *table_date(const Google__Protobuf__Timestamp *ts, char *buf, size_t size);

/* ts as RFC 3339 in UTC, "2026-01-01T00:00:00Z" (with 3, 6 or 9 fractional
 * digits when it has nanoseconds), as protobuf's JSON mapping writes it.
 * Returns buf, or NULL if ts is NULL or out of range. */
const char *table_rfc3339(const Google__Protobuf__Timestamp *ts, char *buf, size_t size);

/* Writes msg as a JSON object (NULL: null): every field under its proto name,
 * zero values included; enums by their proto name (a number if unknown);
 * messages nested, or null when absent; repeated fields as arrays;
 * google.protobuf.Timestamp as an RFC 3339 string; oneof members only when
 * set. Returns 0, or -1 for a field type the tool never prints (float,
 * double, bytes), which also marks j failed. */
int table_json_message(json_out *j, const ProtobufCMessage *msg);

/* A command's one call and its output: calls method with req (cli_rpc_unary)
 * and prints the answer on stdout, as one JSON document with --json,
 * otherwise through human(answer, arg), which prints the human form and
 * returns 0, or -1 if memory ran out. Returns the command's exit code; every
 * failure has printed its line. A write error is left to cli_main, which
 * checks stdout after every command. */
int table_show(cli_ctx *ctx, const char *method, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *resp_desc,
               int (*human)(const ProtobufCMessage *answer, const void *arg), const void *arg);

/* table_show's output step alone, for a command that assembles its answer
 * from several calls (pages). Returns the exit code. */
int table_output(const cli_ctx *ctx, const ProtobufCMessage *answer,
                 int (*human)(const ProtobufCMessage *answer, const void *arg), const void *arg);

/* A listing command's calls and output: calls method with req page after
 * page (req's page_token field set from each answer's next_page_token,
 * until that is ""), and prints the messages of the answers' repeated field
 * named items: with --json as {"ITEMS":[...]}, each message in full;
 * otherwise add_row(t, message) for each, then the table t (initialised by
 * the caller, freed here), or the line none ("no invoices") if there were
 * none. Returns the command's exit code. */
int table_list_pages(cli_ctx *ctx, const char *method, ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, const char *items, table *t,
                     void (*add_row)(table *t, const ProtobufCMessage *item), const char *none);

#endif

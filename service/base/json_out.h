/*
 * json_out.h - writes one JSON document to a stdio stream (`minbill --json`,
 * RenderInvoice in JSON).
 *
 * Owns JSON syntax for the tool's output: quoting, escaping, commas and
 * nesting. Commands say what to write (a key, a string, a number) and never
 * format JSON by hand, so the output parses whatever the server's data holds.
 *
 * Strings are written as UTF-8: valid multi-byte sequences pass through
 * unchanged, `"` `\` and control characters are escaped, and any byte that is
 * not part of valid UTF-8 becomes \ufffd (protobuf-c does not check that
 * string fields are UTF-8, and one stray byte would make the document
 * unparseable for every consumer).
 *
 * Misuse (a value where a key is due, a key outside an object, unbalanced
 * ends, a second top-level value, nesting deeper than JSON_OUT_MAX_DEPTH)
 * writes nothing further and marks the writer failed; json_out_finish()
 * reports it, so a bug shows up as a failed command, not as broken JSON.
 */
#ifndef MB_JSON_OUT_H
#define MB_JSON_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_OUT_MAX_DEPTH 16

typedef struct json_out {
    FILE *f;
    int depth; /* 0: top level */
    bool failed;
    bool key_pending;                       /* a key was written; its value is due */
    bool has_items[JSON_OUT_MAX_DEPTH + 1]; /* per level: the next item needs a comma */
    bool is_object[JSON_OUT_MAX_DEPTH + 1]; /* per level: object (keys) or array */
} json_out;

void json_out_init(json_out *j, FILE *f);

void json_out_object_begin(json_out *j);
void json_out_object_end(json_out *j);
void json_out_array_begin(json_out *j);
void json_out_array_end(json_out *j);

/* The key of the next member; only inside an object. */
void json_out_key(json_out *j, const char *key);

/* A string value; NULL writes null. */
void json_out_string(json_out *j, const char *s);
void json_out_int(json_out *j, int64_t v);
void json_out_bool(json_out *j, bool v);
void json_out_null(json_out *j);

/* Ends the document with a newline and flushes the stream. Returns 0, or -1
 * if the document is incomplete, the writer was misused or a write failed. */
int json_out_finish(json_out *j);

/* Writes s[0..len) as a JSON string literal, quotes included, with the
 * escaping described above (a NUL byte inside len is escaped too). Returns 0,
 * or -1 if the stream reports a write error. */
int json_out_quote(FILE *f, const char *s, size_t len);

#endif

/*
 * table.c - see table.h.
 */
#include "table.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_rpc.h"

/* --- terminal safety --------------------------------------------------------- */

char *table_clean(const char *s)
{
    char *out = strdup(s);
    if (out != NULL)
        cli_clean(out);
    return out;
}

/* Characters in a cleaned (valid UTF-8) string: bytes that start one. */
static int display_width(const char *s)
{
    int w = 0;
    for (; *s != '\0'; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

/* --- tables ---------------------------------------------------------------- */

void table_init(table *t, int n_cols, const char *const *headers)
{
    memset(t, 0, sizeof *t);
    if (n_cols < 1 || n_cols > TABLE_MAX_COLS) {
        t->failed = true; /* a bug: table_print says so instead of printing garbage */
        return;
    }
    t->n_cols = n_cols;
    for (int c = 0; headers != NULL && c < n_cols; c++)
        t->header[c] = headers[c];
}

int table_add(table *t, const char *const *cells)
{
    if (t->failed)
        return -1;
    if (t->n_rows == t->cap_rows) {
        size_t cap = t->cap_rows ? 2 * t->cap_rows : 8;
        char **grown = realloc(t->cells, cap * (size_t)t->n_cols * sizeof *grown);
        if (grown == NULL) {
            t->failed = true;
            return -1;
        }
        t->cells = grown;
        t->cap_rows = cap;
    }
    char **row = t->cells + t->n_rows * (size_t)t->n_cols;
    for (int c = 0; c < t->n_cols; c++) {
        const char *v = cells[c] == NULL ? "" : cells[c][0] == '\0' ? "-" : cells[c];
        if ((row[c] = table_clean(v)) == NULL) {
            while (c-- > 0)
                free(row[c]);
            t->failed = true;
            return -1;
        }
    }
    t->n_rows++;
    return 0;
}

/* One line: cells padded to their column's width and two spaces apart, up to
 * the last non-blank cell, so no line ends in spaces. */
static void print_row(FILE *f, int n_cols, const int *width, const char *const *cells)
{
    int last = n_cols - 1;
    while (last > 0 && cells[last][0] == '\0')
        last--;
    for (int c = 0; c < last; c++) /* padding by characters: printf's %-*s counts bytes */
        fprintf(f, "%s%*s", cells[c], width[c] - display_width(cells[c]) + 2, "");
    fprintf(f, "%s\n", cells[last]);
}

int table_print(const table *t, FILE *f)
{
    if (t->failed)
        return -1;
    int width[TABLE_MAX_COLS] = {0};
    bool has_header = t->header[0] != NULL;
    for (int c = 0; c < t->n_cols; c++) {
        if (has_header)
            width[c] = display_width(t->header[c]);
        for (size_t r = 0; r < t->n_rows; r++) {
            int w = display_width(t->cells[r * (size_t)t->n_cols + c]);
            width[c] = w > width[c] ? w : width[c];
        }
    }
    if (has_header)
        print_row(f, t->n_cols, width, t->header);
    for (size_t r = 0; r < t->n_rows; r++)
        print_row(f, t->n_cols, width, (const char *const *)t->cells + r * (size_t)t->n_cols);
    return 0;
}

void table_free(table *t)
{
    for (size_t i = 0; i < t->n_rows * (size_t)t->n_cols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

/* --- value formats ----------------------------------------------------------- */

const char *table_enum_word(const ProtobufCEnumDescriptor *d, int value, char *buf, size_t size)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
    if (v == NULL) {
        snprintf(buf, size, "%d", value);
        return buf;
    }
    /* The shared prefix is the zero value's name less "UNSPECIFIED" (the
     * package's style rule); without such a value the whole name is used. */
    const ProtobufCEnumValue *zero = protobuf_c_enum_descriptor_get_value(d, 0);
    static const char unspecified[] = "UNSPECIFIED";
    size_t skip = 0, zlen = zero != NULL ? strlen(zero->name) : 0;
    if (zlen >= sizeof unspecified - 1 &&
        strcmp(zero->name + zlen - (sizeof unspecified - 1), unspecified) == 0 &&
        strncmp(v->name, zero->name, zlen - (sizeof unspecified - 1)) == 0)
        skip = zlen - (sizeof unspecified - 1);
    size_t n = 0;
    for (const char *p = v->name + skip; *p != '\0' && n + 1 < size; p++)
        buf[n++] = (char)tolower((unsigned char)*p);
    if (size > 0)
        buf[n] = '\0';
    return buf;
}

/* ts broken down in UTC; -1 if it does not fit a struct tm. */
static int utc(const Google__Protobuf__Timestamp *ts, struct tm *tm)
{
    time_t t = (time_t)ts->seconds;
    return (int64_t)t == ts->seconds && gmtime_r(&t, tm) != NULL ? 0 : -1;
}

const char *table_date(const Google__Protobuf__Timestamp *ts, char *buf, size_t size)
{
    struct tm tm;
    if (size > 0)
        buf[0] = '\0';
    if (ts != NULL && utc(ts, &tm) == 0)
        strftime(buf, size, "%Y-%m-%d", &tm);
    return buf;
}

const char *table_rfc3339(const Google__Protobuf__Timestamp *ts, char *buf, size_t size)
{
    struct tm tm;
    if (ts == NULL || utc(ts, &tm) != 0 || ts->nanos < 0 || ts->nanos > 999999999 ||
        strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        return NULL;
    size_t n = strlen(buf);
    /* As few digits as say it exactly, in groups of three (protobuf's rule). */
    int nanos = ts->nanos, digits = 9;
    for (; digits > 0 && nanos % 1000 == 0; digits -= 3)
        nanos /= 1000;
    if (digits > 0)
        snprintf(buf + n, size - n, ".%0*dZ", digits, nanos);
    else
        snprintf(buf + n, size - n, "Z");
    return buf;
}

/* --- messages as JSON ---------------------------------------------------------- */

/* The address of the member at offset in msg. */
static const void *member(const ProtobufCMessage *msg, unsigned offset)
{
    return (const char *)msg + offset;
}

static int json_timestamp(json_out *j, const Google__Protobuf__Timestamp *ts)
{
    char buf[48];
    json_out_string(j, table_rfc3339(ts, buf, sizeof buf));
    return 0;
}

static int json_enum(json_out *j, const ProtobufCEnumDescriptor *d, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
    if (v != NULL)
        json_out_string(j, v->name);
    else
        json_out_int(j, value); /* as protobuf's JSON mapping writes unknown values */
    return 0;
}

/* The size of a value of this type as protobuf-c stores it (in a message, and
 * per element of a repeated field): messages and strings by pointer,
 * everything else by value. */
static size_t element_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_MESSAGE:
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(int64_t);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    default:
        return sizeof(int32_t); /* the 32-bit integers and enums */
    }
}

static int json_value(json_out *j, const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        json_out_string(j, *(char *const *)p);
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        json_out_bool(j, *(const protobuf_c_boolean *)p);
        return 0;
    case PROTOBUF_C_TYPE_ENUM:
        return json_enum(j, f->descriptor, *(const int *)p);
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        json_out_int(j, element_size(f->type) == sizeof(int64_t) ? *(const int64_t *)p
                                                                 : *(const int32_t *)p);
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        json_out_int(j, *(const uint32_t *)p);
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t v = *(const uint64_t *)p;
        if (v <= INT64_MAX) {
            json_out_int(j, (int64_t)v);
        } else {
            char buf[24]; /* too big for int64: a decimal string, never a wrapped number */
            snprintf(buf, sizeof buf, "%" PRIu64, v);
            json_out_string(j, buf);
        }
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(const ProtobufCMessage *const *)p;
        if (m != NULL && strcmp(m->descriptor->name, "google.protobuf.Timestamp") == 0)
            return json_timestamp(j, (const Google__Protobuf__Timestamp *)m);
        return table_json_message(j, m);
    }
    default:
        j->failed = true; /* float, double, bytes: no message the tool prints has them */
        return -1;
    }
}

/* Whether field f of msg is written: a oneof member only when it is the one
 * set; everything else always, zero values included, so the keys a script
 * sees do not depend on the data. */
static bool written(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0)
        return true;
    return *(const uint32_t *)member(msg, f->quantifier_offset) == f->id;
}

int table_json_message(json_out *j, const ProtobufCMessage *msg)
{
    if (msg == NULL) {
        json_out_null(j);
        return 0;
    }
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    int rc = 0;
    json_out_object_begin(j);
    for (unsigned i = 0; i < d->n_fields && rc == 0; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!written(msg, f))
            continue;
        json_out_key(j, f->name);
        const void *p = member(msg, f->offset);
        if (f->label != PROTOBUF_C_LABEL_REPEATED) {
            rc = json_value(j, f, p);
            continue;
        }
        /* Repeated: a count at quantifier_offset, the elements behind a pointer. */
        size_t n = *(const size_t *)member(msg, f->quantifier_offset);
        const char *elems = *(const char *const *)p;
        size_t step = element_size(f->type);
        json_out_array_begin(j);
        for (size_t k = 0; k < n && rc == 0; k++)
            rc = json_value(j, f, elems + k * step);
        json_out_array_end(j);
    }
    json_out_object_end(j);
    return rc;
}

/* --- a command's output ---------------------------------------------------------- */

int table_output(const cli_ctx *ctx, const ProtobufCMessage *answer,
                 int (*human)(const ProtobufCMessage *answer, const void *arg), const void *arg)
{
    if (!ctx->json)
        return human(answer, arg) == 0 ? CLI_OK : cli_fail(ctx, CLI_FAILED, "out of memory");
    json_out j;
    json_out_init(&j, stdout);
    int rc = table_json_message(&j, answer);
    if (json_out_finish(&j) != 0)
        rc = -1;
    /* A write error (ferror) is cli_main's to report, once, for all output. */
    if (rc != 0 && !ferror(stdout))
        return cli_fail(ctx, CLI_FAILED, "internal error: incomplete JSON output");
    return CLI_OK;
}

int table_show(cli_ctx *ctx, const char *method, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *resp_desc,
               int (*human)(const ProtobufCMessage *answer, const void *arg), const void *arg)
{
    ProtobufCMessage *answer = NULL;
    int rc = cli_rpc_unary(ctx, method, req, resp_desc, &answer);
    if (rc != CLI_OK)
        return rc;
    rc = table_output(ctx, answer, human, arg);
    protobuf_c_message_free_unpacked(answer, NULL);
    return rc;
}

/* The string field name of messages of type d; NULL if there is none. */
static const ProtobufCFieldDescriptor *string_field(const ProtobufCMessageDescriptor *d,
                                                    const char *name)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, name);
    return f != NULL && f->type == PROTOBUF_C_TYPE_STRING && f->label != PROTOBUF_C_LABEL_REPEATED
               ? f
               : NULL;
}

int table_list_pages(cli_ctx *ctx, const char *method, ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, const char *items, table *t,
                     void (*add_row)(table *t, const ProtobufCMessage *item), const char *none)
{
    const ProtobufCFieldDescriptor *f_items =
        protobuf_c_message_descriptor_get_field_by_name(resp_desc, items);
    const ProtobufCFieldDescriptor *f_token = string_field(req->descriptor, "page_token");
    const ProtobufCFieldDescriptor *f_next = string_field(resp_desc, "next_page_token");
    if (f_items == NULL || f_items->type != PROTOBUF_C_TYPE_MESSAGE ||
        f_items->label != PROTOBUF_C_LABEL_REPEATED || f_token == NULL || f_next == NULL) {
        table_free(t);
        return cli_fail(ctx, CLI_FAILED, "internal error: %s is not a listing", method);
    }
    char token[256] = "";
    char **page_token = (char **)((char *)req + f_token->offset);
    json_out j;
    if (ctx->json) {
        json_out_init(&j, stdout);
        json_out_object_begin(&j);
        json_out_key(&j, items);
        json_out_array_begin(&j);
    }
    int rc = CLI_OK, bad = 0;
    size_t shown = 0;
    do {
        *page_token = token;
        ProtobufCMessage *answer = NULL;
        rc = cli_rpc_unary(ctx, method, req, resp_desc, &answer);
        if (rc != CLI_OK)
            break;
        size_t n = *(const size_t *)member(answer, f_items->quantifier_offset);
        ProtobufCMessage *const *list =
            *(ProtobufCMessage *const *const *)member(answer, f_items->offset);
        for (size_t i = 0; i < n; i++) {
            if (ctx->json)
                bad |= table_json_message(&j, list[i]);
            else
                add_row(t, list[i]);
        }
        shown += n;
        const char *next = *(char *const *)member(answer, f_next->offset);
        if (strlen(next) >= sizeof token)
            rc = cli_fail(ctx, CLI_FAILED, "the server sent a page token over %zu bytes",
                          sizeof token - 1);
        else
            snprintf(token, sizeof token, "%s", next);
        protobuf_c_message_free_unpacked(answer, NULL);
    } while (rc == CLI_OK && token[0] != '\0');
    *page_token = (char *)protobuf_c_empty_string; /* token is about to go */
    if (ctx->json) {
        json_out_array_end(&j);
        json_out_object_end(&j);
        if (json_out_finish(&j) != 0)
            bad = -1;
    } else if (rc == CLI_OK) {
        if (shown == 0)
            printf("%s\n", none);
        else if (table_print(t, stdout) != 0)
            bad = -1;
    }
    table_free(t);
    if (rc == CLI_OK && bad != 0 && !ferror(stdout))
        return cli_fail(ctx, CLI_FAILED, "out of memory");
    return rc;
}

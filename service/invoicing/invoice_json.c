/*
 * invoice_json.c - see invoice_json.h.
 *
 * A walk over the protobuf-c descriptors that writes through json_out into
 * a memory stream, copied into the caller's arena at the end.
 */
#include "invoicing/invoice_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "base/json_out.h"

static void write_message(json_out *j, const ProtobufCMessage *m);

/* "line_extension_minor" -> "lineExtensionMinor", as protoc's json_name. */
static void json_name(const char *name, char *out, size_t size)
{
    size_t o = 0;
    bool upper = false;
    for (const char *p = name; *p != '\0' && o + 1 < size; p++) {
        if (*p == '_') {
            upper = true;
            continue;
        }
        out[o++] = upper && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
        upper = false;
    }
    out[o] = '\0';
}

static void write_timestamp(json_out *j, const ProtobufCMessage *m)
{
    const Google__Protobuf__Timestamp *t = (const Google__Protobuf__Timestamp *)m;
    time_t secs = (time_t)t->seconds;
    struct tm tm;
    char buf[48];
    if (gmtime_r(&secs, &tm) == NULL || t->nanos < 0 || t->nanos > 999999999) {
        json_out_null(j);
        return;
    }
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    if (t->nanos != 0)
        snprintf(buf + n, sizeof buf - n, ".%09" PRId32 "Z", t->nanos);
    else
        snprintf(buf + n, sizeof buf - n, "Z");
    json_out_string(j, buf);
}

static void write_int64_string(json_out *j, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    json_out_string(j, buf);
}

static void write_bytes(json_out *j, const ProtobufCBinaryData *d)
{
    size_t size = sodium_base64_ENCODED_LEN(d->len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(size);
    if (b64 == NULL) {
        j->failed = true;
        return;
    }
    sodium_bin2base64(b64, size, d->data, d->len, sodium_base64_VARIANT_ORIGINAL);
    json_out_string(j, b64);
    free(b64);
}

static size_t value_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(int64_t);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return sizeof(int32_t);
    }
}

/* One value of field f at p. Floating-point fields have no exact JSON form
 * here and fail the document (the invoicing messages have none). */
static void write_value(json_out *j, const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        json_out_int(j, *(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        json_out_int(j, *(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        write_int64_string(j, *(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        char buf[24];
        snprintf(buf, sizeof buf, "%" PRIu64, *(const uint64_t *)p);
        json_out_string(j, buf);
        break;
    }
    case PROTOBUF_C_TYPE_BOOL:
        json_out_bool(j, *(const protobuf_c_boolean *)p);
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        if (ev != NULL)
            json_out_string(j, ev->name);
        else
            json_out_int(j, v);
        break;
    }
    case PROTOBUF_C_TYPE_STRING:
        json_out_string(j, *(char *const *)p != NULL ? *(char *const *)p : "");
        break;
    case PROTOBUF_C_TYPE_BYTES:
        write_bytes(j, p);
        break;
    case PROTOBUF_C_TYPE_MESSAGE:
        write_message(j, *(const ProtobufCMessage *const *)p);
        break;
    default:
        j->failed = true;
        break;
    }
}

static void write_message(json_out *j, const ProtobufCMessage *m)
{
    if (m == NULL) {
        json_out_null(j);
        return;
    }
    if (m->descriptor == &google__protobuf__timestamp__descriptor) {
        write_timestamp(j, m);
        return;
    }
    const char *base = (const char *)m;
    json_out_object_begin(j);
    for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
        char name[64];
        const void *p = base + f->offset;
        /* An unset message field is left out, as the JSON mapping does. */
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED &&
            *(const void *const *)p == NULL)
            continue;
        json_name(f->name, name, sizeof name);
        json_out_key(j, name);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *items = *(const char *const *)p;
            json_out_array_begin(j);
            for (size_t k = 0; k < n; k++)
                write_value(j, f, items + k * value_size(f));
            json_out_array_end(j);
        } else {
            write_value(j, f, p);
        }
    }
    json_out_object_end(j);
}

int invoice_json_render(mb_arena_t *a, const Minbill__V1__Invoice *inv, char **out, size_t *len,
                        mb_error *err)
{
    *out = NULL;
    *len = 0;
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (f == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED,
                            "rendering invoice: out of memory");
    json_out j;
    json_out_init(&j, f);
    write_message(&j, &inv->base);
    int rc = json_out_finish(&j);
    if (fclose(f) != 0)
        rc = -1;
    if (rc != 0) {
        mb_error_set(err, GRPC_STATUS_INTERNAL, "rendering invoice: JSON output failed");
    } else if ((*out = mb_arena_alloc(a, size + 1)) == NULL) {
        rc = mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED,
                          "rendering invoice: over memory limit");
    } else {
        memcpy(*out, buf, size + 1);
        *len = size;
    }
    free(buf);
    return rc;
}

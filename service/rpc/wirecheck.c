/*
 * wirecheck.c - see wirecheck.h.
 */
#include "rpc/wirecheck.h"

#include "base/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 32
#define PATH_MAX_LEN 200

int rpc_utf8_valid(const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = mb_utf8_next(s + i, len - i, &cp);
        if (n == 0 || cp == 0)
            return 0;
        i += n;
    }
    return 1;
}

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

static int check_message(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                         const uint8_t *end, char *path, size_t pathlen, int depth, mb_error *err)
{
    if (depth > MAX_DEPTH)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "request nests too deeply");
    /* Occurrences per field, for the [i] of repeated fields in the path. */
    unsigned small[32] = {0};
    unsigned *counts = small;
    if (desc->n_fields > 32 && (counts = calloc(desc->n_fields, sizeof *counts)) == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    int ret = 0;
    while (p < end) {
        uint64_t tag, v;
        if (read_varint(&p, end, &tag) != 0)
            break;
        /* protobuf-c refuses field number 0 only in a one-byte tag and
         * would keep a longer one as an unknown field. */
        if (tag >> 3 == 0) {
            ret = mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "%s: field number 0 is not valid",
                               pathlen ? path : "request");
            break;
        }
        unsigned wt = (unsigned)(tag & 7);
        if (wt == 0) {
            if (read_varint(&p, end, &v) != 0)
                break;
            continue;
        }
        if (wt == 1 || wt == 5) {
            size_t n = wt == 1 ? 8 : 4;
            if ((size_t)(end - p) < n)
                break;
            p += n;
            continue;
        }
        if (wt != 2 || read_varint(&p, end, &v) != 0 || v > (uint64_t)(end - p))
            break; /* groups or garbage: unpack decides */
        const uint8_t *val = p;
        p += v;
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3));
        if (f == NULL || (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE))
            continue;
        unsigned idx = counts[f - desc->fields]++;
        int n;
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            n = snprintf(path + pathlen, PATH_MAX_LEN - pathlen, "%s%s[%u]", pathlen ? "." : "",
                         f->name, idx);
        else
            n = snprintf(path + pathlen, PATH_MAX_LEN - pathlen, "%s%s", pathlen ? "." : "",
                         f->name);
        size_t sub = pathlen + (n > 0 ? (size_t)n : 0);
        if (sub >= PATH_MAX_LEN)
            sub = PATH_MAX_LEN - 1;
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            if (!rpc_utf8_valid(val, (size_t)v)) {
                ret = mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                                   "%s: must be valid UTF-8 without NUL characters", path);
                break;
            }
        } else if (check_message(f->descriptor, val, val + v, path, sub, depth + 1, err) != 0) {
            ret = -1;
            break;
        }
        path[pathlen] = '\0';
    }
    if (counts != small)
        free(counts);
    return ret;
}

int rpc_wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                   mb_error *err)
{
    char path[PATH_MAX_LEN + 1] = "";
    return check_message(desc, data, data + len, path, 0, 0, err);
}

int rpc_wire_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                    mb_arena_t *arena, size_t limit, ProtobufCMessage **out, mb_error *err)
{
    if (rpc_wire_check(desc, data, len, err) != 0)
        return -1;
    ProtobufCAllocator al = mb_arena_allocator(arena);
    if ((*out = protobuf_c_message_unpack(desc, &al, len, data)) != NULL)
        return 0;
    if (mb_arena_over_limit(arena))
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED,
                            "request decodes to more than %zu bytes", limit);
    return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "request is not a valid %s message",
                        desc->name);
}

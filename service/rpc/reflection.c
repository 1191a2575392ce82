/*
 * reflection.c - see reflection.h.
 *
 * v1alpha and v1 use the same messages on the wire, so both paths are served
 * with the v1 types. A file is answered together with everything it imports,
 * as the reference servers do, so a client needs one round trip per symbol.
 */
#include "rpc/reflection.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"

extern const unsigned char mb_descriptor_set[];
extern const size_t mb_descriptor_set_len;

/* gRPC status codes, as ErrorResponse carries them. */
#define NOT_FOUND 5
#define UNIMPLEMENTED 12

typedef struct rfile {
    const Google__Protobuf__FileDescriptorProto *fd;
    ProtobufCBinaryData bytes; /* the file, serialized alone */
} rfile;

struct reflection {
    Google__Protobuf__FileDescriptorSet *set;
    rfile *files;
    size_t n_files;
    char **services; /* full names */
    size_t n_services;
};

static int64_t find_file(const reflection_t *r, const char *name)
{
    for (size_t i = 0; i < r->n_files; i++)
        if (strcmp(r->files[i].fd->name, name) == 0)
            return (int64_t)i;
    return -1;
}

/* "pkg.Name" equals symbol, or is followed in it by ".member". */
static bool names(const char *pkg, const char *name, const char *symbol)
{
    size_t p = strlen(pkg), n = strlen(name);
    if (p > 0) {
        if (strncmp(symbol, pkg, p) != 0 || symbol[p] != '.')
            return false;
        symbol += p + 1;
    }
    return strncmp(symbol, name, n) == 0 && (symbol[n] == '\0' || symbol[n] == '.');
}

static int64_t file_of_symbol(const reflection_t *r, const char *symbol)
{
    for (size_t i = 0; i < r->n_files; i++) {
        const Google__Protobuf__FileDescriptorProto *fd = r->files[i].fd;
        const char *pkg = fd->package != NULL ? fd->package : "";
        for (size_t k = 0; k < fd->n_service; k++)
            if (names(pkg, fd->service[k]->name, symbol))
                return (int64_t)i;
        for (size_t k = 0; k < fd->n_message_type; k++)
            if (names(pkg, fd->message_type[k]->name, symbol))
                return (int64_t)i;
        for (size_t k = 0; k < fd->n_enum_type; k++)
            if (names(pkg, fd->enum_type[k]->name, symbol))
                return (int64_t)i;
    }
    return -1;
}

int reflection_new(reflection_t **out, mb_error *err)
{
    reflection_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    r->set = google__protobuf__file_descriptor_set__unpack(NULL, mb_descriptor_set_len,
                                                         mb_descriptor_set);
    if (r->set == NULL) {
        free(r);
        return mb_error_set(err, GRPC_STATUS_INTERNAL, "embedded descriptor set is corrupt");
    }
    r->n_files = r->set->n_file;
    r->files = calloc(r->n_files ? r->n_files : 1, sizeof *r->files);
    size_t n_services = 0;
    for (size_t i = 0; i < r->n_files; i++)
        n_services += r->set->file[i]->n_service;
    r->services = calloc(n_services ? n_services : 1, sizeof *r->services);
    if (r->files == NULL || r->services == NULL)
        goto oom;
    for (size_t i = 0; i < r->n_files; i++) {
        const Google__Protobuf__FileDescriptorProto *fd = r->set->file[i];
        r->files[i].fd = fd;
        size_t n = google__protobuf__file_descriptor_proto__get_packed_size(fd);
        if ((r->files[i].bytes.data = malloc(n ? n : 1)) == NULL)
            goto oom;
        r->files[i].bytes.len = google__protobuf__file_descriptor_proto__pack(fd,
                                                                           r->files[i].bytes.data);
        for (size_t k = 0; k < fd->n_service; k++) {
            const char *pkg = fd->package != NULL ? fd->package : "";
            size_t len = strlen(pkg) + strlen(fd->service[k]->name) + 2;
            char *full = malloc(len);
            if (full == NULL)
                goto oom;
            snprintf(full, len, "%s%s%s", pkg, pkg[0] ? "." : "", fd->service[k]->name);
            r->services[r->n_services++] = full;
        }
    }
    *out = r;
    return 0;
oom:
    reflection_free(r);
    return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
}

void reflection_free(reflection_t *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; r->files != NULL && i < r->n_files; i++)
        free(r->files[i].bytes.data);
    for (size_t i = 0; i < r->n_services; i++)
        free(r->services[i]);
    free(r->files);
    free(r->services);
    google__protobuf__file_descriptor_set__free_unpacked(r->set, NULL);
    free(r);
}

/* Marks file i and, transitively, its imports. */
static void mark(const reflection_t *r, size_t i, bool *want)
{
    if (want[i])
        return;
    want[i] = true;
    const Google__Protobuf__FileDescriptorProto *fd = r->files[i].fd;
    for (size_t d = 0; d < fd->n_dependency; d++) {
        int64_t j = find_file(r, fd->dependency[d]);
        if (j >= 0)
            mark(r, (size_t)j, want);
    }
}

static int send_files(rpc_call_t *call, const reflection_t *r, size_t root,
                      Grpc__Reflection__V1__ServerReflectionResponse *resp)
{
    bool *want = calloc(r->n_files, sizeof *want);
    ProtobufCBinaryData *list = calloc(r->n_files, sizeof *list);
    int ret = -1;
    if (want != NULL && list != NULL) {
        Grpc__Reflection__V1__FileDescriptorResponse fdr =
            GRPC__REFLECTION__V1__FILE_DESCRIPTOR_RESPONSE__INIT;
        mark(r, root, want);
        /* The asked-for file first, then its imports. */
        list[fdr.n_file_descriptor_proto++] = r->files[root].bytes;
        for (size_t i = 0; i < r->n_files; i++)
            if (want[i] && i != root)
                list[fdr.n_file_descriptor_proto++] = r->files[i].bytes;
        fdr.file_descriptor_proto = list;
        resp->message_response_case =
            GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
        resp->file_descriptor_response = &fdr;
        ret = rpc_call_send(call, &resp->base);
    }
    free(want);
    free(list);
    return ret;
}

static int send_error(rpc_call_t *call, Grpc__Reflection__V1__ServerReflectionResponse *resp,
                      int code, const char *what, const char *name)
{
    char msg[300];
    snprintf(msg, sizeof msg, "%s not found: %.200s", what, name);
    Grpc__Reflection__V1__ErrorResponse e = GRPC__REFLECTION__V1__ERROR_RESPONSE__INIT;
    e.error_code = code;
    e.error_message = msg;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
    resp->error_response = &e;
    return rpc_call_send(call, &resp->base);
}

int reflection_on_message(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Grpc__Reflection__V1__ServerReflectionRequest *req = (const void *)msg;
    const reflection_t *r = ((mb_app *)rpc_call_app(call))->reflection;
    Grpc__Reflection__V1__ServerReflectionResponse resp =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT;
    resp.valid_host = req->host;
    resp.original_request = (Grpc__Reflection__V1__ServerReflectionRequest *)req;
    int64_t i;
    switch (req->message_request_case) {
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES: {
        Grpc__Reflection__V1__ListServiceResponse l = GRPC__REFLECTION__V1__LIST_SERVICE_RESPONSE__INIT;
        Grpc__Reflection__V1__ServiceResponse *items = calloc(r->n_services, sizeof *items);
        Grpc__Reflection__V1__ServiceResponse **ptrs = calloc(r->n_services, sizeof *ptrs);
        if (items != NULL && ptrs != NULL) {
            for (size_t k = 0; k < r->n_services; k++) {
                grpc__reflection__v1__service_response__init(&items[k]);
                items[k].name = r->services[k];
                ptrs[k] = &items[k];
            }
            l.n_service = r->n_services;
            l.service = ptrs;
            resp.message_response_case =
                GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
            resp.list_services_response = &l;
            rpc_call_send(call, &resp.base);
        }
        free(items);
        free(ptrs);
        break;
    }
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
        if ((i = find_file(r, req->file_by_filename)) >= 0)
            send_files(call, r, (size_t)i, &resp);
        else
            send_error(call, &resp, NOT_FOUND, "file", req->file_by_filename);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
        if ((i = file_of_symbol(r, req->file_containing_symbol)) >= 0)
            send_files(call, r, (size_t)i, &resp);
        else
            send_error(call, &resp, NOT_FOUND, "symbol", req->file_containing_symbol);
        break;
    default:
        /* minbill's protos declare no extensions. */
        send_error(call, &resp, UNIMPLEMENTED, "extension", "(minbill declares no extensions)");
        break;
    }
    return RPC_CONTINUE;
}

void reflection_on_end(rpc_call_t *call)
{
    rpc_call_finish(call, NULL, NULL);
}

void reflection_on_cancel(rpc_call_t *call)
{
    mb_error err;
    mb_error_set(&err, GRPC_STATUS_CANCELLED, "reflection stream cancelled");
    rpc_call_finish(call, NULL, &err);
}

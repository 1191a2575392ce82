/*
 * test_reflection.c - server reflection (v1 and v1alpha), as generic tools
 * use it: list the services, fetch the file that declares a method with its
 * imports, get NOT_FOUND for an unknown symbol, all on one stream.
 */
#include "check.h"
#include "common.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"

static mbt_server srv;

/* Sends one request on the stream and returns the decoded answer. */
static Grpc__Reflection__V1__ServerReflectionResponse *ask(mbc_call_t *call,
                                                           Grpc__Reflection__V1__ServerReflectionRequest *req)
{
    if (mbc_call_send_msg(call, &req->base) != 0)
        return NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (mbc_call_recv(call, &buf, &len) != 1)
        return NULL;
    Grpc__Reflection__V1__ServerReflectionResponse *r =
        grpc__reflection__v1__server_reflection_response__unpack(NULL, len, buf);
    free(buf);
    return r;
}

static void check_path(const char *path)
{
    mbc_call_t *call = mbc_call_start(srv.ch, path, NULL, 10000);
    CHECK(call != NULL);
    if (call == NULL)
        return;
    Grpc__Reflection__V1__ServerReflectionRequest req =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
    req.list_services = "";
    Grpc__Reflection__V1__ServerReflectionResponse *r = ask(call, &req);
    CHECK(r != NULL && r->list_services_response != NULL);
    const char *want[] = {"minbill.v1.Accounts", "minbill.v1.Metering", "minbill.v1.Invoicing",
                          "minbill.v1.Privacy",  "minbill.v1.Audit",    "grpc.health.v1.Health"};
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        int found = 0;
        for (size_t i = 0; r != NULL && r->list_services_response != NULL &&
                           i < r->list_services_response->n_service;
             i++)
            found |= strcmp(r->list_services_response->service[i]->name, want[w]) == 0;
        if (!found)
            fprintf(stderr, "   %s not listed\n", want[w]);
        CHECK(found);
    }
    if (r != NULL)
        grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL);

    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
    req.file_containing_symbol = "minbill.v1.Accounts.GetAccount";
    r = ask(call, &req);
    CHECK(r != NULL && r->file_descriptor_response != NULL &&
          r->file_descriptor_response->n_file_descriptor_proto >= 3);
    if (r != NULL && r->file_descriptor_response != NULL) {
        ProtobufCBinaryData *f = r->file_descriptor_response->file_descriptor_proto;
        Google__Protobuf__FileDescriptorProto *fd =
            google__protobuf__file_descriptor_proto__unpack(NULL, f[0].len, f[0].data);
        CHECK(fd != NULL && strcmp(fd->name, "minbill/v1/accounts.proto") == 0);
        CHECK(fd != NULL && fd->n_service == 1 && strcmp(fd->service[0]->name, "Accounts") == 0);
        if (fd != NULL)
            google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
        /* Its imports come along. */
        int timestamp = 0;
        for (size_t i = 1; i < r->file_descriptor_response->n_file_descriptor_proto; i++) {
            fd = google__protobuf__file_descriptor_proto__unpack(NULL, f[i].len, f[i].data);
            timestamp |= fd != NULL && strcmp(fd->name, "google/protobuf/timestamp.proto") == 0;
            if (fd != NULL)
                google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
        }
        CHECK(timestamp);
    }
    if (r != NULL)
        grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL);

    req.file_containing_symbol = "minbill.v1.NoSuchThing";
    r = ask(call, &req);
    CHECK(r != NULL && r->error_response != NULL && r->error_response->error_code == 5);
    if (r != NULL)
        grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL);

    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
    req.file_by_filename = "minbill/v1/metering.proto";
    r = ask(call, &req);
    CHECK(r != NULL && r->file_descriptor_response != NULL);
    if (r != NULL)
        grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL);

    mbc_call_close_send(call);
    mb_error st;
    CHECK(mbt_call_end(call, &st) == GRPC_STATUS_OK);
    mbc_call_free(call);
}

static void test_v1(void)
{
    check_path("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo");
}

static void test_v1alpha(void)
{
    check_path("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo");
}

int main(void)
{
    if (mbt_up(&srv, NULL) != 0)
        return 1;
    RUN(test_v1);
    RUN(test_v1alpha);
    CHECK(mbt_health_ok(srv.ch));
    CHECK(mbt_down(&srv) == 0);
    return check_summary();
}

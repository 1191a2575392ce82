/* test_arena.c - the per-call arena: alignment, limit, reset, protobuf-c use. */
#include <stdint.h>

#include "base/arena.h"
#include "base/error.h"
#include "check.h"
#include "minbill/v1/privacy.pb-c.h"

static void test_alignment_and_growth(void)
{
    mb_arena_t *a = mb_arena_new(0);
    for (int i = 1; i < 3000; i += 7) {
        char *p = mb_arena_alloc(a, (size_t)i);
        CHECK(p != NULL);
        CHECK(((uintptr_t)p % 16) == 0);
        memset(p, 0xab, (size_t)i); /* ASan catches overlap or overflow */
    }
    char *big = mb_arena_alloc(a, 1 << 20);
    CHECK(big != NULL);
    memset(big, 1, 1 << 20);
    mb_arena_free(a);
}

static void test_limit(void)
{
    mb_arena_t *a = mb_arena_new(1000);
    CHECK(mb_arena_alloc(a, 900) != NULL);
    CHECK(!mb_arena_over_limit(a));
    CHECK(mb_arena_alloc(a, 200) == NULL);
    CHECK(mb_arena_over_limit(a));
    CHECK(mb_arena_alloc(a, SIZE_MAX) == NULL);
    mb_arena_reset(a);
    CHECK(!mb_arena_over_limit(a));
    CHECK(mb_arena_alloc(a, 900) != NULL);
    mb_arena_free(a);
}

static void test_printf(void)
{
    mb_arena_t *a = mb_arena_new(0);
    char *s = mb_arena_printf(a, "%s[%d]", "events", 3);
    CHECK(s != NULL && strcmp(s, "events[3]") == 0);
    mb_arena_free(a);
}

static void test_protobuf_decode_limit(void)
{
    /* 10,000 empty strings in a repeated string field: 2 bytes each on the
     * wire, far more once decoded. The limit turns that into a failed
     * decode, where the heap would otherwise pay for it. */
    const ProtobufCMessageDescriptor *d = &minbill__v1__subject_request__descriptor;
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, "contact_ids");
    CHECK(f != NULL && f->label == PROTOBUF_C_LABEL_REPEATED);
    if (f == NULL)
        return;
    static uint8_t wire[20000];
    for (size_t i = 0; i < sizeof wire; i += 2) {
        wire[i] = (uint8_t)(f->id << 3 | 2);
        wire[i + 1] = 0;
    }
    mb_arena_t *a = mb_arena_new(sizeof wire * 4);
    ProtobufCAllocator al = mb_arena_allocator(a);
    CHECK(protobuf_c_message_unpack(d, &al, sizeof wire, wire) == NULL);
    CHECK(mb_arena_over_limit(a));
    mb_arena_reset(a);
    /* The same arena decodes a sane message afterwards. */
    ProtobufCMessage *m = protobuf_c_message_unpack(d, &al, 20, wire);
    CHECK(m != NULL);
    CHECK(m != NULL && ((Minbill__V1__SubjectRequest *)m)->n_contact_ids == 10);
    mb_arena_free(a);
}

static void test_error_prefix(void)
{
    mb_error err;
    mb_error_set(&err, GRPC_STATUS_INVALID_ARGUMENT, "quantity: must be > 0");
    mb_error_prefix(&err, "events[%d].", 3);
    CHECK(strcmp(err.msg, "events[3].quantity: must be > 0") == 0);
    CHECK(strcmp(mb_status_name(GRPC_STATUS_UNAUTHENTICATED), "UNAUTHENTICATED") == 0);
    CHECK(strcmp(mb_status_name(GRPC_STATUS_INVALID_ARGUMENT), "INVALID_ARGUMENT") == 0);
}

int main(void)
{
    RUN(test_alignment_and_growth);
    RUN(test_limit);
    RUN(test_printf);
    RUN(test_protobuf_decode_limit);
    RUN(test_error_prefix);
    return check_summary();
}

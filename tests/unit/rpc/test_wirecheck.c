/* test_wirecheck.c - UTF-8 rules and field paths of rpc_wire_check(). */
#include "check.h"
#include "minbill/v1/accounts.pb-c.h"
#include "rpc/wirecheck.h"

static int utf8(const char *s, size_t n)
{
    return rpc_utf8_valid((const uint8_t *)s, n);
}

static void test_utf8(void)
{
    CHECK(utf8("", 0));
    CHECK(utf8("Autohaus M\xc3\xbcller", 15));
    CHECK(utf8("\xe2\x82\xac", 3));         /* euro sign */
    CHECK(utf8("\xf0\x9f\x9a\x97", 4));     /* car emoji */
    CHECK(!utf8("a\0b", 3));                /* embedded NUL */
    CHECK(!utf8("\xff", 1));
    CHECK(!utf8("\xc3", 1));                /* truncated */
    CHECK(!utf8("\xc0\xaf", 2));            /* overlong '/' */
    CHECK(!utf8("\xe0\x80\xaf", 3));        /* overlong */
    CHECK(!utf8("\xed\xa0\x80", 3));        /* surrogate U+D800 */
    CHECK(!utf8("\xf4\x90\x80\x80", 4));    /* above U+10FFFF */
    CHECK(!utf8("\x80", 1));                /* lone continuation */
}

/* Packs an UpsertAccountRequest whose second contact's email is `email`. */
static size_t pack_account(const char *email, uint8_t *buf)
{
    Minbill__V1__Contact c0 = MINBILL__V1__CONTACT__INIT, c1 = MINBILL__V1__CONTACT__INIT;
    c0.contact_id = "c0";
    c0.email = "ok@example.com";
    c1.contact_id = "c1";
    c1.email = (char *)email;
    Minbill__V1__Contact *contacts[] = {&c0, &c1};
    Minbill__V1__Account acc = MINBILL__V1__ACCOUNT__INIT;
    acc.account_id = "acc-1";
    acc.n_contacts = 2;
    acc.contacts = contacts;
    Minbill__V1__UpsertAccountRequest req = MINBILL__V1__UPSERT_ACCOUNT_REQUEST__INIT;
    req.account = &acc;
    return protobuf_c_message_pack(&req.base, buf);
}

static void test_field_paths(void)
{
    uint8_t buf[512];
    mb_error err;
    size_t n = pack_account("jane@example.com", buf);
    mb_error_clear(&err);
    CHECK(rpc_wire_check(&minbill__v1__upsert_account_request__descriptor, buf, n, &err) == 0);

    n = pack_account("jane\xff@example.com", buf);
    CHECK(rpc_wire_check(&minbill__v1__upsert_account_request__descriptor, buf, n, &err) != 0);
    CHECK_STATUS(err, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.msg, "account.contacts[1].email: must be valid UTF-8");
    /* The message names the field, never the value. */
    CHECK(strstr(err.msg, "jane") == NULL);

    /* An embedded NUL, which protobuf-c itself would silently truncate:
     * replace the 'Q' of the e-mail with 0 in the packed bytes. */
    n = pack_account("nulQhere@example.com", buf);
    uint8_t *x = memchr(buf, 'Q', n);
    CHECK(x != NULL);
    if (x != NULL)
        *x = 0;
    CHECK(rpc_wire_check(&minbill__v1__upsert_account_request__descriptor, buf, n, &err) != 0);
    CHECK_CONTAINS(err.msg, "account.contacts[1].email");
}

static void test_garbage_is_left_to_unpack(void)
{
    /* Truncated or nonsense input is not wirecheck's to judge. */
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0x0a, 0x7f};
    mb_error err;
    mb_error_clear(&err);
    CHECK(rpc_wire_check(&minbill__v1__upsert_account_request__descriptor, junk, sizeof junk,
                         &err) == 0);
}

/* Found by tests/fuzz/fuzz_request: protobuf-c accepts field number 0
 * when its tag is written in two bytes (80 00) and keeps it as an unknown
 * field, which then encodes to 00, which it refuses. Field number 0 is not
 * valid protobuf; the request is refused on the way in. */
static void test_field_number_zero_is_refused(void)
{
    static const uint8_t zero[] = {0x80, 0x00, 0x3f};
    static const uint8_t zero_nested[] = {0x0a, 0x03, 0x80, 0x00, 0x01};
    mb_arena_t *a = mb_arena_new(0);
    ProtobufCMessage *msg = NULL;
    mb_error err;
    mb_error_clear(&err);
    CHECK(rpc_wire_decode(&minbill__v1__get_account_request__descriptor, zero, sizeof zero, a,
                          65536, &msg, &err) != 0);
    CHECK_STATUS(err, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.msg, "field number");
    mb_error_clear(&err);
    CHECK(rpc_wire_decode(&minbill__v1__upsert_account_request__descriptor, zero_nested,
                          sizeof zero_nested, a, 65536, &msg, &err) != 0);
    CHECK_STATUS(err, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.msg, "account: ");
    /* A two-byte tag of a real field (2, reveal) is fine. */
    static const uint8_t one[] = {0x90, 0x00, 0x01};
    CHECK(rpc_wire_decode(&minbill__v1__get_account_request__descriptor, one, sizeof one, a, 65536,
                          &msg, &err) == 0);
    mb_arena_free(a);
}

int main(void)
{
    RUN(test_utf8);
    RUN(test_field_paths);
    RUN(test_garbage_is_left_to_unpack);
    RUN(test_field_number_zero_is_refused);
    return check_summary();
}

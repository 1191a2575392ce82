/*
 * test_table.c - client/table: terminal-safe cells, alignment by characters,
 * enum words and dates, and messages as JSON (the --json form of `account
 * show` and `payment-methods list`), checked on exact text.
 */
#include <stdint.h>

#include "check.h"
#include "minbill/v1/accounts.pb-c.h"
#include "minbill/v1/invoicing.pb-c.h"
#include "table.h"

#define CHECK_TEXT(got, want)                                                                      \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        if (g_ != NULL && strcmp(g_, w_) == 0) {                                                   \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: FAILED: got\n%s\nwant\n%s\n", __FILE__, __LINE__,              \
                    g_ ? g_ : "(null)", w_);                                                       \
        }                                                                                          \
    } while (0)

static void check_clean(const char *s, const char *want)
{
    char *got = table_clean(s);
    CHECK_TEXT(got, want);
    free(got);
}

static void test_clean(void)
{
    check_clean("", "");
    check_clean("Autohaus Müller GmbH", "Autohaus Müller GmbH");
    check_clean("•••• 4242", "•••• 4242");
    check_clean("\x1b[2J\x1b]0;pwned\x07", "?[2J?]0;pwned?"); /* clear screen, retitle */
    check_clean("a\tb\nc\rd\x7f", "a?b?c?d?");
    check_clean("a\x9b[31m", "a?[31m");                     /* a lone C1 CSI byte: invalid UTF-8 */
    check_clean("a\xc2\x9b[31m", "a?[31m");                 /* U+009B, CSI as UTF-8 */
    check_clean("evil\xe2\x80\xaegpj.exe", "evil?gpj.exe"); /* U+202E right-to-left override */
    check_clean("\xe2\x81\xa6x\xe2\x81\xa9", "?x?");        /* U+2066..U+2069 isolates */
    check_clean("\xff\xc3", "??");                          /* bad byte, truncated sequence */
    check_clean("\xc0\x80", "??");                          /* overlong NUL */
    check_clean("\xed\xa0\x80", "???");                     /* a UTF-16 surrogate */
    check_clean("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");    /* U+1F600 passes */
}

/* What write(f, arg) writes, as a malloc'd string; NULL if it returned -1. */
static char *capture(int (*write)(FILE *f, const void *arg), const void *arg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int rc = f != NULL ? write(f, arg) : -1;
    if (f != NULL)
        fclose(f);
    if (rc != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static int write_table(FILE *f, const void *t)
{
    return table_print(t, f);
}

static char *printed(const table *t)
{
    return capture(write_table, t);
}

static void test_table(void)
{
    table t;
    table_init(&t, 3, (const char *[]){"TOKEN", "NUMBER", "DEFAULT"});
    CHECK(table_add(&t, (const char *[]){"pm_1", "•••• 4242", "yes"}) == 0);
    CHECK(table_add(&t, (const char *[]){"pm_22", "", ""}) == 0);
    CHECK(table_add(&t, (const char *[]){"\x1b[1m", "x", NULL}) == 0);
    char *s = printed(&t);
    /* "•••• 4242" is 9 characters (15 bytes): columns line up by characters;
     * "" shows as "-", NULL as nothing, and no line ends in spaces. */
    CHECK_TEXT(s, "TOKEN  NUMBER     DEFAULT\n"
                  "pm_1   •••• 4242  yes\n"
                  "pm_22  -          -\n"
                  "?[1m   x\n");
    free(s);
    table_free(&t);

    table_init(&t, 2, NULL); /* a label/value section: no title line */
    table_add(&t, (const char *[]){"account id", "acc-1"});
    table_add(&t, (const char *[]){"billing address", "Hauptstrasse 1"});
    table_add(&t, (const char *[]){NULL, "10115 Berlin"});
    s = printed(&t);
    CHECK_TEXT(s, "account id       acc-1\n"
                  "billing address  Hauptstrasse 1\n"
                  "                 10115 Berlin\n");
    free(s);
    table_free(&t);

    table_init(&t, TABLE_MAX_COLS + 1, NULL); /* a bug: refused, not printed */
    CHECK(table_add(&t, (const char *[]){"x"}) == -1);
    CHECK(printed(&t) == NULL);
    table_free(&t);
}

static void test_formats(void)
{
    char buf[64];
    const ProtobufCEnumDescriptor *type = &minbill__v1__payment_method_type__descriptor;
    CHECK_TEXT(table_enum_word(type, 1, buf, sizeof buf), "card");
    CHECK_TEXT(table_enum_word(type, 2, buf, sizeof buf), "sepa_debit");
    CHECK_TEXT(table_enum_word(type, 0, buf, sizeof buf), "unspecified");
    CHECK_TEXT(table_enum_word(type, 99, buf, sizeof buf), "99"); /* newer than our .proto */
    CHECK_TEXT(table_enum_word(&minbill__v1__account_state__descriptor, 2, buf, sizeof buf),
               "closed");

    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = 1767225600;
    CHECK_TEXT(table_date(&ts, buf, sizeof buf), "2026-01-01");
    CHECK_TEXT(table_date(NULL, buf, sizeof buf), "");
    CHECK_TEXT(table_rfc3339(&ts, buf, sizeof buf), "2026-01-01T00:00:00Z");
    ts.nanos = 500000000;
    CHECK_TEXT(table_rfc3339(&ts, buf, sizeof buf), "2026-01-01T00:00:00.500Z");
    ts.nanos = 1500;
    CHECK_TEXT(table_rfc3339(&ts, buf, sizeof buf), "2026-01-01T00:00:00.000001500Z");
    ts.nanos = -1;
    CHECK(table_rfc3339(&ts, buf, sizeof buf) == NULL);
    CHECK(table_rfc3339(NULL, buf, sizeof buf) == NULL);
}

static int write_json(FILE *f, const void *msg)
{
    json_out j;
    json_out_init(&j, f);
    int rc = table_json_message(&j, msg);
    return json_out_finish(&j) != 0 ? -1 : rc;
}

/* msg as table_json_message writes it; NULL if that failed. */
static char *as_json(const ProtobufCMessage *msg)
{
    return capture(write_json, msg);
}

static void test_json(void)
{
    /* Masked, as support gets it. */
    Minbill__V1__Contact c = {.base = PROTOBUF_C_MESSAGE_INIT(&minbill__v1__contact__descriptor),
                              .contact_id = "c1",
                              .role = MINBILL__V1__CONTACT_ROLE__CONTACT_ROLE_BILLING,
                              .name = "J. D.",
                              .email = "j***@e***.de",
                              .phone = "+49 *** *** 67"};
    Minbill__V1__Contact *contacts[] = {&c};
    Minbill__V1__Account a = MINBILL__V1__ACCOUNT__INIT;
    a.account_id = "acc-1";
    a.legal_name = "Quote \" and \x1b";
    a.currency = "EUR";
    a.state = MINBILL__V1__ACCOUNT_STATE__ACCOUNT_STATE_ACTIVE;
    a.contacts = contacts;
    a.n_contacts = 1;
    char *s = as_json(&a.base);
    CHECK_TEXT(s, "{\"account_id\":\"acc-1\",\"legal_name\":\"Quote \\\" and \\u001b\","
                  "\"billing_address\":null,\"vat_id\":\"\",\"currency\":\"EUR\","
                  "\"plan_id\":\"\",\"state\":\"ACCOUNT_STATE_ACTIVE\","
                  "\"contacts\":[{\"contact_id\":\"c1\",\"role\":\"CONTACT_ROLE_BILLING\","
                  "\"name\":\"J. D.\",\"email\":\"j***@e***.de\",\"phone\":\"+49 *** *** 67\","
                  "\"restricted\":false,\"marketing_objection\":false}],"
                  "\"default_payment_method\":\"\",\"notified_recipients\":[],"
                  "\"restricted\":false}\n");
    free(s);

    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = 1767225600;
    Minbill__V1__PaymentMethod m = MINBILL__V1__PAYMENT_METHOD__INIT;
    m.token = "pm_1";
    m.type = MINBILL__V1__PAYMENT_METHOD_TYPE__PAYMENT_METHOD_TYPE_CARD;
    m.brand = "visa";
    m.last4 = "4242";
    m.exp_month = 12;
    m.exp_year = 2031;
    m.created_at = &ts;
    m.is_default = 1;
    Minbill__V1__PaymentMethod *methods[] = {&m};
    Minbill__V1__ListPaymentMethodsResponse r = MINBILL__V1__LIST_PAYMENT_METHODS_RESPONSE__INIT;
    r.payment_methods = methods;
    r.n_payment_methods = 1;
    s = as_json(&r.base);
    CHECK_TEXT(s, "{\"payment_methods\":[{\"token\":\"pm_1\",\"type\":\"PAYMENT_METHOD_TYPE_CARD\","
                  "\"brand\":\"visa\",\"last4\":\"4242\",\"exp_month\":12,\"exp_year\":2031,"
                  "\"country_code\":\"\",\"fingerprint\":\"\",\"mandate_reference\":\"\","
                  "\"created_at\":\"2026-01-01T00:00:00Z\",\"account_id\":\"\","
                  "\"is_default\":true,\"already_attached\":false,\"updated_existing\":false}],"
                  "\"next_page_token\":\"\"}\n");
    free(s);

    r.n_payment_methods = 0;
    s = as_json(&r.base);
    CHECK_TEXT(s, "{\"payment_methods\":[],\"next_page_token\":\"\"}\n");
    free(s);

    /* A oneof: only the member that is set; an unknown enum value as a number. */
    Minbill__V1__CardDetails card = MINBILL__V1__CARD_DETAILS__INIT;
    card.pan = "4242424242424242";
    Minbill__V1__RevealPaymentMethodResponse rev =
        MINBILL__V1__REVEAL_PAYMENT_METHOD_RESPONSE__INIT;
    rev.token = "pm_1";
    rev.type = 7;
    rev.details_case = MINBILL__V1__REVEAL_PAYMENT_METHOD_RESPONSE__DETAILS_CARD;
    rev.card = &card;
    s = as_json(&rev.base);
    CHECK_TEXT(s,
               "{\"token\":\"pm_1\",\"type\":7,\"card\":{\"pan\":\"4242424242424242\","
               "\"exp_month\":0,\"exp_year\":0,\"holder_name\":\"\"},\"audit_event_id\":\"\"}\n");
    free(s);

    /* A field type the tool does not print yet (bytes) fails loudly. */
    Minbill__V1__RenderedInvoice inv = MINBILL__V1__RENDERED_INVOICE__INIT;
    CHECK(as_json(&inv.base) == NULL);
}

int main(void)
{
    RUN(test_clean);
    RUN(test_table);
    RUN(test_formats);
    RUN(test_json);
    return check_summary();
}

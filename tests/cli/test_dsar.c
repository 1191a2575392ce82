/*
 * test_dsar.c - client/cmd_dsar's request building, in-process: the flags
 * of each `minbill dsar` command as cli_main hands them over, and the
 * Privacy request (or the usage error) they make. Errors must name the flag
 * and the rule and never hold the e-mail or phone typed.
 */
#include "check.h"
#include "cmd_dsar.h"

#define EMAIL "jane.doe@example.de"
#define PHONE "+4915112345667"

/* args->flag for the flag named name of cmd, as cli_main would set it. */
static void set(const cli_command *cmd, cli_args *args, const char *name, const char *value)
{
    for (int i = 0; cmd->flags[i].name != NULL; i++) {
        if (strcmp(cmd->flags[i].name, name) == 0) {
            args->flag[i] = value;
            return;
        }
    }
    fprintf(stderr, "test bug: %s has no flag --%s\n", cmd->name, name);
    exit(1);
}

static char why[256];

/* why names the rule and shows no personal data that was typed. */
#define CHECK_WHY(text)                                                                            \
    do {                                                                                           \
        CHECK_CONTAINS(why, text);                                                                 \
        CHECK(strstr(why, "jane") == NULL && strstr(why, "15112345667") == NULL);                  \
    } while (0)

static void test_open(void)
{
    Minbill__V1__OpenSubjectRequestRequest req;
    cli_args a = {0};
    set(&cmd_dsar_open, &a, "email", EMAIL);
    set(&cmd_dsar_open, &a, "kind", "access");
    set(&cmd_dsar_open, &a, "verified-by", "passport, desk 3");
    CHECK(dsar_build_open(&a, &req, why, sizeof why) == 0);
    CHECK(req.subject_case == MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__SUBJECT_EMAIL);
    CHECK(strcmp(req.email, EMAIL) == 0);
    CHECK(req.kind == MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ACCESS);
    CHECK(strcmp(req.verified_by, "passport, desk 3") == 0);

    /* Every kind by its word; the contact goes as typed (the server splits
     * ACCOUNT_ID/CONTACT_ID). */
    static const struct {
        const char *word;
        Minbill__V1__SubjectRequestKind kind;
    } kinds[] = {
        {"access", MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ACCESS},
        {"rectification", MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_RECTIFICATION},
        {"erasure", MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ERASURE},
        {"restriction", MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_RESTRICTION},
        {"portability", MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_PORTABILITY},
        {"objection", MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_OBJECTION},
    };
    set(&cmd_dsar_open, &a, "email", NULL);
    set(&cmd_dsar_open, &a, "contact", "acc-1/c1");
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        set(&cmd_dsar_open, &a, "kind", kinds[i].word);
        CHECK(dsar_build_open(&a, &req, why, sizeof why) == 0);
        CHECK(req.kind == kinds[i].kind);
        CHECK(req.subject_case == MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__SUBJECT_CONTACT_ID);
        CHECK(strcmp(req.contact_id, "acc-1/c1") == 0);
    }
    set(&cmd_dsar_open, &a, "contact", NULL);
    set(&cmd_dsar_open, &a, "account", "acc-1");
    CHECK(dsar_build_open(&a, &req, why, sizeof why) == 0);
    CHECK(req.subject_case == MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__SUBJECT_ACCOUNT_ID);
    CHECK(strcmp(req.account_id, "acc-1") == 0);

    /* Two subjects, none, a wrong kind, missing or empty flags. */
    set(&cmd_dsar_open, &a, "email", EMAIL);
    CHECK(dsar_build_open(&a, &req, why, sizeof why) == -1);
    CHECK_WHY("give exactly one of --email, --contact and --account");
    set(&cmd_dsar_open, &a, "email", NULL);
    set(&cmd_dsar_open, &a, "account", NULL);
    CHECK(dsar_build_open(&a, &req, why, sizeof why) == -1);
    CHECK_WHY("give exactly one of");
    set(&cmd_dsar_open, &a, "email", EMAIL);
    set(&cmd_dsar_open, &a, "kind", "unspecified");
    CHECK(dsar_build_open(&a, &req, why, sizeof why) == -1);
    CHECK_WHY("--kind: must be access, rectification, erasure, restriction, portability or "
              "objection");
    set(&cmd_dsar_open, &a, "kind", EMAIL); /* a slip of the hand */
    CHECK(dsar_build_open(&a, &req, why, sizeof why) == -1);
    CHECK_WHY("--kind: must be");
    set(&cmd_dsar_open, &a, "kind", "ACCESS");
    CHECK(dsar_build_open(&a, &req, why, sizeof why) == -1);
    set(&cmd_dsar_open, &a, "kind", NULL);
    CHECK(dsar_build_open(&a, &req, why, sizeof why) == -1);
    CHECK_WHY("--kind is required");
    set(&cmd_dsar_open, &a, "kind", "erasure");
    set(&cmd_dsar_open, &a, "verified-by", NULL);
    CHECK(dsar_build_open(&a, &req, why, sizeof why) == -1);
    CHECK_WHY("--verified-by is required");
    set(&cmd_dsar_open, &a, "verified-by", "desk");
    set(&cmd_dsar_open, &a, "email", "");
    CHECK(dsar_build_open(&a, &req, why, sizeof why) == -1);
    CHECK_WHY("--email: must not be empty");
}

static void test_list(void)
{
    Minbill__V1__ListSubjectRequestsRequest req;
    cli_args a = {0};
    CHECK(dsar_build_list(&a, &req, why, sizeof why) == 0);
    CHECK(!req.overdue && req.state == 0 && req.kind == 0 && req.account_id[0] == '\0');
    set(&cmd_dsar_list, &a, "overdue", "");
    set(&cmd_dsar_list, &a, "state", "rejected");
    set(&cmd_dsar_list, &a, "kind", "portability");
    set(&cmd_dsar_list, &a, "account", "acc-1");
    CHECK(dsar_build_list(&a, &req, why, sizeof why) == 0);
    CHECK(req.overdue);
    CHECK(req.state == MINBILL__V1__SUBJECT_REQUEST_STATE__SUBJECT_REQUEST_STATE_REJECTED);
    CHECK(req.kind == MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_PORTABILITY);
    CHECK(strcmp(req.account_id, "acc-1") == 0);
    set(&cmd_dsar_list, &a, "state", "closed");
    CHECK(dsar_build_list(&a, &req, why, sizeof why) == -1);
    CHECK_WHY("--state: must be open, completed or rejected");
    set(&cmd_dsar_list, &a, "state", "open");
    set(&cmd_dsar_list, &a, "kind", "delete");
    CHECK(dsar_build_list(&a, &req, why, sizeof why) == -1);
    CHECK_WHY("--kind: must be");
}

static void test_rectify(void)
{
    Minbill__V1__RectifySubjectRequest req;
    dsar_changes c;
    cli_args a = {.arg = {"sr_1"}, .n_args = 1};

    /* Nothing to change. */
    set(&cmd_dsar_rectify, &a, "account", "acc-1");
    CHECK(dsar_build_rectify(&a, &c, &req, why, sizeof why) == -1);
    CHECK_WHY("nothing to change");

    /* Account fields: only those given; an address only when one is. */
    set(&cmd_dsar_rectify, &a, "legal-name", "Jane Doe e.K.");
    CHECK(dsar_build_rectify(&a, &c, &req, why, sizeof why) == 0);
    CHECK(strcmp(req.request_id, "sr_1") == 0);
    CHECK(req.changes == &c.account);
    CHECK(strcmp(c.account.account_id, "acc-1") == 0);
    CHECK(strcmp(c.account.legal_name, "Jane Doe e.K.") == 0);
    CHECK(c.account.vat_id[0] == '\0' && c.account.currency[0] == '\0');
    CHECK(c.account.billing_address == NULL && c.account.n_contacts == 0);
    set(&cmd_dsar_rectify, &a, "city", "Köln");
    set(&cmd_dsar_rectify, &a, "postal-code", "50667");
    set(&cmd_dsar_rectify, &a, "vat-id", "DE123456789");
    CHECK(dsar_build_rectify(&a, &c, &req, why, sizeof why) == 0);
    CHECK(c.account.billing_address == &c.address);
    CHECK(strcmp(c.address.city, "Köln") == 0 && strcmp(c.address.postal_code, "50667") == 0);
    CHECK(c.address.line1[0] == '\0' && c.address.country_code[0] == '\0');
    CHECK(strcmp(c.account.vat_id, "DE123456789") == 0);

    /* A contact: by ACCOUNT_ID/CONTACT_ID, which also gives the account. */
    cli_args b = {.arg = {"sr_2"}, .n_args = 1};
    set(&cmd_dsar_rectify, &b, "contact", "acc-2/c7");
    set(&cmd_dsar_rectify, &b, "email", EMAIL);
    set(&cmd_dsar_rectify, &b, "phone", PHONE);
    CHECK(dsar_build_rectify(&b, &c, &req, why, sizeof why) == 0);
    CHECK(strcmp(c.account.account_id, "acc-2") == 0);
    CHECK(c.account.n_contacts == 1 && c.account.contacts[0] == &c.contact);
    CHECK(strcmp(c.contact.contact_id, "c7") == 0);
    CHECK(strcmp(c.contact.email, EMAIL) == 0 && strcmp(c.contact.phone, PHONE) == 0);
    CHECK(c.contact.name[0] == '\0' && c.contact.role == 0);
    CHECK(c.account.legal_name[0] == '\0' && c.account.billing_address == NULL);
    set(&cmd_dsar_rectify, &b, "account", "acc-2");
    CHECK(dsar_build_rectify(&b, &c, &req, why, sizeof why) == 0);
    set(&cmd_dsar_rectify, &b, "account", "acc-3");
    CHECK(dsar_build_rectify(&b, &c, &req, why, sizeof why) == -1);
    CHECK_WHY("--contact: its ACCOUNT_ID part is not --account");
    /* A bare contact id needs --account. */
    set(&cmd_dsar_rectify, &b, "contact", "c7");
    CHECK(dsar_build_rectify(&b, &c, &req, why, sizeof why) == 0);
    CHECK(strcmp(c.account.account_id, "acc-3") == 0 && strcmp(c.contact.contact_id, "c7") == 0);
    set(&cmd_dsar_rectify, &b, "account", NULL);
    CHECK(dsar_build_rectify(&b, &c, &req, why, sizeof why) == -1);
    CHECK_WHY("--account is required");
    static const char *bad_contacts[] = {"/c7", "acc-2/", "/"};
    for (size_t i = 0; i < sizeof bad_contacts / sizeof bad_contacts[0]; i++) {
        set(&cmd_dsar_rectify, &b, "contact", bad_contacts[i]);
        CHECK(dsar_build_rectify(&b, &c, &req, why, sizeof why) == -1);
        CHECK_WHY("--contact: must be CONTACT_ID or ACCOUNT_ID/CONTACT_ID");
    }
    char long_account[DSAR_ID_MAX + 8];
    memset(long_account, 'a', DSAR_ID_MAX + 1);
    memcpy(long_account + DSAR_ID_MAX + 1, "/c7", 4);
    set(&cmd_dsar_rectify, &b, "contact", long_account);
    CHECK(dsar_build_rectify(&b, &c, &req, why, sizeof why) == -1);

    /* Contact fields without a contact, a contact without fields, empties. */
    cli_args d = {.arg = {"sr_3"}, .n_args = 1};
    set(&cmd_dsar_rectify, &d, "account", "acc-1");
    set(&cmd_dsar_rectify, &d, "name", "Jane Roe");
    CHECK(dsar_build_rectify(&d, &c, &req, why, sizeof why) == -1);
    CHECK_WHY("--name, --email, --phone and --clear name|email|phone need --contact");
    set(&cmd_dsar_rectify, &d, "name", NULL);
    set(&cmd_dsar_rectify, &d, "legal-name", "X GmbH");
    set(&cmd_dsar_rectify, &d, "contact", "c1");
    CHECK(dsar_build_rectify(&d, &c, &req, why, sizeof why) == -1);
    CHECK_WHY("--contact needs --name, --email, --phone or --clear name|email|phone");
    set(&cmd_dsar_rectify, &d, "phone", "");
    CHECK(dsar_build_rectify(&d, &c, &req, why, sizeof why) == -1);
    CHECK_WHY("--phone: must not be empty");
}

static void test_rectify_clear(void)
{
    Minbill__V1__RectifySubjectRequest req;
    dsar_changes c;

    /* The account's own optional fields: named alone, no contact. */
    cli_args a = {.arg = {"sr_4"}, .n_args = 1};
    set(&cmd_dsar_rectify, &a, "account", "acc-1");
    set(&cmd_dsar_rectify, &a, "clear", "address-line2,vat-id,vat-id");
    CHECK(dsar_build_rectify(&a, &c, &req, why, sizeof why) == 0);
    CHECK(req.n_clear == 2 && req.clear != NULL);
    CHECK(req.n_clear == 2 && strcmp(req.clear[0]->field, "billing_address.line2") == 0 &&
          req.clear[0]->contact_id[0] == '\0');
    CHECK(req.n_clear == 2 && strcmp(req.clear[1]->field, "vat_id") == 0 &&
          req.clear[1]->contact_id[0] == '\0');
    CHECK(c.account.billing_address == NULL && c.account.n_contacts == 0);
    CHECK(c.account.vat_id[0] == '\0');

    /* A contact's field: with --contact, which names it. */
    cli_args b = {.arg = {"sr_5"}, .n_args = 1};
    set(&cmd_dsar_rectify, &b, "clear", "phone");
    CHECK(dsar_build_rectify(&b, &c, &req, why, sizeof why) == -1);
    CHECK_WHY("need --contact");
    set(&cmd_dsar_rectify, &b, "contact", "acc-2/c7");
    set(&cmd_dsar_rectify, &b, "name", "Jane Roe");
    CHECK(dsar_build_rectify(&b, &c, &req, why, sizeof why) == 0);
    CHECK(strcmp(c.account.account_id, "acc-2") == 0);
    CHECK(req.n_clear == 1 && strcmp(req.clear[0]->field, "phone") == 0 &&
          strcmp(req.clear[0]->contact_id, "c7") == 0);
    CHECK(strcmp(c.contact.name, "Jane Roe") == 0 && c.contact.phone[0] == '\0');

    /* Given a value and cleared; a required or unknown field; empty. */
    set(&cmd_dsar_rectify, &b, "phone", PHONE);
    CHECK(dsar_build_rectify(&b, &c, &req, why, sizeof why) == -1);
    CHECK_WHY("--clear phone: --phone also gives it a value");
    CHECK(strstr(why, "15112345667") == NULL);
    set(&cmd_dsar_rectify, &b, "phone", NULL);
    static const char *bad[] = {"legal-name", "phone,city", "phone,", ",phone", "phone,,name",
                                "Phone"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        set(&cmd_dsar_rectify, &b, "clear", bad[i]);
        CHECK(dsar_build_rectify(&b, &c, &req, why, sizeof why) == -1);
        CHECK_WHY("--clear: each FIELD must be vat-id, address-line2, name, email or phone");
    }
    set(&cmd_dsar_rectify, &b, "clear", "");
    CHECK(dsar_build_rectify(&b, &c, &req, why, sizeof why) == -1);
    CHECK_WHY("--clear: must not be empty");
}

static void test_extend(void)
{
    Minbill__V1__ExtendSubjectRequestRequest req;
    cli_args a = {.arg = {"sr_9"}, .n_args = 1};
    set(&cmd_dsar_extend, &a, "reason", "many systems to search");
    CHECK(dsar_build_extend(&a, &req, why, sizeof why) == -1);
    CHECK_WHY("--months: must be 1 or 2");
    static const char *bad[] = {"0", "3", "12", "1.5", "", "01", "two"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        set(&cmd_dsar_extend, &a, "months", bad[i]);
        CHECK(dsar_build_extend(&a, &req, why, sizeof why) == -1);
    }
    set(&cmd_dsar_extend, &a, "months", "2");
    CHECK(dsar_build_extend(&a, &req, why, sizeof why) == 0);
    CHECK(req.months == 2 && strcmp(req.request_id, "sr_9") == 0);
    CHECK(strcmp(req.reason, "many systems to search") == 0);
    set(&cmd_dsar_extend, &a, "months", "1");
    CHECK(dsar_build_extend(&a, &req, why, sizeof why) == 0);
    CHECK(req.months == 1);
    set(&cmd_dsar_extend, &a, "reason", NULL);
    CHECK(dsar_build_extend(&a, &req, why, sizeof why) == -1);
    CHECK_WHY("--reason is required");
}

int main(void)
{
    RUN(test_open);
    RUN(test_list);
    RUN(test_rectify);
    RUN(test_rectify_clear);
    RUN(test_extend);
    return check_summary();
}

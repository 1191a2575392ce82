/*
 * test_restrict.c - Privacy.RestrictSubject and Privacy.RectifySubject
 * against the real daemon.
 *
 * Restriction (Art. 18), end to end: after it, support's GetAccount no
 * longer shows a restricted contact and shows a restricted account masked
 * (no legal name, no contacts, no payment methods), a restricted card
 * cannot be revealed for payment collection, while the privacy role's
 * revealing GetAccount (the export purpose) still sees everything, marked
 * restricted. Rectification (Art. 16): only under an open rectification
 * request, only the request's account and contacts, validated like
 * UpsertAccount (an invalid change names the field, echoes nothing and
 * writes nothing: no value, no notice, no audit event); a valid one is
 * stored, audited with the request's id, and its recipients (Art. 19) are
 * recorded and returned; the request stays open. Removing values (clear):
 * only optional fields (a contact's name, e-mail, phone; the account's VAT
 * id and second address line), only the request's subject, never one also
 * given a value; removed like a replacement (stored, audited, recipients
 * recorded), and an e-mail removed no longer finds the contact.
 */
#include <string.h>

#include "check.h"
#include "fixtures.h"
#include "priv_util.h"

static mbt_server srv;
static char platform[MBT_KEY_MAX], support[MBT_KEY_MAX], privacy[MBT_KEY_MAX],
    payments[MBT_KEY_MAX];

#define OPEN_KIND(k) MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_##k

static Minbill__V1__RestrictSubjectResponse *restrict_subject(const char *id, mb_error *st)
{
    Minbill__V1__RestrictSubjectRequest req = MINBILL__V1__RESTRICT_SUBJECT_REQUEST__INIT;
    req.request_id = (char *)id;
    return (void *)pu_call(&srv, privacy, PU_RESTRICT, &req.base,
                           &minbill__v1__restrict_subject_response__descriptor, mbt_ms(20000), st);
}

static bool restricted_has(const Minbill__V1__RestrictSubjectResponse *r, const char *category,
                           const char *id)
{
    for (size_t i = 0; r != NULL && i < r->n_restricted; i++)
        if (strcmp(r->restricted[i]->category, category) == 0 &&
            strcmp(r->restricted[i]->id, id) == 0)
            return true;
    return false;
}

static long audited(const char *action, const char *request_id)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM audit_events WHERE action = '%s' AND request_id = '%s'", action,
             request_id);
    return mbt_db_long(srv.d.db, sql);
}

static long notices(const char *request_id)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM subject_request_notices WHERE request_id = '%s'", request_id);
    return mbt_db_long(srv.d.db, sql);
}

static size_t payment_methods_seen(const char *key, const char *account_id)
{
    Minbill__V1__ListPaymentMethodsRequest req = MINBILL__V1__LIST_PAYMENT_METHODS_REQUEST__INIT;
    req.account_id = (char *)account_id;
    mb_error st;
    Minbill__V1__ListPaymentMethodsResponse *r = (void *)pu_call(
        &srv, key, "/minbill.v1.Accounts/ListPaymentMethods", &req.base,
        &minbill__v1__list_payment_methods_response__descriptor, mbt_ms(10000), &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    size_t n = r != NULL ? r->n_payment_methods : 0;
    pu_free(r);
    return n;
}

typedef struct person {
    const char *id, *name, *email, *phone;
} person;

/* Creates account_id (legal_name) with the contacts a and b. */
static void two_contacts(const char *account_id, const char *legal_name, person a, person b)
{
    Minbill__V1__Contact c[2], *cp[2] = {&c[0], &c[1]};
    pu_contact_init(&c[0], a.id, a.name, a.email, a.phone);
    pu_contact_init(&c[1], b.id, b.name, b.email, b.phone);
    CHECK(mbt_upsert_account(srv.ch, platform, account_id, legal_name, NULL, cp, 2, mbt_ms(10000),
                             NULL) == GRPC_STATUS_OK);
}

static void test_restrict_contact(void)
{
    two_contacts("acc-r1", "Restrikt Eins GmbH",
                 (person){"r1-c1", "Rita Restrikt", "rita.restrikt@example.de", "+4915111122233"},
                 (person){"r1-c2", "Bert Frei", "bert.frei@example.de", ""});
    char id[PU_ID_MAX];
    CHECK(pu_open(&srv, privacy, OPEN_KIND(RESTRICTION), NULL, "r1-c1", NULL, id) ==
          GRPC_STATUS_OK);
    mb_error st;
    Minbill__V1__RestrictSubjectResponse *r = restrict_subject(id, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(restricted_has(r, "contact", "r1-c1") && r != NULL && r->n_restricted == 1);
    CHECK(r != NULL && r->request != NULL && strcmp(r->request->request_id, id) == 0 &&
          r->request->state == MINBILL__V1__SUBJECT_REQUEST_STATE__SUBJECT_REQUEST_STATE_COMPLETED);
    /* The request as every Privacy RPC answers it: who verified, what it covers. */
    CHECK(r != NULL && r->request != NULL && r->request->verified_by[0] != '\0' &&
          r->request->n_account_ids + r->request->n_contact_ids > 0);
    pu_free(r);

    Minbill__V1__Account *a = pu_account(&srv, support, "acc-r1", false, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(a != NULL && a->n_contacts == 1 && pu_contact(a, "r1-c2") != NULL);
    CHECK(a != NULL && !a->restricted && strcmp(a->legal_name, "Restrikt Eins GmbH") == 0);
    pu_free(a);
    a = pu_account(&srv, privacy, "acc-r1", true, &st);
    const Minbill__V1__Contact *c1 = pu_contact(a, "r1-c1");
    CHECK(c1 != NULL && c1->restricted && strcmp(c1->email, "rita.restrikt@example.de") == 0);
    CHECK(a != NULL && a->n_contacts == 2);
    pu_free(a);

    CHECK(audited("subject.restrict", id) == 1);
    r = restrict_subject(id, &st);
    CHECK_STATUS(st, GRPC_STATUS_FAILED_PRECONDITION);
    pu_free(r);
}

static void test_restrict_account(void)
{
    Minbill__V1__Contact c, *cp = &c;
    pu_contact_init(&c, "r2-c1", "Ralf Einzel", "ralf.einzel@example.de", "");
    CHECK(mbt_upsert_account(srv.ch, platform, "acc-r2", "Ralf Einzel e.K.", NULL, &cp, 1,
                             mbt_ms(10000), NULL) == GRPC_STATUS_OK);
    char token[64], pan[32], id[PU_ID_MAX];
    CHECK(mbt_attach_card(srv.ch, platform, "acc-r2", "5555555555554444", "Ralf Einzel", token,
                          sizeof token, mbt_ms(10000)) == GRPC_STATUS_OK);
    /* Before: payment collection may reveal it, support lists it. */
    CHECK(mbt_reveal_card(srv.ch, payments, token, "collect-payment", pan, sizeof pan,
                          mbt_ms(10000)) == GRPC_STATUS_OK);
    CHECK(strcmp(pan, "5555555555554444") == 0);
    CHECK(payment_methods_seen(support, "acc-r2") == 1);
    /* A request of another kind restricts nothing. */
    CHECK(pu_open(&srv, privacy, OPEN_KIND(ACCESS), NULL, NULL, "acc-r2", id) == GRPC_STATUS_OK);
    mb_error st;
    Minbill__V1__RestrictSubjectResponse *r = restrict_subject(id, &st);
    CHECK_STATUS(st, GRPC_STATUS_FAILED_PRECONDITION);
    pu_free(r);

    CHECK(pu_open(&srv, privacy, OPEN_KIND(RESTRICTION), NULL, NULL, "acc-r2", id) ==
          GRPC_STATUS_OK);
    r = restrict_subject(id, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(restricted_has(r, "account", "acc-r2") && restricted_has(r, "contact", "r2-c1") &&
          restricted_has(r, "payment_method", token));
    CHECK(r != NULL && r->n_restricted == 3);
    pu_free(r);

    /* Support: the account masked, its contact and card gone from view. */
    Minbill__V1__Account *a = pu_account(&srv, support, "acc-r2", false, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(a != NULL && a->restricted && a->legal_name[0] == '\0' && a->n_contacts == 0);
    pu_free(a);
    CHECK(payment_methods_seen(support, "acc-r2") == 0);
    /* Payment collection: the card is not processed. */
    pan[0] = '\0';
    CHECK(mbt_reveal_card(srv.ch, payments, token, "collect-payment", pan, sizeof pan,
                          mbt_ms(10000)) != GRPC_STATUS_OK);
    CHECK(pan[0] == '\0');
    /* The privacy role (the export purpose) still sees all of it. */
    a = pu_account(&srv, privacy, "acc-r2", true, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(a != NULL && a->restricted && strcmp(a->legal_name, "Ralf Einzel e.K.") == 0);
    const Minbill__V1__Contact *c1 = pu_contact(a, "r2-c1");
    CHECK(c1 != NULL && c1->restricted && strcmp(c1->name, "Ralf Einzel") == 0);
    pu_free(a);
}

/* RectifySubject with changes and n fields to clear. */
static Minbill__V1__Account *rectify_clear(const char *id, Minbill__V1__Account *changes,
                                           Minbill__V1__ClearedField **clear, size_t n,
                                           mb_error *st)
{
    Minbill__V1__RectifySubjectRequest req = MINBILL__V1__RECTIFY_SUBJECT_REQUEST__INIT;
    req.request_id = (char *)id;
    req.changes = changes;
    req.clear = clear;
    req.n_clear = n;
    return (void *)pu_call(&srv, privacy, PU_RECTIFY, &req.base, &minbill__v1__account__descriptor,
                           mbt_ms(20000), st);
}

static Minbill__V1__Account *rectify(const char *id, Minbill__V1__Account *changes, mb_error *st)
{
    return rectify_clear(id, changes, NULL, 0, st);
}

/* A contact change of account acc, as RectifySubject takes it. */
static void contact_change(Minbill__V1__Account *acc, Minbill__V1__Contact **slot,
                           Minbill__V1__Contact *c, const char *account_id, const char *contact_id,
                           const char *email)
{
    minbill__v1__account__init(acc);
    acc->account_id = (char *)account_id;
    minbill__v1__contact__init(c);
    c->contact_id = (char *)contact_id;
    c->email = (char *)email;
    *slot = c;
    acc->contacts = slot;
    acc->n_contacts = 1;
}

static const char *stored_email(const char *account_id, const char *contact_id, char *out)
{
    mb_error st;
    Minbill__V1__Account *a = pu_account(&srv, privacy, account_id, true, &st);
    const Minbill__V1__Contact *c = pu_contact(a, contact_id);
    snprintf(out, 96, "%s", c != NULL ? c->email : "(none)");
    pu_free(a);
    return out;
}

static void test_rectify_contact(void)
{
    two_contacts("acc-f", "Fehler Autohaus e.K.",
                 (person){"f-c1", "Fritz Fehler", "fritz.alt@example.de", ""},
                 (person){"f-c2", "Frieda Anders", "frieda.anders@example.de", ""});
    char id[PU_ID_MAX], buf[96];
    CHECK(pu_open(&srv, privacy, OPEN_KIND(RECTIFICATION), NULL, "f-c1", NULL, id) ==
          GRPC_STATUS_OK);
    Minbill__V1__Account ch;
    Minbill__V1__Contact cc, *slot;
    mb_error st;

    /* Invalid: named, not echoed, nothing written. */
    contact_change(&ch, &slot, &cc, "acc-f", "f-c1", "fritz-at-example.de");
    Minbill__V1__Account *a = rectify(id, &ch, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "changes.contacts[0].email");
    CHECK(strstr(st.msg, "fritz-at-example") == NULL);
    pu_free(a);
    /* Outside the request: another contact, the account's own fields. */
    contact_change(&ch, &slot, &cc, "acc-f", "f-c2", "frieda.neu@example.de");
    a = rectify(id, &ch, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "changes.contacts[0].contact_id");
    pu_free(a);
    minbill__v1__account__init(&ch);
    ch.account_id = "acc-f";
    ch.legal_name = "Ganz Anders e.K.";
    a = rectify(id, &ch, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "legal_name");
    pu_free(a);
    CHECK(strcmp(stored_email("acc-f", "f-c1", buf), "fritz.alt@example.de") == 0);
    CHECK(strcmp(stored_email("acc-f", "f-c2", buf), "frieda.anders@example.de") == 0);
    CHECK(notices(id) == 0);
    CHECK(audited("subject.rectify", id) == 0);

    /* Valid: stored, audited, recipients recorded and returned. */
    contact_change(&ch, &slot, &cc, "acc-f", "f-c1", "Fritz.Neu@Example.de");
    a = rectify(id, &ch, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(a != NULL && a->n_notified_recipients >= 1);
    CHECK(a != NULL && a->n_notified_recipients > 0 &&
          strstr(a->notified_recipients[0], "processors") != NULL);
    CHECK(pu_contact(a, "f-c1") != NULL &&
          strcmp(pu_contact(a, "f-c1")->email, "fritz.neu@example.de") == 0);
    pu_free(a);
    CHECK(strcmp(stored_email("acc-f", "f-c1", buf), "fritz.neu@example.de") == 0);
    CHECK(strcmp(stored_email("acc-f", "f-c2", buf), "frieda.anders@example.de") == 0);
    CHECK(notices(id) >= 1);
    CHECK(audited("subject.rectify", id) == 1);
    /* Still open: staff complete it once the subject is answered. */
    Minbill__V1__SubjectRequest *sr = pu_request(&srv, privacy, id, &st);
    CHECK(sr != NULL &&
          sr->state == MINBILL__V1__SUBJECT_REQUEST_STATE__SUBJECT_REQUEST_STATE_OPEN);
    CHECK(sr != NULL && sr->n_notify_recipients >= 1);
    pu_free(sr);

    /* Only a rectification request rectifies. */
    CHECK(pu_open(&srv, privacy, OPEN_KIND(ERASURE), NULL, "f-c2", NULL, id) == GRPC_STATUS_OK);
    contact_change(&ch, &slot, &cc, "acc-f", "f-c2", "frieda.neu@example.de");
    a = rectify(id, &ch, &st);
    CHECK_STATUS(st, GRPC_STATUS_FAILED_PRECONDITION);
    pu_free(a);
}

static void test_rectify_account(void)
{
    char id[PU_ID_MAX];
    CHECK(mbt_upsert_account(srv.ch, platform, "acc-g", "Gustav Schreibfehler e.K.", NULL, NULL, 0,
                             mbt_ms(10000), NULL) == GRPC_STATUS_OK);
    CHECK(pu_open(&srv, privacy, OPEN_KIND(RECTIFICATION), NULL, NULL, "acc-g", id) ==
          GRPC_STATUS_OK);
    Minbill__V1__Account ch = MINBILL__V1__ACCOUNT__INIT;
    ch.account_id = "acc-g";
    ch.legal_name = "Gustav Schreiber e.K.";
    ch.vat_id = "DE12";
    mb_error st;
    Minbill__V1__Account *a = rectify(id, &ch, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "changes.vat_id");
    pu_free(a);
    a = pu_account(&srv, privacy, "acc-g", true, &st);
    CHECK(a != NULL && strcmp(a->legal_name, "Gustav Schreibfehler e.K.") == 0);
    pu_free(a);
    CHECK(notices(id) == 0);

    ch.vat_id = "";
    a = rectify(id, &ch, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(a != NULL && strcmp(a->legal_name, "Gustav Schreiber e.K.") == 0);
    /* A legal name is printed on invoices: the tax authorities are told. */
    bool tax = false;
    for (size_t i = 0; a != NULL && i < a->n_notified_recipients; i++)
        tax = tax || strstr(a->notified_recipients[i], "tax authorities") != NULL;
    CHECK(tax);
    pu_free(a);
    CHECK(audited("subject.rectify", id) == 1);
}

static bool notified(const Minbill__V1__Account *a, const char *recipient)
{
    for (size_t i = 0; a != NULL && i < a->n_notified_recipients; i++)
        if (strstr(a->notified_recipients[i], recipient) != NULL)
            return true;
    return false;
}

/* The stored account as the privacy role sees it, in full. */
static Minbill__V1__Account *stored(const char *account_id)
{
    mb_error st;
    Minbill__V1__Account *a = pu_account(&srv, privacy, account_id, true, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    return a;
}

/* Removing stored values: only optional fields, only the request's
 * subject, never also given a value; refused ones write nothing; a removal
 * is stored, audited and its recipients recorded like a replacement. */
static void test_rectify_clear(void)
{
    two_contacts("acc-h", "Hanna Hell e.K.",
                 (person){"h-c1", "Hanna Hell", "hanna.hell@example.de", "+4915112340001"},
                 (person){"h-c2", "Hugo Hell", "hugo.hell@example.de", "+4915112340002"});
    char id[PU_ID_MAX];
    CHECK(pu_open(&srv, privacy, OPEN_KIND(RECTIFICATION), NULL, NULL, "acc-h", id) ==
          GRPC_STATUS_OK);
    /* Give the account the optional values first. */
    Minbill__V1__Account ch = MINBILL__V1__ACCOUNT__INIT;
    Minbill__V1__PostalAddress addr = MINBILL__V1__POSTAL_ADDRESS__INIT;
    ch.account_id = "acc-h";
    ch.vat_id = "DE136695976";
    addr.line2 = "Hinterhaus, 2. OG";
    ch.billing_address = &addr;
    mb_error st;
    Minbill__V1__Account *a = rectify(id, &ch, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    pu_free(a);
    a = stored("acc-h");
    CHECK(a != NULL && strcmp(a->vat_id, "DE136695976") == 0 && a->billing_address != NULL &&
          strcmp(a->billing_address->line2, "Hinterhaus, 2. OG") == 0);
    pu_free(a);
    long notices_before = notices(id);

    Minbill__V1__ClearedField f[3] = {MINBILL__V1__CLEARED_FIELD__INIT,
                                      MINBILL__V1__CLEARED_FIELD__INIT,
                                      MINBILL__V1__CLEARED_FIELD__INIT};
    Minbill__V1__ClearedField *fp[3] = {&f[0], &f[1], &f[2]};
    minbill__v1__account__init(&ch);
    ch.account_id = "acc-h";
    /* Refused: a required field, an account field under a contact's name,
     * a contact outside the account, a field also given a value. */
    static const struct {
        const char *contact_id, *field, *named;
    } refused[] = {
        {"", "legal_name", "clear[0].field"},
        {"", "billing_address.line1", "clear[0].field"},
        {"", "phone", "clear[0].field"},
        {"h-c1", "vat_id", "clear[0].field"},
        {"h-c1", "role", "clear[0].field"},
        {"h-zz", "phone", "clear[0].contact_id"},
        {"bad id!", "phone", "clear[0].contact_id"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        f[0].contact_id = (char *)refused[i].contact_id;
        f[0].field = (char *)refused[i].field;
        a = rectify_clear(id, &ch, fp, 1, &st);
        CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(st.msg, refused[i].named);
        pu_free(a);
    }
    Minbill__V1__Contact cc, *slot;
    contact_change(&ch, &slot, &cc, "acc-h", "h-c1", "");
    cc.phone = "+4915112340009";
    f[0].contact_id = "h-c1";
    f[0].field = "phone";
    a = rectify_clear(id, &ch, fp, 1, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "clear[0].field: phone is also given a value in changes");
    CHECK(strstr(st.msg, "15112340009") == NULL);
    pu_free(a);
    minbill__v1__account__init(&ch);
    ch.account_id = "acc-h";
    ch.vat_id = "DE136695976";
    f[0].contact_id = "";
    f[0].field = "vat_id";
    a = rectify_clear(id, &ch, fp, 1, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "also given a value");
    pu_free(a);
    CHECK(notices(id) == notices_before);
    CHECK(audited("subject.rectify", id) == 1);

    /* Removed: a contact's phone (the contact not otherwise changed), the
     * second address line and the VAT id. The rest stays. */
    minbill__v1__account__init(&ch);
    ch.account_id = "acc-h";
    f[0].contact_id = "h-c1";
    f[0].field = "phone";
    f[1].field = "billing_address.line2";
    f[2].field = "vat_id";
    a = rectify_clear(id, &ch, fp, 3, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(a != NULL && a->vat_id[0] == '\0');
    CHECK(a != NULL && a->billing_address != NULL && a->billing_address->line2[0] == '\0' &&
          strcmp(a->billing_address->line1, "Hauptstrasse 1") == 0);
    CHECK(pu_contact(a, "h-c1") != NULL && pu_contact(a, "h-c1")->phone[0] == '\0' &&
          strcmp(pu_contact(a, "h-c1")->email, "hanna.hell@example.de") == 0);
    /* Art. 19: the VAT id and address are printed on invoices. */
    CHECK(notified(a, "tax authorities") && notified(a, "processors"));
    pu_free(a);
    a = stored("acc-h");
    CHECK(a != NULL && a->vat_id[0] == '\0' && a->billing_address != NULL &&
          a->billing_address->line2[0] == '\0');
    CHECK(pu_contact(a, "h-c1") != NULL && pu_contact(a, "h-c1")->phone[0] == '\0');
    CHECK(pu_contact(a, "h-c2") != NULL &&
          strcmp(pu_contact(a, "h-c2")->phone, "+4915112340002") == 0);
    pu_free(a);
    CHECK(notices(id) > notices_before);
    CHECK(audited("subject.rectify", id) == 2);
    /* Clearing what is already empty changes nothing and tells nobody. */
    a = rectify_clear(id, &ch, fp, 3, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(a != NULL && a->n_notified_recipients == 0);
    pu_free(a);

    /* A request about one contact clears that contact's fields only. */
    CHECK(pu_open(&srv, privacy, OPEN_KIND(RECTIFICATION), NULL, "h-c2", NULL, id) ==
          GRPC_STATUS_OK);
    f[0].contact_id = "";
    f[0].field = "billing_address.line2";
    a = rectify_clear(id, &ch, fp, 1, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "clear: request");
    pu_free(a);
    f[0].contact_id = "h-c1";
    f[0].field = "email";
    a = rectify_clear(id, &ch, fp, 1, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "clear[0].contact_id: not a contact request");
    pu_free(a);
    f[0].contact_id = "h-c2";
    f[0].field = "email";
    a = rectify_clear(id, &ch, fp, 1, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(notified(a, "processors"));
    pu_free(a);
    a = stored("acc-h");
    CHECK(pu_contact(a, "h-c2") != NULL && pu_contact(a, "h-c2")->email[0] == '\0' &&
          strcmp(pu_contact(a, "h-c2")->name, "Hugo Hell") == 0);
    CHECK(pu_contact(a, "h-c1") != NULL &&
          strcmp(pu_contact(a, "h-c1")->email, "hanna.hell@example.de") == 0);
    pu_free(a);
    /* Its e-mail removed, the contact is no longer found by it. */
    CHECK(pu_open(&srv, privacy, OPEN_KIND(ACCESS), "hugo.hell@example.de", NULL, NULL, id) ==
          GRPC_STATUS_OK);
    Minbill__V1__SubjectRequest *sr = pu_request(&srv, privacy, id, &st);
    CHECK(sr != NULL && sr->n_contact_ids == 0);
    pu_free(sr);
}

int main(void)
{
    if (mbt_up(&srv, NULL) != 0)
        return 1;
    mbt_key(&srv, "platform", platform);
    mbt_key(&srv, "support", support);
    mbt_key(&srv, "privacy", privacy);
    mbt_key(&srv, "payments", payments);
    RUN(test_restrict_contact);
    RUN(test_restrict_account);
    RUN(test_rectify_contact);
    RUN(test_rectify_account);
    RUN(test_rectify_clear);
    CHECK(pu_audit_intact(&srv, privacy));
    CHECK(mbt_down(&srv) == 0);
    return check_summary();
}

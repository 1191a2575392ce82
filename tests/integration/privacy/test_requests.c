/*
 * test_requests.c - the life of a data-subject request against the real
 * daemon: opening by e-mail (every contact with it, on any account; the
 * e-mail itself stored nowhere), by contact and by account; the one-month
 * deadline; one extension of one or two months before it; completing and
 * rejecting with reasons; listing with filters, overdue and pages; an
 * objection that takes effect at once; every step audited with its
 * request id; errors that name the field and never echo an e-mail.
 */
#include <sqlite3.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "common.h"
#include "fixtures.h"
#include "minbill/v1/privacy.pb-c.h"

#define OPEN "/minbill.v1.Privacy/OpenSubjectRequest"
#define GET "/minbill.v1.Privacy/GetSubjectRequest"
#define LIST "/minbill.v1.Privacy/ListSubjectRequests"
#define COMPLETE "/minbill.v1.Privacy/CompleteSubjectRequest"
#define REJECT "/minbill.v1.Privacy/RejectSubjectRequest"
#define EXTEND "/minbill.v1.Privacy/ExtendSubjectRequest"

#define SHARED_EMAIL "Jana.Novak@Example-Dealer.de"

static mbt_server srv;
static char platform[MBT_KEY_MAX], support[MBT_KEY_MAX], privacy[MBT_KEY_MAX];

typedef Minbill__V1__SubjectRequest request_t;

static void contact(Minbill__V1__Contact *c, const char *id, const char *name, const char *email)
{
    minbill__v1__contact__init(c);
    c->contact_id = (char *)id;
    c->name = (char *)name;
    c->email = (char *)email;
    c->role = MINBILL__V1__CONTACT_ROLE__CONTACT_ROLE_BILLING;
}

static void setup_accounts(void)
{
    Minbill__V1__Contact a[2], b[1], *pa[2] = {&a[0], &a[1]}, *pb[1] = {&b[0]};
    contact(&a[0], "c1", "Jana Novak", SHARED_EMAIL);
    contact(&a[1], "c2", "Piotr Zielinski", "piotr@example-dealer.de");
    /* The same person at another dealer, e-mail in another case. */
    contact(&b[0], "c1", "Jana Novak", "jana.novak@example-dealer.de");
    CHECK(mbt_upsert_account(srv.ch, platform, "dealer-a", "Dealer A GmbH", NULL, pa, 2, 10000,
                             NULL) == 0);
    CHECK(mbt_upsert_account(srv.ch, platform, "dealer-b", "Dealer B GmbH", NULL, pb, 1, 10000,
                             NULL) == 0);
}

/* Calls method with req; the answer (caller frees) or NULL with *st set. */
static ProtobufCMessage *call(const char *key, const char *method, const ProtobufCMessage *req,
                              const ProtobufCMessageDescriptor *resp_desc, mb_error *st)
{
    ProtobufCMessage *resp = NULL;
    mbc_unary(srv.ch, method, key, req, resp_desc, 10000, &resp, st);
    return resp;
}

static request_t *open_by(const char *key, Minbill__V1__SubjectRequestKind kind, const char *email,
                          const char *contact_id, const char *account_id, const char *verified_by,
                          mb_error *st)
{
    Minbill__V1__OpenSubjectRequestRequest req = MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__INIT;
    req.kind = kind;
    req.verified_by = (char *)verified_by;
    if (email != NULL) {
        req.subject_case = MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__SUBJECT_EMAIL;
        req.email = (char *)email;
    } else if (contact_id != NULL) {
        req.subject_case = MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__SUBJECT_CONTACT_ID;
        req.contact_id = (char *)contact_id;
    } else if (account_id != NULL) {
        req.subject_case = MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__SUBJECT_ACCOUNT_ID;
        req.account_id = (char *)account_id;
    }
    return (request_t *)call(key, OPEN, &req.base, &minbill__v1__subject_request__descriptor, st);
}

static request_t *step(const char *method, const char *id, const char *reason, int months,
                       mb_error *st)
{
    if (strcmp(method, EXTEND) == 0) {
        Minbill__V1__ExtendSubjectRequestRequest r =
            MINBILL__V1__EXTEND_SUBJECT_REQUEST_REQUEST__INIT;
        r.request_id = (char *)id;
        r.reason = (char *)reason;
        r.months = months;
        return (request_t *)call(privacy, method, &r.base,
                                 &minbill__v1__subject_request__descriptor, st);
    }
    Minbill__V1__RejectSubjectRequestRequest r = MINBILL__V1__REJECT_SUBJECT_REQUEST_REQUEST__INIT;
    r.request_id = (char *)id;
    r.reason = (char *)reason;
    /* Complete and Reject requests have the same fields. */
    return (request_t *)call(privacy, method, &r.base, &minbill__v1__subject_request__descriptor,
                             st);
}

static bool has(char **list, size_t n, const char *want)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], want) == 0)
            return true;
    return false;
}

static void free_msg(void *m)
{
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, NULL);
}

/* Audit events that name the request. */
static long audited(const char *request_id)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM audit_events WHERE request_id = '%s'",
             request_id);
    return mbt_db_long(srv.d.db, sql);
}

/* 31 January + one month is the last day of February (Art. 12(3) counts
 * calendar months); the answer is in UTC. */
static int64_t months_after(int64_t s, int months)
{
    time_t t = (time_t)s;
    struct tm tm;
    gmtime_r(&t, &tm);
    int m = tm.tm_mon + months;
    int year = tm.tm_year + 1900 + m / 12;
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int last =
        dim[m % 12] + (m % 12 == 1 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0));
    tm.tm_year = year - 1900;
    tm.tm_mon = m % 12;
    if (tm.tm_mday > last)
        tm.tm_mday = last;
    return (int64_t)timegm(&tm);
}

static void test_open_by_email(void)
{
    mb_error st;
    request_t *r = open_by(privacy, MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ACCESS,
                           "  " SHARED_EMAIL " ", NULL, NULL, "support agent 7, ID card", &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    if (r == NULL)
        return;
    CHECK(strncmp(r->request_id, "sr_", 3) == 0);
    CHECK(r->state == MINBILL__V1__SUBJECT_REQUEST_STATE__SUBJECT_REQUEST_STATE_OPEN);
    CHECK(r->n_contact_ids == 2 && has(r->contact_ids, r->n_contact_ids, "dealer-a/c1") &&
          has(r->contact_ids, r->n_contact_ids, "dealer-b/c1"));
    CHECK(r->n_account_ids == 0);
    CHECK(r->received_at != NULL && r->due_at != NULL);
    if (r->received_at != NULL && r->due_at != NULL)
        CHECK(r->due_at->seconds == months_after(r->received_at->seconds, 1));
    CHECK(!r->overdue && r->original_due_at == NULL);
    /* The e-mail is stored nowhere: not in the request, its scope, the
     * audit trail, the log. */
    CHECK(audited(r->request_id) == 1);
    CHECK(!mbt_file_contains(srv.d.db, "Example-Dealer.de"));
    CHECK(!mbt_file_contains(srv.d.log, "example-dealer.de"));
    CHECK(!mbt_file_contains(srv.d.log, "Example-Dealer.de"));

    /* An e-mail that matches nothing is a request too: the answer will say
     * billing holds nothing about it. */
    request_t *none =
        open_by(privacy, MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ACCESS,
                "nobody@example.org", NULL, NULL, "web form", &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(none != NULL && none->n_contact_ids == 0 && none->n_account_ids == 0);
    free_msg(none);
    free_msg(r);
}

static void test_open_by_contact_and_account(void)
{
    mb_error st;
    const Minbill__V1__SubjectRequestKind erasure =
        MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ERASURE;
    request_t *r = open_by(privacy, erasure, NULL, "dealer-a/c2", NULL, "phone call", &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(r != NULL && r->n_contact_ids == 1 && strcmp(r->contact_ids[0], "dealer-a/c2") == 0);
    free_msg(r);
    /* "c2" alone is unique; "c1" is on two accounts. */
    r = open_by(privacy, erasure, NULL, "c2", NULL, "phone call", &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    free_msg(r);
    r = open_by(privacy, erasure, NULL, "c1", NULL, "phone call", &st);
    CHECK_STATUS(st, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(st.msg, "ACCOUNT_ID/CONTACT_ID");
    r = open_by(privacy, erasure, NULL, "dealer-a/c9", NULL, "phone call", &st);
    CHECK_STATUS(st, GRPC_STATUS_NOT_FOUND);
    CHECK_CONTAINS(st.msg, "contact_id");

    /* By account: the account's own fields and all its contacts. Support
     * may open requests. */
    r = open_by(support, MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_PORTABILITY, NULL,
                NULL, "dealer-a", "sole trader, e-mail from the registered address", &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(r != NULL && r->n_account_ids == 1 && strcmp(r->account_ids[0], "dealer-a") == 0 &&
          r->n_contact_ids == 2);
    free_msg(r);
    r = open_by(privacy, erasure, NULL, NULL, "no-such-dealer", "x", &st);
    CHECK_STATUS(st, GRPC_STATUS_NOT_FOUND);
    CHECK_CONTAINS(st.msg, "account_id");
}

static void test_open_validation(void)
{
    mb_error st;
    const Minbill__V1__SubjectRequestKind access =
        MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ACCESS;
    open_by(privacy, 0, SHARED_EMAIL, NULL, NULL, "x", &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "kind");
    open_by(privacy, access, SHARED_EMAIL, NULL, NULL, "", &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "verified_by");
    /* Stored free text must not carry personal data. */
    open_by(privacy, access, SHARED_EMAIL, NULL, NULL, "checked jana.novak@example-dealer.de", &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "verified_by");
    CHECK(strstr(st.msg, "novak") == NULL);
    open_by(privacy, access, "not-an-address@", NULL, NULL, "x", &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "email");
    CHECK(strstr(st.msg, "not-an-address") == NULL);
    open_by(privacy, access, NULL, NULL, NULL, "x", &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "subject");
    open_by(platform, access, SHARED_EMAIL, NULL, NULL, "x", &st);
    CHECK_STATUS(st, GRPC_STATUS_PERMISSION_DENIED);
}

static void test_extend_complete_reject(void)
{
    mb_error st;
    request_t *r = open_by(privacy, MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ACCESS,
                           NULL, NULL, "dealer-b", "letter", &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    if (r == NULL)
        return;
    char id[64];
    snprintf(id, sizeof id, "%s", r->request_id);
    int64_t due = r->due_at->seconds;
    free_msg(r);

    step(EXTEND, id, "archive search", 3, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "months");
    step(EXTEND, id, "", 2, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "reason");
    r = step(EXTEND, id, "records spread over three archives", 2, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(r != NULL && r->original_due_at != NULL && r->original_due_at->seconds == due &&
          r->due_at->seconds == months_after(due, 2) &&
          strcmp(r->extension_reason, "records spread over three archives") == 0);
    free_msg(r);
    step(EXTEND, id, "again", 1, &st);
    CHECK_STATUS(st, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(st.msg, "already extended");

    r = step(COMPLETE, id, "export sent by post", 0, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(r != NULL &&
          r->state == MINBILL__V1__SUBJECT_REQUEST_STATE__SUBJECT_REQUEST_STATE_COMPLETED &&
          r->completed_at != NULL && strcmp(r->outcome_reason, "export sent by post") == 0);
    free_msg(r);
    step(COMPLETE, id, "", 0, &st);
    CHECK_STATUS(st, GRPC_STATUS_FAILED_PRECONDITION);
    step(EXTEND, id, "late", 1, &st);
    CHECK_STATUS(st, GRPC_STATUS_FAILED_PRECONDITION);

    r = open_by(privacy, MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ERASURE, NULL,
                NULL, "dealer-b", "letter", &st);
    CHECK(r != NULL);
    if (r == NULL)
        return;
    snprintf(id, sizeof id, "%s", r->request_id);
    free_msg(r);
    step(REJECT, id, "", 0, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "reason");
    r = step(REJECT, id, "identity not verified", 0, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(r != NULL &&
          r->state == MINBILL__V1__SUBJECT_REQUEST_STATE__SUBJECT_REQUEST_STATE_REJECTED);
    free_msg(r);
    /* open, extend, complete; open, reject: each step audited. */
    CHECK(audited(id) == 2);
    step(COMPLETE, "sr_nope", "", 0, &st);
    CHECK_STATUS(st, GRPC_STATUS_NOT_FOUND);
}

static void test_overdue_extension_refused(void)
{
    mb_error st;
    request_t *r = open_by(privacy, MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ACCESS,
                           NULL, "dealer-a/c2", NULL, "letter", &st);
    if (r == NULL) {
        CHECK(r != NULL);
        return;
    }
    char id[64];
    snprintf(id, sizeof id, "%s", r->request_id);
    free_msg(r);
    /* A month has passed (as an operator with the file would see it). */
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE subject_requests SET due_us = 1000000 WHERE request_id = '%s'", id);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(srv.d.db, &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);

    Minbill__V1__GetSubjectRequestRequest g = MINBILL__V1__GET_SUBJECT_REQUEST_REQUEST__INIT;
    g.request_id = id;
    r = (request_t *)call(privacy, GET, &g.base, &minbill__v1__subject_request__descriptor, &st);
    CHECK(r != NULL && r->overdue);
    free_msg(r);
    step(EXTEND, id, "too late", 1, &st);
    CHECK_STATUS(st, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(st.msg, "past its due date");

    /* The overdue filter finds exactly it. */
    Minbill__V1__ListSubjectRequestsRequest l = MINBILL__V1__LIST_SUBJECT_REQUESTS_REQUEST__INIT;
    l.overdue = true;
    Minbill__V1__ListSubjectRequestsResponse *page = (void *)call(
        privacy, LIST, &l.base, &minbill__v1__list_subject_requests_response__descriptor, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(page != NULL && page->n_requests == 1 && strcmp(page->requests[0]->request_id, id) == 0);
    free_msg(page);
}

static void test_objection_takes_effect(void)
{
    mb_error st;
    request_t *r =
        open_by(support, MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_OBJECTION, NULL,
                "dealer-a/c2", NULL, "asked by phone", &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(r != NULL &&
          r->state == MINBILL__V1__SUBJECT_REQUEST_STATE__SUBJECT_REQUEST_STATE_COMPLETED);
    free_msg(r);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM contacts WHERE objected_us IS NOT NULL") ==
          1);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM contacts WHERE contact_id = 'c2'"
                                " AND objected_us IS NOT NULL") == 1);
    CHECK(mbt_db_long(srv.d.db,
                      "SELECT count(*) FROM audit_events WHERE action = 'subject.object'") == 1);
}

static void test_list_filters_and_pages(void)
{
    mb_error st;
    Minbill__V1__ListSubjectRequestsRequest l = MINBILL__V1__LIST_SUBJECT_REQUESTS_REQUEST__INIT;
    long total = mbt_db_long(srv.d.db, "SELECT count(*) FROM subject_requests");
    CHECK(total >= 8);
    /* Pages of 3 cover every request once. */
    l.page_size = 3;
    char token[128] = "";
    long seen = 0;
    char ids[64][64];
    for (int pages = 0; pages < 20; pages++) {
        l.page_token = token;
        Minbill__V1__ListSubjectRequestsResponse *p = (void *)call(
            privacy, LIST, &l.base, &minbill__v1__list_subject_requests_response__descriptor, &st);
        CHECK_STATUS(st, GRPC_STATUS_OK);
        if (p == NULL)
            break;
        CHECK(p->n_requests <= 3);
        for (size_t i = 0; i < p->n_requests && seen < 64; i++) {
            for (long j = 0; j < seen; j++)
                CHECK(strcmp(ids[j], p->requests[i]->request_id) != 0);
            snprintf(ids[seen++], sizeof ids[0], "%s", p->requests[i]->request_id);
        }
        snprintf(token, sizeof token, "%s", p->next_page_token);
        free_msg(p);
        if (token[0] == '\0')
            break;
    }
    CHECK(seen == total);

    /* Filters combine. */
    l.page_size = 0;
    l.page_token = "";
    l.kind = MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ERASURE;
    l.state = MINBILL__V1__SUBJECT_REQUEST_STATE__SUBJECT_REQUEST_STATE_REJECTED;
    Minbill__V1__ListSubjectRequestsResponse *p = (void *)call(
        privacy, LIST, &l.base, &minbill__v1__list_subject_requests_response__descriptor, &st);
    CHECK(p != NULL && p->n_requests == 1);
    free_msg(p);
    l.kind = 0;
    l.state = 0;
    l.account_id = "dealer-b";
    p = (void *)call(privacy, LIST, &l.base,
                     &minbill__v1__list_subject_requests_response__descriptor, &st);
    CHECK(p != NULL &&
          p->n_requests == (size_t)mbt_db_long(
                               srv.d.db, "SELECT count(DISTINCT request_id) FROM"
                                         " subject_request_scope WHERE account_id = 'dealer-b'"));
    free_msg(p);
    l.account_id = "";
    l.page_token = "garbage";
    call(privacy, LIST, &l.base, &minbill__v1__list_subject_requests_response__descriptor, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "page_token");
    l.page_token = "";
    call(support, LIST, &l.base, &minbill__v1__list_subject_requests_response__descriptor, &st);
    CHECK_STATUS(st, GRPC_STATUS_PERMISSION_DENIED);
}

int main(void)
{
    if (mbt_up(&srv, NULL) != 0)
        return 1;
    mbt_key(&srv, "platform", platform);
    mbt_key(&srv, "support", support);
    mbt_key(&srv, "privacy", privacy);
    RUN(setup_accounts);
    RUN(test_open_by_email);
    RUN(test_open_by_contact_and_account);
    RUN(test_open_validation);
    RUN(test_extend_complete_reject);
    RUN(test_overdue_extension_refused);
    RUN(test_objection_takes_effect);
    RUN(test_list_filters_and_pages);
    CHECK(mbt_down(&srv) == 0);
    return check_summary();
}

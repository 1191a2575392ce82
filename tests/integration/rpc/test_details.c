/*
 * test_details.c - rich errors: an INVALID_ARGUMENT carries a serialized
 * google.rpc.Status in `grpc-status-details-bin` with one
 * google.rpc.BadRequest field violation naming the field, decoded here as
 * any gRPC client would; other codes carry none.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "minbill/v1/accounts.pb-c.h"

#define GET "/minbill.v1.Accounts/GetAccount"

static mbt_server srv;

/* GetAccount(account_id) with key; the decoded status details or NULL. */
static Google__Rpc__Status *get_account(const char *key, const char *account_id, mb_error *st)
{
    Minbill__V1__GetAccountRequest req = MINBILL__V1__GET_ACCOUNT_REQUEST__INIT;
    req.account_id = (char *)account_id;
    uint8_t buf[256];
    size_t len = minbill__v1__get_account_request__pack(&req, buf);
    char auth[MBT_KEY_MAX + 8];
    snprintf(auth, sizeof auth, "Bearer %s", key);
    uint8_t *details = NULL;
    size_t details_len = 0;
    mbt_call_trailer(srv.d.target, GET, auth, buf, len, st, "grpc-status-details-bin", &details,
                     &details_len);
    Google__Rpc__Status *s =
        details != NULL ? google__rpc__status__unpack(NULL, details_len, details) : NULL;
    free(details);
    return s;
}

static void test_bad_request(const char *key)
{
    mb_error st;
    Google__Rpc__Status *s = get_account(key, "not an id!", &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    CHECK(s->code == GRPC_STATUS_INVALID_ARGUMENT);
    CHECK(strcmp(s->message, st.msg) == 0);
    CHECK(s->n_details == 1);
    if (s->n_details == 1) {
        CHECK(strcmp(s->details[0]->type_url, "type.googleapis.com/google.rpc.BadRequest") == 0);
        Google__Rpc__BadRequest *br = google__rpc__bad_request__unpack(
            NULL, s->details[0]->value.len, s->details[0]->value.data);
        CHECK(br != NULL && br->n_field_violations == 1);
        if (br != NULL && br->n_field_violations == 1) {
            const char *field = br->field_violations[0]->field;
            const char *description = br->field_violations[0]->description;
            fprintf(stderr, "   field violation: field=\"%s\" description=\"%s\"\n", field,
                    description);
            CHECK(strcmp(field, "account_id") == 0);
            /* The message is "field: description". */
            char joined[sizeof st.msg + 8];
            snprintf(joined, sizeof joined, "%s: %s", field, description);
            CHECK(strcmp(joined, st.msg) == 0);
        }
        if (br != NULL)
            google__rpc__bad_request__free_unpacked(br, NULL);
    }
    google__rpc__status__free_unpacked(s, NULL);
}

static void test_other_codes(const char *key)
{
    mb_error st;
    /* A well-formed id that does not exist: NOT_FOUND, without details. */
    Google__Rpc__Status *s = get_account(key, "acc_missing", &st);
    CHECK_STATUS(st, GRPC_STATUS_NOT_FOUND);
    CHECK(s == NULL);
    if (s != NULL)
        google__rpc__status__free_unpacked(s, NULL);
}

int main(void)
{
    if (mbt_up(&srv, NULL) != 0)
        return 1;
    char key[MBT_KEY_MAX];
    mbt_key(&srv, "support", key);
    test_bad_request(key);
    test_other_codes(key);
    CHECK(mbt_down(&srv) == 0);
    return check_summary();
}

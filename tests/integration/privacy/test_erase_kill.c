/*
 * test_erase_kill.c - an erasure killed with SIGKILL half way leaves whole
 * chunks erased and its request open; erasing again after the restart
 * finishes it, reports what was left, and closes the request once.
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "check.h"
#include "fixtures.h"
#include "priv_util.h"

#define ACC "acc-kill"
#define CONTACTS 4000
#define CHUNK 64 /* ERASE_CHUNK */

static mbt_server srv;
static char platform[MBT_KEY_MAX], privacy[MBT_KEY_MAX];

typedef struct erase_call {
    char id[PU_ID_MAX];
    mbc_channel_t *ch;
    mb_error st;
    volatile int done;
} erase_call;

static Minbill__V1__ErasureReport *erase(mbc_channel_t *ch, const char *id, mb_error *st)
{
    Minbill__V1__EraseSubjectRequest req = MINBILL__V1__ERASE_SUBJECT_REQUEST__INIT;
    req.request_id = (char *)id;
    ProtobufCMessage *r = NULL;
    mbc_unary(ch, PU_ERASE, privacy, &req.base, &minbill__v1__erasure_report__descriptor,
              mbt_ms(120000), &r, st);
    return (Minbill__V1__ErasureReport *)r;
}

static void *erase_main(void *arg)
{
    erase_call *e = arg;
    pu_free(erase(e->ch, e->id, &e->st));
    __atomic_store_n(&e->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static long contacts_left(void)
{
    return mbt_db_long(srv.d.db, "SELECT count(*) FROM contacts WHERE account_id = '" ACC "'");
}

static int setup(char *token)
{
    static Minbill__V1__Contact c[50], *cp[50];
    static char ids[50][16], names[50][32], emails[50][48];
    for (int at = 0; at < CONTACTS; at += 50) {
        for (int i = 0; i < 50; i++) {
            snprintf(ids[i], sizeof ids[i], "k%04d", at + i);
            snprintf(names[i], sizeof names[i], "Killed Person %d", at + i);
            snprintf(emails[i], sizeof emails[i], "k%04d@kill-erase.example", at + i);
            pu_contact_init(&c[i], ids[i], names[i], emails[i], "");
            cp[i] = &c[i];
        }
        if (mbt_upsert_account(srv.ch, platform, ACC, "Kill Test GmbH", NULL, cp, 50, mbt_ms(30000),
                               NULL) != GRPC_STATUS_OK)
            return -1;
    }
    return mbt_attach_card(srv.ch, platform, ACC, "4242424242424242", "Kill Holder", token, 64,
                           mbt_ms(10000)) == GRPC_STATUS_OK
               ? 0
               : -1;
}

int main(void)
{
    char token[64];
    if (mbt_up(&srv, NULL) != 0)
        return 1;
    mbt_key(&srv, "platform", platform);
    mbt_key(&srv, "privacy", privacy);
    if (setup(token) != 0) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    erase_call e = {.ch = mbc_channel_new(srv.d.target)};
    CHECK(pu_open(&srv, privacy, MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ERASURE,
                  NULL, NULL, ACC, e.id) == GRPC_STATUS_OK);

    /* Killed once the first chunks are committed. */
    pthread_t th;
    CHECK(pthread_create(&th, NULL, erase_main, &e) == 0);
    long left = CONTACTS;
    while (left == CONTACTS && !__atomic_load_n(&e.done, __ATOMIC_ACQUIRE))
        left = contacts_left();
    int status;
    mbt_daemon_stop(&srv.d, SIGKILL, 10, &status);
    pthread_join(th, NULL);
    mbc_channel_free(e.ch);
    mbc_channel_free(srv.ch);
    srv.ch = NULL;
    left = contacts_left();
    char state[16];
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT state FROM subject_requests WHERE request_id = '%s'", e.id);
    CHECK(mbt_db_text(srv.d.db, sql, state, sizeof state) == 0);
    fprintf(stderr, "  killed with %ld of %d contacts left; the request is %s\n", left, CONTACTS,
            state);
    CHECK(left > 0 && left < CONTACTS);
    CHECK((CONTACTS - left) % CHUNK == 0); /* whole chunks only */
    CHECK(strcmp(state, "open") == 0);

    /* Erasing again finishes it. */
    CHECK(mbt_serve(&srv, NULL) == 0);
    mb_error st;
    Minbill__V1__ErasureReport *r = erase(srv.ch, e.id, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    long contacts = 0, methods = 0, account = 0;
    for (size_t i = 0; r != NULL && i < r->n_erased; i++) {
        contacts += strcmp(r->erased[i]->category, "contact") == 0;
        methods += strcmp(r->erased[i]->category, "payment_method") == 0 &&
                   strcmp(r->erased[i]->id, token) == 0;
        account += strcmp(r->erased[i]->category, "account") == 0;
    }
    fprintf(stderr, "  the second erasure reported %ld contacts\n", contacts);
    CHECK(contacts == left);
    CHECK(methods + account == 2);
    pu_free(r);
    CHECK(contacts_left() == 0);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM payment_methods") == 0);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM audit_events WHERE action = 'subject.erase'"
             " AND request_id = '%s'",
             e.id);
    CHECK(mbt_db_long(srv.d.db, sql) == 1);
    r = erase(srv.ch, e.id, &st);
    CHECK_STATUS(st, GRPC_STATUS_FAILED_PRECONDITION);
    pu_free(r);
    CHECK(pu_audit_intact(&srv, privacy));
    CHECK(mbt_down(&srv) == 0);
    return check_summary();
}

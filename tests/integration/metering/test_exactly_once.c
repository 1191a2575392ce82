/*
 * test_exactly_once.c - "acknowledged means durable" and "a replay is never
 * counted twice", under SIGKILL.
 *
 * Several clients ingest usage continuously, half through RecordUsage, half
 * through StreamUsage (several batches per stream). Meanwhile the daemon is
 * killed with SIGKILL at random moments and restarted on the same database,
 * at least MIN_ROUNDS times. A client retries, with identical content,
 * every request that got no OK answer: the kill may have come before the
 * commit (nothing counted: the retry counts it), after the commit but
 * before the answer (counted: the retry must find duplicates only), or in
 * the middle of a stream (some batches counted). At the end every counter
 * must equal the exact sum of the batches the clients completed, and the
 * database must hold exactly one idempotency hash per distinct event.
 *
 * The daemon checkpoints its idempotency filter every few hundred events,
 * so kills land before, during and after checkpoints, and most starts load
 * one and add from the table only what came after it (idem_ckpt.h).
 */
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <time.h>

#include "check.h"
#include "common.h"
#include "usage_util.h"

#define CLIENTS 4
#define PER_BATCH 50
#define STREAM_BATCHES 4
#define ACCOUNTS 3
#define MIN_ROUNDS 30
#define MAX_BATCHES 100000

static mbt_server srv;
static char platform[MBT_KEY_MAX], finance[MBT_KEY_MAX];
static int64_t now;
static const char *const ACCOUNT_IDS[ACCOUNTS] = {"eo-0", "eo-1", "eo-2"};
static const char *const METRICS[2] = {"messages", "seats"};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char target[64];
static unsigned generation;
static atomic_bool stop;

typedef struct client {
    int id;
    pthread_t thread;
    long batches;     /* completed (acknowledged) batches */
    long retries;     /* requests sent again after a failure */
    long dup_retries; /* retries that found some of their events counted */
} client;

static void event_of(int c, long b, int e, mu_event *out, char *key, size_t key_size)
{
    snprintf(key, key_size, "x%d-%ld-%d", c, b, e);
    out->key = key;
    out->account = ACCOUNT_IDS[(c + b + e) % ACCOUNTS];
    out->metric = METRICS[e % 2];
    out->quantity = 1 + (c * 31 + b * 7 + e) % 97;
    out->occurred = now - 60;
}

static mbc_channel_t *channel_for(mbc_channel_t *ch, unsigned *gen)
{
    pthread_mutex_lock(&lock);
    unsigned g = generation;
    char t[64];
    snprintf(t, sizeof t, "%s", target);
    pthread_mutex_unlock(&lock);
    if (ch != NULL && g == *gen)
        return ch;
    mbc_channel_free(ch);
    *gen = g;
    return mbc_channel_new(t);
}

static void *client_main(void *arg)
{
    client *cl = arg;
    bool streaming = cl->id % 2 == 1;
    int nb = streaming ? STREAM_BATCHES : 1;
    static _Thread_local mu_event ev[STREAM_BATCHES * PER_BATCH];
    static _Thread_local char keys[STREAM_BATCHES * PER_BATCH][32];
    mbc_channel_t *ch = NULL;
    unsigned gen = 0;
    while (!atomic_load(&stop) && cl->batches + nb <= MAX_BATCHES) {
        for (int b = 0; b < nb; b++)
            for (int e = 0; e < PER_BATCH; e++)
                event_of(cl->id, cl->batches + b, e, &ev[b * PER_BATCH + e],
                         keys[b * PER_BATCH + e], sizeof keys[0]);
        for (int attempt = 0;; attempt++) {
            ch = channel_for(ch, &gen);
            int64_t acc = -1, dup = -1;
            mb_error st;
            if (streaming)
                mu_stream(ch, platform, ev, (size_t)nb, PER_BATCH, 5000, &acc, &dup, &st);
            else
                mu_record(ch, platform, ev, PER_BATCH, &acc, &dup, &st);
            if (st.code == GRPC_STATUS_OK) {
                if (acc + dup != nb * PER_BATCH)
                    fprintf(stderr, "client %d: accepted %lld + duplicates %lld != %d\n", cl->id,
                            (long long)acc, (long long)dup, nb * PER_BATCH);
                if (attempt == 0 && dup != 0)
                    fprintf(stderr, "client %d: fresh batch had duplicates\n", cl->id);
                if (attempt > 0) {
                    cl->retries += attempt;
                    cl->dup_retries += dup > 0;
                }
                break;
            }
            if (st.code != GRPC_STATUS_UNAVAILABLE && st.code != GRPC_STATUS_CANCELLED &&
                st.code != GRPC_STATUS_DEADLINE_EXCEEDED && st.code != GRPC_STATUS_INTERNAL &&
                st.code != GRPC_STATUS_UNKNOWN)
                fprintf(stderr, "client %d: unexpected %s: %s\n", cl->id, mb_status_name(st.code),
                        st.msg);
            mbt_sleep_ms(10);
        }
        cl->batches += nb;
    }
    mbc_channel_free(ch);
    return NULL;
}

static int64_t expected(const client *cl, int account, int metric)
{
    int64_t sum = 0;
    for (int c = 0; c < CLIENTS; c++)
        for (long b = 0; b < cl[c].batches; b++)
            for (int e = metric; e < PER_BATCH; e += 2)
                if ((c + b + e) % ACCOUNTS == account)
                    sum += 1 + (c * 31 + b * 7 + e) % 97;
    return sum;
}

static void publish_target(void)
{
    pthread_mutex_lock(&lock);
    snprintf(target, sizeof target, "%s", srv.d.target);
    generation++;
    pthread_mutex_unlock(&lock);
}

static void test_kill_and_retry(void)
{
    client cl[CLIENTS] = {0};
    publish_target();
    for (int c = 0; c < CLIENTS; c++) {
        cl[c].id = c;
        pthread_create(&cl[c].thread, NULL, client_main, &cl[c]);
    }
    unsigned seed = (unsigned)time(NULL);
    fprintf(stderr, "  seed %u\n", seed);
    int rounds = 0;
    double t0 = mbt_now();
    for (; rounds < MIN_ROUNDS; rounds++) {
        mbt_sleep_ms(50 + (int)(rand_r(&seed) % 350));
        int status = 0;
        if (mbt_daemon_stop(&srv.d, SIGKILL, 10, &status) != 0 || !WIFSIGNALED(status)) {
            fprintf(stderr, "  round %d: the daemon did not die of SIGKILL\n", rounds);
            CHECK(0);
        }
        if (mbt_daemon_start(&srv.d, NULL) != 0) {
            CHECK(0);
            break;
        }
        publish_target();
    }
    mbt_sleep_ms(300);
    atomic_store(&stop, true);
    long batches = 0, retries = 0, dup_retries = 0;
    for (int c = 0; c < CLIENTS; c++) {
        pthread_join(cl[c].thread, NULL);
        batches += cl[c].batches;
        retries += cl[c].retries;
        dup_retries += cl[c].dup_retries;
    }
    fprintf(stderr,
            "  %d kill/restart rounds in %.1f s; %ld batches of %d events acknowledged; %ld "
            "retries, %ld of them found events already counted\n",
            rounds, mbt_now() - t0, batches, PER_BATCH, retries, dup_retries);
    CHECK(rounds >= MIN_ROUNDS);
    CHECK(retries > 0);
    int written = mbt_log_count(&srv, "event=usage_filter_checkpoint ", NULL),
        loaded = mbt_log_count(&srv, "event=usage_index_loaded", "filter=saved");
    fprintf(stderr, "  %d filter checkpoints written; %d of %d starts loaded one\n", written,
            loaded, rounds + 1);
    CHECK(written > 0 && loaded > 0);

    /* Every counter is the exact sum: nothing lost, nothing twice. */
    mbc_channel_free(srv.ch);
    srv.ch = mbc_channel_new(srv.d.target);
    char period[8];
    mu_period(now - 60, period);
    for (int a = 0; a < ACCOUNTS; a++) {
        Minbill__V1__GetUsageResponse *r = NULL;
        mb_error st;
        CHECK(mu_usage(srv.ch, finance, ACCOUNT_IDS[a], period, &r, &st) == GRPC_STATUS_OK);
        for (int m = 0; m < 2; m++) {
            const Minbill__V1__UsageCounter *c = mu_counter(r, METRICS[m]);
            int64_t want = expected(cl, a, m), got = c != NULL ? c->quantity : 0;
            if (got != want)
                fprintf(stderr, "  %s %s: counted %lld, expected %lld\n", ACCOUNT_IDS[a],
                        METRICS[m], (long long)got, (long long)want);
            CHECK(got == want);
        }
        if (r != NULL)
            protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long hashes = -1;
    if (sqlite3_open_v2(srv.d.db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM usage_idem", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        hashes = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    CHECK(hashes == batches * PER_BATCH);
}

int main(void)
{
    now = (int64_t)time(NULL);
    setenv("MINBILL_FILTER_CHECKPOINT_HASHES", "300", 1);
    if (mu_up(&srv, platform, finance, ACCOUNT_IDS, ACCOUNTS, "eo", METRICS, 2) != 0) {
        mbt_down(&srv);
        return 1;
    }
    RUN(test_kill_and_retry);
    CHECK(mbt_down(&srv) == 0);
    return check_summary();
}

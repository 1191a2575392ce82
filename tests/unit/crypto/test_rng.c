/*
 * test_rng.c - random bytes for keys, nonces and tokens: what a tokenisation
 * draws (a token, a data key, its wrapping nonce, two sealing nonces) costs
 * one getrandom(2) per pool refill, not one per draw (issue 11: five system
 * calls per attach, ~6% of its CPU); no two draws, and no parent and child
 * after fork(), get the same bytes; a thread's pool goes back to secure
 * memory when the thread ends; requests too large for the pool still work.
 *
 * getrandom() is counted by defining it here: the executable's definition
 * comes first in symbol lookup, so libsodium's calls land in it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "accounts/pm_token.h"
#include "check.h"
#include "crypto/dek.h"
#include "crypto/rng.h"
#include "crypto/secmem.h"

static atomic_long getrandom_calls;

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
    atomic_fetch_add(&getrandom_calls, 1);
    return syscall(SYS_getrandom, buf, len, flags);
}

static size_t in_use(void)
{
    secmem_usage u;
    secmem_get_usage(&u);
    return u.in_use;
}

/* What an attach draws, the way the daemon draws it. */
static void tokenise_once(void)
{
    char token[PM_TOKEN_LEN + 1];
    pm_token_new(token);
    unsigned char *key = secmem_alloc(32), nonce[24], ct[16 + DEK_SEAL_OVERHEAD];
    CHECK(key != NULL);
    if (key == NULL)
        return;
    rng_fill(key, 32);   /* dek_create */
    rng_fill(nonce, 24); /* keyring_wrap */
    dek d = {.id = 1, .key = key};
    dek_seal(&d, "payment_vault", "number_ct", token, "4242424242424242", 16, ct);
    dek_seal(&d, "payment_vault", "holder_ct", token, "Jane Doe", 8, ct);
    secmem_free(key);
}

static void test_calls_per_attach(void)
{
    enum { ATTACHES = 1000 };
    tokenise_once(); /* the pool of this thread exists from here on */
    long before = atomic_load(&getrandom_calls);
    for (int i = 0; i < ATTACHES; i++)
        tokenise_once();
    long calls = atomic_load(&getrandom_calls) - before;
    /* 32 + 32 + 24 + 2 * 24 = 136 bytes an attach (a token may draw twice,
     * rarely): a refill every 7 attaches. One call each made 5,000. */
    long most = ATTACHES * 136 / RNG_POOL_BYTES + 2;
    CHECK(calls <= most);
    if (calls > most)
        fprintf(stderr, "  %d attaches made %ld getrandom calls (at most %ld)\n", ATTACHES, calls,
                most);
}

static void test_draws_differ(void)
{
    enum { DRAWS = 4 * RNG_POOL_BYTES / 16 }; /* across several refills */
    static unsigned char seen[DRAWS][16];
    for (int i = 0; i < DRAWS; i++)
        rng_fill(seen[i], sizeof seen[i]);
    int same = 0;
    for (int i = 0; i < DRAWS; i++)
        for (int j = i + 1; j < DRAWS; j++)
            same += memcmp(seen[i], seen[j], sizeof seen[i]) == 0;
    CHECK(same == 0);
    unsigned char big[RNG_POOL_BYTES * 2], zero[sizeof big] = {0};
    rng_fill(big, sizeof big); /* past the pool: straight from getrandom */
    CHECK(memcmp(big, zero, sizeof big) != 0);
}

/* With the pool of this thread full, parent and child draw next: a child
 * that kept its copy of the pool would draw what the parent draws. */
static void test_fork(void)
{
    unsigned char first[8], parent[32], child[32] = {0};
    rng_fill(first, sizeof first);
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        unsigned char mine[32];
        rng_fill(mine, sizeof mine);
        _exit(write(fds[1], mine, sizeof mine) == (ssize_t)sizeof mine ? 0 : 1);
    }
    CHECK(pid > 0);
    close(fds[1]);
    rng_fill(parent, sizeof parent);
    CHECK(read(fds[0], child, sizeof child) == (ssize_t)sizeof child);
    close(fds[0]);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(memcmp(parent, child, sizeof parent) != 0);
}

static void *draw_in_thread(void *arg)
{
    rng_fill(arg, 32);
    return NULL;
}

static void test_thread_pool_freed(void)
{
    size_t before = in_use();
    unsigned char a[32], b[32];
    pthread_t t1, t2;
    CHECK(pthread_create(&t1, NULL, draw_in_thread, a) == 0);
    CHECK(pthread_create(&t2, NULL, draw_in_thread, b) == 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK(memcmp(a, b, sizeof a) != 0);
    CHECK(in_use() == before); /* both pools went back when their threads ended */
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    RUN(test_calls_per_attach);
    RUN(test_draws_differ);
    RUN(test_fork);
    RUN(test_thread_pool_freed);
    return check_summary();
}

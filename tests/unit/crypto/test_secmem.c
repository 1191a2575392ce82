/*
 * test_secmem.c - the secure-memory pool: sizes it accepts, zeros in every
 * slot it hands out (so a freed secret is gone), growth by regions up to the
 * cap, slots never shared between threads, memory that is locked and left
 * out of core dumps, and an abort on a double or foreign free.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "crypto/secmem.h"

#define THREADS 8
#define ROUNDS 20000
#define HELD 16 /* buffers each thread holds at once */
#define KEY_BYTES 32

static bool all_zero(const unsigned char *p, size_t n)
{
    unsigned char acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

static size_t in_use(void)
{
    secmem_usage u;
    secmem_get_usage(&u);
    return u.in_use;
}

static void test_sizes(void)
{
    secmem_free(NULL); /* does nothing */
    size_t before = in_use();
    void *zero = secmem_alloc(0), *small = secmem_alloc(1);
    void *max = secmem_alloc(SECMEM_MAX_BYTES);
    CHECK(zero != NULL && small != NULL && max != NULL);
    CHECK(zero != small);
    CHECK(secmem_alloc(SECMEM_MAX_BYTES + 1) == NULL);
    CHECK(secmem_alloc(SIZE_MAX) == NULL);
    CHECK(in_use() == before + 3);
    secmem_free(zero);
    secmem_free(small);
    secmem_free(max);
    CHECK(in_use() == before);
}

/* The freed slot is the next one handed out (a stack): it must come back
 * holding nothing of what was written to it. */
static void test_wiped_on_free(void)
{
    const size_t sizes[] = {SECMEM_SMALL_BYTES, SECMEM_MAX_BYTES};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = secmem_alloc(sizes[i]);
        CHECK(p != NULL);
        if (p == NULL)
            continue;
        CHECK(all_zero(p, sizes[i]));
        memset(p, 0xa5, sizes[i]);
        secmem_free(p);
        unsigned char *q = secmem_alloc(sizes[i]);
        CHECK(q == p);
        CHECK(q != NULL && all_zero(q, sizes[i]));
        secmem_free(q);
    }
    /* A smaller request is wiped as well, and its slot comes back whole. */
    unsigned char *p = secmem_alloc(5);
    CHECK(p != NULL);
    memcpy(p, "4111", 5);
    secmem_free(p);
    unsigned char *q = secmem_alloc(SECMEM_SMALL_BYTES);
    CHECK(q == p);
    CHECK(q != NULL && all_zero(q, SECMEM_SMALL_BYTES));
    secmem_free(q);
}

/* The region the daemon allocates first is locked (when the limit allows a
 * region at all) and marked not to be dumped. */
static void test_locked_and_not_dumped(void)
{
    unsigned char *p = secmem_alloc(1);
    CHECK(p != NULL);
    FILE *f = fopen("/proc/self/smaps", "r");
    CHECK(f != NULL);
    if (p == NULL || f == NULL)
        return;
    char line[512];
    bool inside = false, found = false, locked = false, nodump = false;
    while (fgets(line, sizeof line, f) != NULL) {
        /* A mapping starts "lo-hi perms ...", its fields follow as "Key: ...". */
        char *end;
        uintptr_t lo = strtoull(line, &end, 16);
        if (*end == '-') {
            uintptr_t hi = strtoull(end + 1, &end, 16);
            inside = *end == ' ' && (uintptr_t)p >= lo && (uintptr_t)p < hi;
        } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            found = true;
            locked = strstr(line, " lo") != NULL;
            nodump = strstr(line, " dd") != NULL;
        }
    }
    fclose(f);
    secmem_free(p);
    CHECK(found);
    CHECK(nodump);
#ifdef __SANITIZE_ADDRESS__
    (void)locked; /* AddressSanitizer makes mlock() a no-op */
#else
    struct rlimit rl;
    if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur >= (rlim_t)1 << 20)
        CHECK(locked);
    else
        fprintf(stderr, "RLIMIT_MEMLOCK below 1 MiB: not checking that the region is locked\n");
#endif
}

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return (x > y) - (x < y);
}

/* More small slots than the first region has: a second region is added, and
 * no two slots overlap. */
static void test_growth(void)
{
    enum { N = 3000 };
    static void *p[N];
    secmem_usage before, during;
    secmem_get_usage(&before);
    size_t got = 0;
    for (; got < N && (p[got] = secmem_alloc(SECMEM_SMALL_BYTES)) != NULL; got++)
        memset(p[got], 0xff, SECMEM_SMALL_BYTES);
    CHECK(got == N);
    secmem_get_usage(&during);
    CHECK(during.regions > before.regions);
    CHECK(during.in_use == before.in_use + got);
    CHECK(during.bytes <= SECMEM_CAP_BYTES);
    qsort(p, got, sizeof p[0], by_address);
    bool apart = true;
    for (size_t i = 1; i < got; i++)
        apart &= (uintptr_t)p[i] - (uintptr_t)p[i - 1] >= SECMEM_SMALL_BYTES;
    CHECK(apart);
    for (size_t i = 0; i < got; i++)
        secmem_free(p[i]);
    CHECK(in_use() == before.in_use);
}

typedef struct worker {
    unsigned char tag;
    atomic_int *errors;
} worker;

/* Every slot a thread gets is all zeros and stays its own: the tag it
 * writes is intact however the other threads allocate and free meanwhile. */
static void *work(void *arg)
{
    worker *w = arg;
    unsigned char *held[HELD] = {0};
    size_t size[HELD] = {0};
    unsigned seed = w->tag;
    for (int i = 0; i < ROUNDS; i++) {
        int k = i % HELD;
        if (held[k] != NULL) {
            for (size_t j = 0; j < size[k]; j++)
                if (held[k][j] != w->tag) {
                    atomic_fetch_add(w->errors, 1);
                    break;
                }
            secmem_free(held[k]);
        }
        size[k] = rand_r(&seed) % 4 == 0 ? SECMEM_MAX_BYTES : SECMEM_SMALL_BYTES;
        held[k] = secmem_alloc(size[k]);
        if (held[k] == NULL || !all_zero(held[k], size[k])) {
            atomic_fetch_add(w->errors, 1);
            held[k] = NULL;
            continue;
        }
        memset(held[k], w->tag, size[k]);
        if (i % 64 == 0)
            sched_yield();
    }
    for (int k = 0; k < HELD; k++)
        secmem_free(held[k]);
    return NULL;
}

static void test_threads(void)
{
    size_t before = in_use();
    atomic_int errors = 0;
    pthread_t t[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.tag = (unsigned char)(i + 1), .errors = &errors};
        CHECK(pthread_create(&t[i], NULL, work, &w[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK(atomic_load(&errors) == 0);
    CHECK(in_use() == before);
}

/* Runs fn in a child process; its wait status, or -1. */
static int in_child(void (*fn)(void))
{
    fflush(NULL); /* the child must not write our buffered output again */
    pid_t pid = fork();
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int status;
    return pid > 0 && waitpid(pid, &status, 0) == pid ? status : -1;
}

static bool aborts(void (*fn)(void))
{
    int status = in_child(fn);
    return status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void double_free(void)
{
    void *p = secmem_alloc(8);
    secmem_free(p);
    secmem_free(p);
}

static void interior_free(void)
{
    unsigned char *p = secmem_alloc(SECMEM_MAX_BYTES);
    secmem_free(p + 16);
}

static void foreign_free(void)
{
    static unsigned char not_ours[SECMEM_SMALL_BYTES];
    secmem_free(not_ours);
}

static void test_misuse_aborts(void)
{
    CHECK(aborts(double_free));
    CHECK(aborts(interior_free));
    CHECK(aborts(foreign_free));
}

#ifdef __SANITIZE_ADDRESS__
static void overrun(void)
{
    volatile unsigned char *p = secmem_alloc(KEY_BYTES);
    p[KEY_BYTES] = 1;
}

static void use_after_free(void)
{
    volatile unsigned char *p = secmem_alloc(KEY_BYTES);
    secmem_free((void *)p);
    p[0] = 1;
}

/* What per-buffer guard pages caught, AddressSanitizer catches in the
 * sanitizer build: each child below must die with a report. */
static void test_sanitizer_sees_slots(void)
{
    fprintf(stderr, "two AddressSanitizer reports are expected below\n");
    int status = in_child(overrun);
    CHECK(status != -1 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0));
    status = in_child(use_after_free);
    CHECK(status != -1 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0));
}
#endif

/* Last: fills the pool to its cap with the largest slots. Beyond the cap
 * every allocation fails, while slots already carved stay usable. */
static void test_cap(void)
{
    size_t cap_slots = SECMEM_CAP_BYTES / SECMEM_MAX_BYTES, got = 0;
    void **p = malloc(cap_slots * sizeof *p);
    CHECK(p != NULL);
    if (p == NULL)
        return;
    size_t before = in_use();
    while (got < cap_slots && (p[got] = secmem_alloc(SECMEM_MAX_BYTES)) != NULL)
        got++;
    secmem_usage u;
    secmem_get_usage(&u);
    CHECK(u.bytes == SECMEM_CAP_BYTES);
    CHECK(got < cap_slots); /* the small slots took their share */
    CHECK(secmem_alloc(SECMEM_MAX_BYTES) == NULL);
    void *small = secmem_alloc(SECMEM_SMALL_BYTES); /* from the regions test_growth added */
    CHECK(small != NULL);
    secmem_free(small);
    for (size_t i = 0; i < got; i++)
        secmem_free(p[i]);
    free(p);
    CHECK(in_use() == before);
    /* Freed slots are reused: the cap is on memory, not on allocations. */
    void *again = secmem_alloc(SECMEM_MAX_BYTES);
    CHECK(again != NULL);
    secmem_free(again);
}

int main(void)
{
    RUN(test_sizes);
    RUN(test_wiped_on_free);
    RUN(test_locked_and_not_dumped);
    RUN(test_growth);
    RUN(test_threads);
    RUN(test_misuse_aborts);
#ifdef __SANITIZE_ADDRESS__
    RUN(test_sanitizer_sees_slots);
#endif
    RUN(test_cap);
    CHECK(in_use() == 0);
    return check_summary();
}

/*
 * idem_ckpt.c - see idem_ckpt.h.
 */
#include "metering/idem_ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

static const char MAGIC[8] = "MBIDF02";

/* Copies waiting for the disk: a few partitions at 100 million hashes
 * (~370 KB each). */
#define PENDING_MAX (8u << 20)

typedef struct item {
    struct item *next;
    int64_t from_run;
    uint8_t *bytes; /* a partition, or NULL for the end (runs) */
    size_t len;
    idem_run_nonce *runs;
    size_t n_runs;
} item;

struct idem_ckpt {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    item *head, *tail;
    size_t pending;     /* bytes queued */
    unsigned next_part; /* the partition put expects */
    bool stop;          /* idem_ckpt_free: give up */
    bool finished;      /* the thread is done; ok says how */
    bool ok;
    char path[4096], tmp[4200];
    mb_error err; /* why it failed, when finished && !ok */
    FILE *f;
    crypto_generichash_state sum;
};

static void item_free(item *it)
{
    free(it->bytes);
    free(it->runs);
    free(it);
}

static bool put(idem_ckpt_t *c, const void *p, size_t n)
{
    crypto_generichash_update(&c->sum, p, n);
    return fwrite(p, 1, n, c->f) == n;
}

/* Writes one queued item; the end item also completes the file. */
static int write_item(idem_ckpt_t *c, const item *it)
{
    if (it->bytes != NULL) {
        uint32_t len = (uint32_t)it->len;
        if (!put(c, &it->from_run, sizeof it->from_run) || !put(c, &len, sizeof len) ||
            !put(c, it->bytes, it->len))
            return -1;
        return 0;
    }
    uint64_t n = it->n_runs;
    if (!put(c, &n, sizeof n))
        return -1;
    for (size_t i = 0; i < it->n_runs; i++)
        if (!put(c, &it->runs[i].run, 8) || !put(c, &it->runs[i].nonce, 8))
            return -1;
    uint8_t sum[crypto_generichash_BYTES];
    crypto_generichash_final(&c->sum, sum, sizeof sum);
    if (fwrite(sum, 1, sizeof sum, c->f) != sizeof sum || fflush(c->f) != 0 ||
        fsync(fileno(c->f)) != 0)
        return -1;
    int rc = fclose(c->f);
    c->f = NULL;
    if (rc != 0 || rename(c->tmp, c->path) != 0)
        return -1;
    return 1;
}

static void *ckpt_main(void *arg)
{
    idem_ckpt_t *c = arg;
    int done = 0;
    pthread_mutex_lock(&c->lock);
    while (done == 0) {
        while (c->head == NULL && !c->stop)
            pthread_cond_wait(&c->cond, &c->lock);
        if (c->stop)
            break;
        item *it = c->head;
        c->head = it->next;
        if (c->head == NULL)
            c->tail = NULL;
        pthread_mutex_unlock(&c->lock);
        done = write_item(c, it);
        if (done < 0)
            mb_error_set(&c->err, GRPC_STATUS_UNAVAILABLE, "cannot write %s: %s", c->tmp,
                         strerror(errno));
        pthread_mutex_lock(&c->lock);
        c->pending -= it->len;
        item_free(it);
        pthread_cond_broadcast(&c->cond); /* room for idem_ckpt_wait_room */
    }
    if (c->f != NULL) {
        fclose(c->f);
        c->f = NULL;
    }
    if (done != 1)
        unlink(c->tmp);
    c->ok = done == 1;
    c->finished = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int idem_ckpt_begin(const char *path, idem_ckpt_t **out, mb_error *err)
{
    idem_ckpt_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    if (snprintf(c->path, sizeof c->path, "%s", path) >= (int)sizeof c->path) {
        free(c);
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "filter file path too long");
    }
    snprintf(c->tmp, sizeof c->tmp, "%s.tmp", path);
    int fd = open(c->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (c->f = fdopen(fd, "wb")) == NULL) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        free(c);
        return mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "cannot write %s.tmp: %s", path,
                            strerror(e));
    }
    crypto_generichash_init(&c->sum, NULL, 0, crypto_generichash_BYTES);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    if (!put(c, MAGIC, sizeof MAGIC) || pthread_create(&c->thread, NULL, ckpt_main, c) != 0) {
        fclose(c->f);
        unlink(c->tmp);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->cond);
        free(c);
        return mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "cannot start a filter checkpoint");
    }
    *out = c;
    return 0;
}

bool idem_ckpt_has_room(idem_ckpt_t *c)
{
    pthread_mutex_lock(&c->lock);
    bool room = c->pending < PENDING_MAX;
    pthread_mutex_unlock(&c->lock);
    return room;
}

static void enqueue(idem_ckpt_t *c, item *it)
{
    pthread_mutex_lock(&c->lock);
    if (c->tail != NULL)
        c->tail->next = it;
    else
        c->head = it;
    c->tail = it;
    c->pending += it->len;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

void idem_ckpt_wait_room(idem_ckpt_t *c)
{
    pthread_mutex_lock(&c->lock);
    while (c->pending >= PENDING_MAX && !c->finished)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
}

int idem_ckpt_put(idem_ckpt_t *c, unsigned part, int64_t from_run, uint8_t *bytes, size_t len,
                  mb_error *err)
{
    item *it = calloc(1, sizeof *it);
    if (it == NULL || part != c->next_part || len > UINT32_MAX) {
        free(it);
        free(bytes);
        return it == NULL ? mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory")
                          : mb_error_set(err, GRPC_STATUS_INTERNAL,
                                         "filter checkpoint: partition %u out of order", part);
    }
    *it = (item){.from_run = from_run, .bytes = bytes, .len = len};
    c->next_part++;
    enqueue(c, it);
    return 0;
}

int idem_ckpt_end(idem_ckpt_t *c, const idem_run_nonce *runs, size_t n, mb_error *err)
{
    if (c->next_part != IDEM_FILTER_PARTS)
        return mb_error_set(err, GRPC_STATUS_INTERNAL, "filter checkpoint: %u partitions of %u",
                            c->next_part, IDEM_FILTER_PARTS);
    item *it = calloc(1, sizeof *it);
    idem_run_nonce *copy = malloc((n > 0 ? n : 1) * sizeof *copy);
    if (it == NULL || copy == NULL) {
        free(it);
        free(copy);
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    if (n > 0)
        memcpy(copy, runs, n * sizeof *copy);
    *it = (item){.runs = copy, .n_runs = n};
    c->next_part++; /* nothing more may be put */
    enqueue(c, it);
    return 0;
}

int idem_ckpt_poll(idem_ckpt_t *c, bool *ok, mb_error *err)
{
    pthread_mutex_lock(&c->lock);
    bool finished = c->finished;
    pthread_mutex_unlock(&c->lock);
    if (!finished)
        return 0;
    *ok = c->ok;
    if (!c->ok)
        *err = c->err;
    return 1;
}

int idem_ckpt_wait(idem_ckpt_t *c, mb_error *err)
{
    pthread_mutex_lock(&c->lock);
    while (!c->finished)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
    if (c->ok)
        return 0;
    *err = c->err;
    return -1;
}

void idem_ckpt_free(idem_ckpt_t *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    while (c->head != NULL) {
        item *it = c->head;
        c->head = it->next;
        item_free(it);
    }
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
}

/* --- reading back --------------------------------------------------------------- */

static bool get(FILE *f, crypto_generichash_state *sum, void *p, size_t n)
{
    if (fread(p, 1, n, f) != n)
        return false;
    crypto_generichash_update(sum, p, n);
    return true;
}

static bool read_parts(FILE *f, crypto_generichash_state *sum, idem_ckpt_file *out)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    bool ok = true;
    for (unsigned p = 0; ok && p < IDEM_FILTER_PARTS; p++) {
        uint32_t len;
        ok = get(f, sum, &out->from_run[p], 8) && get(f, sum, &len, sizeof len);
        if (ok && len > cap) {
            uint8_t *b = realloc(buf, len);
            ok = b != NULL;
            if (ok) {
                buf = b;
                cap = len;
            }
        }
        ok = ok && get(f, sum, buf, len) && idem_filter_part_set(out->filter, p, buf, len) == 0;
    }
    free(buf);
    return ok;
}

static bool read_runs(FILE *f, crypto_generichash_state *sum, idem_ckpt_file *out)
{
    uint64_t n;
    /* A run holds at least one hash a day: far fewer than 2^24 are kept. */
    if (!get(f, sum, &n, sizeof n) || n > (1u << 24))
        return false;
    if ((out->runs = malloc((n > 0 ? n : 1) * sizeof *out->runs)) == NULL)
        return false;
    out->n_runs = n;
    for (size_t i = 0; i < n; i++) {
        if (!get(f, sum, &out->runs[i].run, 8) || !get(f, sum, &out->runs[i].nonce, 8) ||
            (i > 0 && out->runs[i].run <= out->runs[i - 1].run))
            return false;
    }
    return true;
}

int idem_ckpt_load(const char *path, idem_ckpt_file *out, bool *missing)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    *missing = f == NULL && errno == ENOENT;
    if (f == NULL)
        return -1;
    crypto_generichash_state sum;
    crypto_generichash_init(&sum, NULL, 0, crypto_generichash_BYTES);
    char magic[sizeof MAGIC];
    uint8_t got[crypto_generichash_BYTES], want[crypto_generichash_BYTES];
    bool ok = get(f, &sum, magic, sizeof magic) && memcmp(magic, MAGIC, sizeof magic) == 0 &&
              (out->filter = idem_filter_new(0)) != NULL && read_parts(f, &sum, out) &&
              read_runs(f, &sum, out);
    crypto_generichash_final(&sum, got, sizeof got);
    ok = ok && fread(want, 1, sizeof want, f) == sizeof want &&
         sodium_memcmp(got, want, sizeof got) == 0 && fgetc(f) == EOF;
    fclose(f);
    if (!ok)
        idem_ckpt_file_clear(out);
    return ok ? 0 : -1;
}

void idem_ckpt_file_clear(idem_ckpt_file *f)
{
    idem_filter_free(f->filter);
    free(f->runs);
    memset(f, 0, sizeof *f);
}

bool idem_ckpt_file_knows(const idem_ckpt_file *f, int64_t run, int64_t nonce)
{
    size_t lo = 0, hi = f->n_runs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->runs[mid].run < run)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < f->n_runs && f->runs[lo].run == run && f->runs[lo].nonce == nonce;
}

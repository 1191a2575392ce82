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
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

static const char MAGIC[8] = "MBIDF02";

/* Copies waiting for the disk: about 20 partitions at 100 million hashes
 * (~370 KB each). */
#define PENDING_MAX (8u << 20)

/* The file goes to the disk as it is written, this much at a time, and the
 * thread waits for each piece. On ext4 (data=ordered) a commit's fsync of
 * the WAL also waits for the dirty data of newly allocated file space, so
 * a checkpoint (100-400 MB at 100 M hashes) left whole to its final fsync
 * could stall ingest commits behind it. Alternating bench_metering runs
 * with and without checkpoints differed by no more than this VM's
 * run-to-run noise either way. */
#define WRITEBACK_BYTES (1u << 20)

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
    off_t written, synced; /* bytes put into f; of those, on the disk */
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
    c->written += (off_t)n;
    return fwrite(p, 1, n, c->f) == n;
}

/* Writes what was put out to the disk once a piece has gathered, and waits
 * for it (see WRITEBACK_BYTES). */
static bool write_back(idem_ckpt_t *c)
{
    if (c->written - c->synced < (off_t)WRITEBACK_BYTES)
        return true;
    if (fflush(c->f) != 0 || sync_file_range(fileno(c->f), c->synced, c->written - c->synced,
                                             SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                                 SYNC_FILE_RANGE_WAIT_AFTER) != 0)
        return false;
    c->synced = c->written;
    return true;
}

/* Writes one queued item: 0, or 1 when it was the end and the file is in
 * place; -1 with c->err. */
static int write_item(idem_ckpt_t *c, const item *it)
{
    const char *what = "writing";
    if (it->bytes != NULL) {
        uint32_t len = (uint32_t)it->len;
        if (put(c, &it->from_run, sizeof it->from_run) && put(c, &len, sizeof len) &&
            put(c, it->bytes, it->len) && write_back(c))
            return 0;
    } else {
        uint64_t n = it->n_runs;
        bool ok = put(c, &n, sizeof n);
        for (size_t i = 0; ok && i < it->n_runs; i++)
            ok = put(c, &it->runs[i].run, 8) && put(c, &it->runs[i].nonce, 8);
        uint8_t sum[crypto_generichash_BYTES];
        crypto_generichash_final(&c->sum, sum, sizeof sum);
        ok = ok && fwrite(sum, 1, sizeof sum, c->f) == sizeof sum && fflush(c->f) == 0;
        if (ok && fsync(fileno(c->f)) != 0) {
            what = "syncing";
            ok = false;
        }
        if (ok) {
            int rc = fclose(c->f);
            c->f = NULL;
            if (rc == 0 && rename(c->tmp, c->path) == 0)
                return 1;
            what = rc == 0 ? "renaming" : "closing";
        }
    }
    mb_error_set(&c->err, GRPC_STATUS_UNAVAILABLE, "%s %s: %s", what, c->tmp, strerror(errno));
    return -1;
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
    int e = put(c, MAGIC, sizeof MAGIC) ? pthread_create(&c->thread, NULL, ckpt_main, c) : errno;
    if (e != 0) {
        fclose(c->f);
        unlink(c->tmp);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->cond);
        free(c);
        return mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "cannot start a filter checkpoint: %s",
                            strerror(e));
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

/* Whether the thread has stopped (failed: nothing more can be written);
 * then err says why. */
static bool finished(idem_ckpt_t *c, mb_error *err)
{
    pthread_mutex_lock(&c->lock);
    bool done = c->finished;
    pthread_mutex_unlock(&c->lock);
    if (done)
        *err = c->err;
    return done;
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
    if (finished(c, err)) {
        free(bytes);
        return -1;
    }
    if (part != c->next_part || len > UINT32_MAX) {
        free(bytes);
        return mb_error_set(err, GRPC_STATUS_INTERNAL,
                            "filter checkpoint: partition %u out of order or too large", part);
    }
    item *it = calloc(1, sizeof *it);
    if (it == NULL) {
        free(bytes);
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    *it = (item){.from_run = from_run, .bytes = bytes, .len = len};
    c->next_part++;
    enqueue(c, it);
    return 0;
}

int idem_ckpt_end(idem_ckpt_t *c, const idem_run_nonce *runs, size_t n, mb_error *err)
{
    if (finished(c, err))
        return -1;
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
    if (!finished(c, err))
        return 0;
    *ok = c->ok;
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

typedef struct reader {
    FILE *f;
    crypto_generichash_state sum;
    uint64_t left; /* bytes of the file not read yet */
} reader;

/* Reads n bytes into p; false at the end of the file, before any length
 * read from it can make the loader allocate more than the file holds. */
static bool get(reader *r, void *p, size_t n)
{
    if (n > r->left || fread(p, 1, n, r->f) != n)
        return false;
    r->left -= n;
    crypto_generichash_update(&r->sum, p, n);
    return true;
}

static bool read_parts(reader *r, idem_ckpt_file *out)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    bool ok = true;
    for (unsigned p = 0; ok && p < IDEM_FILTER_PARTS; p++) {
        uint32_t len;
        ok = get(r, &out->from_run[p], 8) && get(r, &len, sizeof len);
        if (ok && len > cap) {
            uint8_t *b = realloc(buf, len);
            ok = b != NULL;
            if (ok) {
                buf = b;
                cap = len;
            }
        }
        ok = ok && get(r, buf, len) && idem_filter_part_set(out->filter, p, buf, len) == 0;
    }
    free(buf);
    return ok;
}

static bool read_runs(reader *r, idem_ckpt_file *out)
{
    uint64_t n;
    if (!get(r, &n, sizeof n) || n > r->left / 16)
        return false;
    if ((out->runs = malloc((n > 0 ? n : 1) * sizeof *out->runs)) == NULL)
        return false;
    out->n_runs = n;
    for (size_t i = 0; i < n; i++) {
        if (!get(r, &out->runs[i].run, 8) || !get(r, &out->runs[i].nonce, 8) ||
            (i > 0 && out->runs[i].run <= out->runs[i - 1].run))
            return false;
    }
    return true;
}

int idem_ckpt_load(const char *path, idem_ckpt_file *out, bool *missing)
{
    memset(out, 0, sizeof *out);
    reader r = {.f = fopen(path, "rb")};
    *missing = r.f == NULL && errno == ENOENT;
    if (r.f == NULL)
        return -1;
    struct stat st;
    uint8_t got[crypto_generichash_BYTES], want[crypto_generichash_BYTES];
    bool ok = fstat(fileno(r.f), &st) == 0 && st.st_size >= (off_t)sizeof want;
    r.left = ok ? (uint64_t)st.st_size - sizeof want : 0;
    crypto_generichash_init(&r.sum, NULL, 0, crypto_generichash_BYTES);
    char magic[sizeof MAGIC];
    ok = ok && get(&r, magic, sizeof magic) && memcmp(magic, MAGIC, sizeof magic) == 0 &&
         (out->filter = idem_filter_new(0)) != NULL && read_parts(&r, out) && read_runs(&r, out) &&
         r.left == 0;
    crypto_generichash_final(&r.sum, got, sizeof got);
    ok = ok && fread(want, 1, sizeof want, r.f) == sizeof want &&
         sodium_memcmp(got, want, sizeof got) == 0;
    fclose(r.f);
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

/*
 * sync_vfs.c - see sync_vfs.h.
 *
 * The shape is SQLite's own ext/misc/vfsstat.c: our sqlite3_file is
 * followed in the same allocation by the real VFS's file, and every method
 * calls the real one with it. The VFS methods call the real VFS with the
 * real VFS pointer (its methods may read their own pAppData).
 */
#include "metrics/sync_vfs.h"

#include <sqlite3.h>

#include "base/clock.h"
#include "metrics/metrics.h"

typedef struct sync_file {
    sqlite3_file base;
    sqlite3_file *real; /* right after this struct */
    metrics_file kind;
} sync_file;

static sqlite3_vfs *real_vfs;

#define REAL(f) (((sync_file *)(f))->real)
#define RM(f) (REAL(f)->pMethods)

static int f_close(sqlite3_file *f)
{
    return RM(f)->xClose(REAL(f));
}

static int f_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    return RM(f)->xRead(REAL(f), p, n, off);
}

static int f_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    return RM(f)->xWrite(REAL(f), p, n, off);
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return RM(f)->xTruncate(REAL(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
    int64_t t0 = mb_mono_ns();
    int rc = RM(f)->xSync(REAL(f), flags);
    metrics_fsync(((sync_file *)f)->kind, mb_mono_ns() - t0);
    return rc;
}

static int f_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return RM(f)->xFileSize(REAL(f), size);
}

static int f_lock(sqlite3_file *f, int lock)
{
    return RM(f)->xLock(REAL(f), lock);
}

static int f_unlock(sqlite3_file *f, int lock)
{
    return RM(f)->xUnlock(REAL(f), lock);
}

static int f_check_reserved(sqlite3_file *f, int *out)
{
    return RM(f)->xCheckReservedLock(REAL(f), out);
}

static int f_file_control(sqlite3_file *f, int op, void *arg)
{
    return RM(f)->xFileControl(REAL(f), op, arg);
}

static int f_sector_size(sqlite3_file *f)
{
    return RM(f)->xSectorSize(REAL(f));
}

static int f_device(sqlite3_file *f)
{
    return RM(f)->xDeviceCharacteristics(REAL(f));
}

/* Version 2 and 3 methods exist only if the real file has them. */
static int f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    if (RM(f)->iVersion < 2)
        return SQLITE_IOERR_SHMMAP;
    return RM(f)->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    if (RM(f)->iVersion < 2)
        return SQLITE_IOERR_SHMLOCK;
    return RM(f)->xShmLock(REAL(f), offset, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
    if (RM(f)->iVersion >= 2)
        RM(f)->xShmBarrier(REAL(f));
}

static int f_shm_unmap(sqlite3_file *f, int del)
{
    if (RM(f)->iVersion < 2)
        return SQLITE_OK;
    return RM(f)->xShmUnmap(REAL(f), del);
}

static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    if (RM(f)->iVersion < 3) {
        *pp = NULL; /* "no mapping": SQLite reads instead */
        return SQLITE_OK;
    }
    return RM(f)->xFetch(REAL(f), off, n, pp);
}

static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    if (RM(f)->iVersion < 3)
        return SQLITE_OK;
    return RM(f)->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods METHODS = {
    .iVersion = 3,
    .xClose = f_close,
    .xRead = f_read,
    .xWrite = f_write,
    .xTruncate = f_truncate,
    .xSync = f_sync,
    .xFileSize = f_file_size,
    .xLock = f_lock,
    .xUnlock = f_unlock,
    .xCheckReservedLock = f_check_reserved,
    .xFileControl = f_file_control,
    .xSectorSize = f_sector_size,
    .xDeviceCharacteristics = f_device,
    .xShmMap = f_shm_map,
    .xShmLock = f_shm_lock,
    .xShmBarrier = f_shm_barrier,
    .xShmUnmap = f_shm_unmap,
    .xFetch = f_fetch,
    .xUnfetch = f_unfetch,
};

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    sync_file *sf = (sync_file *)f;
    sf->real = (sqlite3_file *)(sf + 1);
    sf->kind = (flags & SQLITE_OPEN_MAIN_DB) ? METRICS_FILE_DATABASE
               : (flags & SQLITE_OPEN_WAL)   ? METRICS_FILE_WAL
                                             : METRICS_FILE_OTHER;
    int rc = real_vfs->xOpen(real_vfs, name, sf->real, flags, out_flags);
    /* SQLite calls xClose on a failed open whose pMethods is set, so ours
     * is set exactly when the real one is. */
    f->pMethods = sf->real->pMethods != NULL ? &METHODS : NULL;
    return rc;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int v_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *v_dl_open(sqlite3_vfs *vfs, const char *path)
{
    return real_vfs->xDlOpen(real_vfs, path);
}

static void v_dl_error(sqlite3_vfs *vfs, int n, char *msg)
{
    real_vfs->xDlError(real_vfs, n, msg);
}

static void (*v_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    return real_vfs->xDlSym(real_vfs, h, sym);
}

static void v_dl_close(sqlite3_vfs *vfs, void *h)
{
    real_vfs->xDlClose(real_vfs, h);
}

static int v_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int v_sleep(sqlite3_vfs *vfs, int us)
{
    return real_vfs->xSleep(real_vfs, us);
}

static int v_current_time(sqlite3_vfs *vfs, double *out)
{
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int v_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    return real_vfs->xGetLastError(real_vfs, n, out);
}

static int v_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static sqlite3_vfs timed_vfs = {
    .iVersion = 2,
    .zName = "minbill-timed",
    .xOpen = v_open,
    .xDelete = v_delete,
    .xAccess = v_access,
    .xFullPathname = v_full_pathname,
    .xDlOpen = v_dl_open,
    .xDlError = v_dl_error,
    .xDlSym = v_dl_sym,
    .xDlClose = v_dl_close,
    .xRandomness = v_randomness,
    .xSleep = v_sleep,
    .xCurrentTime = v_current_time,
    .xGetLastError = v_last_error,
    .xCurrentTimeInt64 = v_current_time64,
};

int metrics_sync_vfs_register(mb_error *err)
{
    if (real_vfs != NULL)
        return 0;
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);
    if (real == NULL || real->iVersion < 2)
        return mb_error_set(err, GRPC_STATUS_INTERNAL, "sqlite: no default VFS to time");
    timed_vfs.szOsFile = (int)sizeof(sync_file) + real->szOsFile;
    timed_vfs.mxPathname = real->mxPathname;
    real_vfs = real;
    if (sqlite3_vfs_register(&timed_vfs, 1) != SQLITE_OK) {
        real_vfs = NULL;
        return mb_error_set(err, GRPC_STATUS_INTERNAL, "sqlite: cannot register the timing VFS");
    }
    return 0;
}

/*
 * backup.c - see backup.h.
 */
#include "store/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/clock.h"
#include "store/migrate.h"

static const char SQL_SCHEMA[] = "SELECT coalesce(max(version), 0) FROM schema_migrations";
static const char SQL_INTO[] = "VACUUM INTO ?1";

/* fsyncs path (a file, or with O_DIRECTORY a directory). */
static int sync_path(const char *path, int flags, mb_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | flags);
    if (fd < 0 || fsync(fd) != 0) {
        mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "to: cannot sync %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* The highest migration recorded in conn's database; what says it is one
 * of minbill's. */
static int schema_version(sqlite3 *db, const char *which, int *out, mb_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, SQL_SCHEMA, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW || *out < 1)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "%s: not a minbill database (no schema history)", which);
    return 0;
}

/* Opens the copy again: it must pass quick_check and hold the schema the
 * source had. */
static int verify_copy(const char *to, int want_version, mb_error *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int version = 0;
    int rc = sqlite3_open_v2(to, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    bool ok = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    if (!ok)
        mb_error_set(err, GRPC_STATUS_DATA_LOSS, "to: the copy fails its integrity check: %s",
                     rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0)
                                      : sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (ok && schema_version(db, "to", &version, err) == 0 && version != want_version)
        mb_error_set(err, GRPC_STATUS_DATA_LOSS, "to: the copy holds schema %d, the database %d",
                     version, want_version);
    sqlite3_close(db);
    return ok && version == want_version ? 0 : -1;
}

int store_backup(const char *db, const char *to, store_backup_info *info, mb_error *err)
{
    int64_t start = mb_mono_ns();
    memset(info, 0, sizeof *info);
    struct stat sb;
    /* SQLite would read "file:..." as a URI (with options such as vfs=). */
    if (strncmp(to, "file:", 5) == 0)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "to: must be a file path, not an SQLite URI (file:...)");
    if (lstat(to, &sb) == 0)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "to: %s exists (a backup never overwrites a file)", to);
    /* The copy is made in a private directory beside the target (0700, on
     * the same file system: nobody else can read it or swap it), then linked
     * into place. link() fails if the target appeared meanwhile, so nothing
     * is ever overwritten; a crash leaves at most that hidden directory,
     * never a partial file under the target's name. */
    char dir[4096], tmpdir[4096 + 32], tmp[4096 + 64];
    snprintf(dir, sizeof dir, "%s", to);
    snprintf(tmpdir, sizeof tmpdir, "%s/.minbill-backup-XXXXXX", dirname(dir));
    snprintf(dir, sizeof dir, "%s", to);
    const char *target_dir = dirname(dir);
    if (mkdtemp(tmpdir) == NULL)
        return mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "to: cannot create a directory in %s: %s",
                            target_dir, strerror(errno));
    snprintf(tmp, sizeof tmp, "%s/copy.db", tmpdir);
    /* Read-only, without the daemon's pragmas: a backup changes nothing in
     * the database it copies. The shared schema lock keeps migrations out
     * while it copies (migrate.h). */
    sqlite3 *src = NULL;
    sqlite3_stmt *st = NULL;
    int ret = -1, lock = -1;
    if (sqlite3_open_v2(db, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "db: cannot open %s: %s", db,
                     src ? sqlite3_errmsg(src) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(src, 5000);
    /* A lock file that cannot be made (a read-only snapshot being backed
     * up) is no reason to refuse: the copy is one snapshot either way. A
     * migration under way is. */
    if (store_schema_lock(sqlite3_db_filename(src, "main"), false, &lock, err) != 0 &&
        err->code != GRPC_STATUS_UNAVAILABLE)
        goto out;
    if (schema_version(src, "db", &info->schema_version, err) != 0)
        goto out;
    int rc = sqlite3_prepare_v2(src, SQL_INTO, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, tmp, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE) {
        mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "copying %s: %s", db, sqlite3_errmsg(src));
        goto out;
    }
    if (chmod(tmp, 0600) != 0 || stat(tmp, &sb) != 0) {
        mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "to: %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (sync_path(tmp, 0, err) != 0 || verify_copy(tmp, info->schema_version, err) != 0)
        goto out;
    if (link(tmp, to) != 0) {
        mb_error_set(err, errno == EEXIST ? GRPC_STATUS_FAILED_PRECONDITION
                                          : GRPC_STATUS_UNAVAILABLE,
                     "to: cannot create %s: %s", to, strerror(errno));
        goto out;
    }
    if (sync_path(target_dir, O_DIRECTORY, err) != 0) {
        unlink(to);
        goto out;
    }
    info->bytes = (int64_t)sb.st_size;
    info->seconds = (double)(mb_mono_ns() - start) / 1e9;
    ret = 0;
out:
    sqlite3_finalize(st);
    sqlite3_close(src);
    store_schema_unlock(lock);
    unlink(tmp);
    rmdir(tmpdir);
    return ret;
}

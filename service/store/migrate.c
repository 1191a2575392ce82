/*
 * migrate.c - see migrate.h.
 *
 * Each migration runs inside BEGIN IMMEDIATE ... COMMIT together with its
 * schema_migrations row, so a crash leaves either the whole migration or none
 * of it, and a second process migrating at the same time waits and then finds
 * the work done.
 */
#include "store/migrate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/log.h"

static const char SQL_CREATE[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))";
static const char SQL_HISTORY[] = "SELECT version, name FROM schema_migrations ORDER BY version";
static const char SQL_RECORD[] = "INSERT INTO schema_migrations(version, name) VALUES (?1, ?2)";

/* Checks the recorded history against ours; *current receives the highest
 * applied version. */
static int check_history(store_conn_t *conn, int *current, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_HISTORY, err);
    if (st == NULL)
        return -1;
    int rc, expected = 1, ret = 0;
    *current = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int v = sqlite3_column_int(st, 0);
        const char *name = (const char *)sqlite3_column_text(st, 1);
        if (v > store_migrations_count) {
            ret = mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                               "database schema is at migration %d, newer than this minbilld "
                               "(knows up to %d): upgrade minbilld",
                               v, store_migrations_count);
            break;
        }
        if (v != expected || name == NULL || strcmp(name, store_migrations[v - 1].name) != 0) {
            ret = mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                               "database schema history differs from this minbilld at "
                               "migration %d: refusing to touch it",
                               expected);
            break;
        }
        *current = v;
        expected++;
    }
    if (ret == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = store_error(conn, err, "reading schema_migrations");
    sqlite3_reset(st);
    return ret;
}

static int apply_one(store_conn_t *conn, const store_migration *m, mb_error *err)
{
    if (store_conn_exec(conn, m->sql, err) != 0) {
        mb_error_prefix(err, "migration %s: ", m->name);
        return -1;
    }
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_RECORD, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int(st, 1, m->version);
    sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_error(conn, err, "recording migration");
}

/* Opens (creating) the lock file db_path + suffix into *fd, path[4096]
 * receiving its name; owned like the database when root creates it, so that
 * a lock file made by root does not lock the daemon's user out. */
static int lock_file_open(const char *db_path, const char *suffix, int flags, char *path, int *fd,
                          mb_error *err)
{
    if (snprintf(path, 4096, "%s%s", db_path, suffix) >= 4096)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "db: path too long");
    *fd = open(path, flags | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (*fd < 0)
        return mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "cannot open %s: %s", path,
                            strerror(errno));
    struct stat db_st;
    if (geteuid() == 0 && stat(db_path, &db_st) == 0 && fchown(*fd, db_st.st_uid, db_st.st_gid) != 0)
        mb_log(MB_LOG_WARN, "event=lock_file_chown_failed path=%s", path);
    return 0;
}

int store_serve_lock(const char *db_path, int *fd, mb_error *err)
{
    char path[4096];
    if (lock_file_open(db_path, ".serve.lock", O_RDWR, path, fd, err) != 0)
        return -1;
    if (flock(*fd, LOCK_EX | LOCK_NB) == 0) {
        char pid[24];
        int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
        if (ftruncate(*fd, 0) == 0 && pwrite(*fd, pid, (size_t)n, 0) == n)
            return 0;
        mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "cannot write %s: %s", path, strerror(errno));
    } else if (errno == EWOULDBLOCK) {
        char holder[24] = "";
        ssize_t n = pread(*fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                     "another minbilld (pid %s) serves this database (it holds %s): one daemon "
                     "per database, or the same usage is counted twice",
                     holder[0] != '\0' ? holder : "unknown", path);
    } else {
        mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "cannot lock %s: %s", path, strerror(errno));
    }
    close(*fd);
    *fd = -1;
    return -1;
}

int store_schema_lock(const char *db_path, bool exclusive, int *fd, mb_error *err)
{
    char path[4096];
    /* flock needs no write access: read-only, so that a lock file root
     * created (say, by a migration run as root) does not lock the daemon's
     * user out. */
    if (lock_file_open(db_path, ".lock", O_RDONLY, path, fd, err) != 0)
        return -1;
    for (int waited = 0;; waited += 50) {
        if (flock(*fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK || waited >= STORE_LOCK_WAIT_MS)
            break;
        usleep(50 * 1000);
    }
    int e = errno;
    close(*fd);
    *fd = -1;
    if (e != EWOULDBLOCK)
        return mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "cannot lock %s: %s", path, strerror(e));
    return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                        exclusive ? "a minbilld serves this database (it holds %s): stop it "
                                    "before migrating"
                                  : "this database is being migrated (%s is locked): try "
                                    "again when that is done",
                        path);
}

void store_schema_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

int store_migrate(store_conn_t *conn, int *applied, mb_error *err)
{
    return store_migrate_upto(conn, store_migrations_count, applied, err);
}

/* The highest applied version (0: none), the history checked. */
static int schema_version(store_conn_t *conn, int *current, mb_error *err)
{
    if (store_conn_exec(conn, "BEGIN IMMEDIATE", err) != 0)
        return -1;
    if (store_conn_exec(conn, SQL_CREATE, err) != 0 || check_history(conn, current, err) != 0 ||
        store_conn_exec(conn, "COMMIT", err) != 0) {
        sqlite3_exec(store_conn_db_borrow(conn), "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

/* FAILED_PRECONDITION naming `minbilld migrate` if current is behind. */
static int require_current(int current, mb_error *err)
{
    if (current < store_migrations_count)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "database schema is at migration %d, this minbilld needs %d: stop "
                            "minbilld and run minbilld migrate first",
                            current, store_migrations_count);
    return 0;
}

int store_schema_current(store_conn_t *conn, mb_error *err)
{
    int current;
    if (schema_version(conn, &current, err) != 0)
        return -1;
    return require_current(current, err);
}

int store_migrate_new_only(store_conn_t *conn, mb_error *err)
{
    int current;
    if (schema_version(conn, &current, err) != 0)
        return -1;
    return current == 0 ? store_migrate(conn, NULL, err) : require_current(current, err);
}

int store_migrate_upto(store_conn_t *conn, int last, int *applied, mb_error *err)
{
    int count = 0, current = 0, lock_fd = -1, first = -1;
    for (;;) {
        /* Everything, even creating the history table, happens under the
         * write lock: a statement that upgrades a read to a write gets BUSY
         * without waiting when another process migrates at the same time. */
        if (store_conn_exec(conn, "BEGIN IMMEDIATE", err) != 0)
            goto fail;
        if (store_conn_exec(conn, SQL_CREATE, err) != 0 || check_history(conn, &current, err) != 0)
            goto rollback;
        if (first < 0)
            first = current;
        if (current >= last || current == store_migrations_count) {
            if (store_conn_exec(conn, "COMMIT", err) != 0)
                goto rollback;
            break;
        }
        if (first > 0 && lock_fd < 0) {
            /* A history: a daemon may be serving it. Ask again once no one
             * does (the answer may have changed meanwhile). */
            sqlite3_exec(store_conn_db_borrow(conn), "ROLLBACK", NULL, NULL, NULL);
            if (store_schema_lock(sqlite3_db_filename(store_conn_db_borrow(conn), "main"), true,
                                  &lock_fd, err) != 0)
                goto fail;
            continue;
        }
        const store_migration *m = &store_migrations[current];
        if (apply_one(conn, m, err) != 0 || store_conn_exec(conn, "COMMIT", err) != 0)
            goto rollback;
        mb_log(MB_LOG_INFO, "event=migration version=%d name=%s", m->version, m->name);
        count++;
    }
    store_schema_unlock(lock_fd);
    if (applied != NULL)
        *applied = count;
    return 0;
rollback:
    sqlite3_exec(store_conn_db_borrow(conn), "ROLLBACK", NULL, NULL, NULL);
fail:
    store_schema_unlock(lock_fd);
    return -1;
}

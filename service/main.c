/*
 * main.c - minbilld: the daemon and its operator subcommands.
 *
 *   minbilld serve   [--listen H:P] [--db PATH] [--key-file PATH] [--threads N]
 *                    [--max-message-bytes N] [--dev]
 *                    [--tls-cert F --tls-key F [--tls-client-ca F]]
 *                    [--metrics-listen H:P]
 *   minbilld migrate --db PATH
 *   minbilld keys init --key-file PATH
 *   minbilld keys create-api-key --db PATH --key-file PATH --role ROLE --name NAME
 *   minbilld keys allow-client --db PATH --key-file PATH --identity ID --role ROLE --name N
 *   minbilld keys list-api-keys --db PATH
 *   minbilld keys revoke-api-key --db PATH --key-file PATH --key-id ID
 *   minbilld keys rotate --db PATH --key-file PATH
 *   minbilld purge --db PATH --key-file PATH [--dry-run]
 *   minbilld backup --db PATH --to FILE
 *
 * Every flag can also come from the environment as MINBILL_<FLAG> (dashes as
 * underscores, e.g. MINBILL_KEY_FILE); a flag beats the environment.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "app.h"
#include "audit/audit.h"
#include "base/check.h"
#include "base/clock.h"
#include "base/hostport.h"
#include "base/log.h"
#include "inventory/inventory.h"
#include "methods.h"
#include "privacy/requests.h"
#include "purges.h"
#include "devworld.h"
#include "invoicing/seller.h"
#include "metrics/endpoint.h"
#include "metrics/metrics.h"
#include "metrics/sync_vfs.h"
#include "store/backup.h"
#include "store/migrate.h"
#include "store/settings.h"
#include "store/writer.h"

#define SHUTDOWN_GRACE_MS 10000
#define EXIT_USAGE 2
/* getopt values of the retention settings: OPT_SETTING + index into
 * purge_setting_defs. */
#define OPT_SETTING 1000
#define OPT_PURGE_INTERVAL 999
#define OPT_FILTER_CHECKPOINT 998

typedef struct config {
    const char *listen;
    const char *db;
    const char *key_file;
    const char *role;
    const char *name;
    const char *to;
    const char *key_id;
    const char *identity;
    const char *tls_cert, *tls_key, *tls_client_ca;
    const char *seller_config;
    const char *metrics_listen;
    long threads;
    long max_message_bytes;
    purge_settings retention;
    unsigned retention_given; /* bit i: purge_setting_defs[i] set by flag or environment */
    long purge_interval_s;
    long filter_checkpoint_hashes;
    int dev;
    int dry_run;
    rpc_rate_limits rate_limits;
} config;

static int usage(FILE *f)
{
    fprintf(
        f,
        "usage: minbilld COMMAND [flags]\n"
        "\n"
        "commands:\n"
        "  serve        run the gRPC service\n"
        "               --listen HOST:PORT      (default 127.0.0.1:50051)\n"
        "               --db PATH               (default var/minbill.db)\n"
        "               --key-file PATH         (default var/master.key)\n"
        "               --threads N             completion-queue threads (default: cores)\n"
        "               --max-message-bytes N   largest request (default 4194304)\n"
        "               --tls-cert F --tls-key F  serve TLS with this certificate and key\n"
        "               --tls-client-ca F       also accept client certificates signed by\n"
        "                                       this CA (see keys allow-client)\n"
        "               --seller-config FILE    the seller invoices are issued by (see\n"
        "                                       README); without it invoicing is off\n"
        "               --metrics-listen HOST:PORT  serve Prometheus metrics over HTTP at\n"
        "                                       GET /metrics (default: not served)\n"
        "               --dev                   create var/ and the key file if missing,\n"
        "                                       and print a ready-to-use API key\n"
        "               --rate-limit ROLE=RATE[/BURST]  calls a second per API key of ROLE\n"
        "                                       (repeatable; 0: none; defaults: platform\n"
        "                                       50000, payments 10000, finance 1000,\n"
        "                                       support 500, privacy and admin 200)\n"
        "               --acceptance-window-days N  usage events older than N days are\n"
        "                                       refused; idempotency hashes are kept as\n"
        "                                       long (default 62)\n"
        "               --closed-account-grace-days N  contacts and payment methods of an\n"
        "                                       account closed N days ago go (default 30)\n"
        "               --audit-retention-days N  audit events are kept N days (default\n"
        "                                       3650, at least 365)\n"
        "               --subject-request-retention-days N  a completed or rejected\n"
        "                                       access request is kept N days (default 1095)\n"
        "               --purge-interval-s N    run the retention purges every N seconds\n"
        "                                       (default 3600; the first a second after start;\n"
        "                                       0: only when minbilld purge is run)\n"
        "               --filter-checkpoint-hashes N  save the usage idempotency filter\n"
        "                                       while serving after every N new events, so\n"
        "                                       a start after a crash reads about N from the\n"
        "                                       database instead of all (default 4194304;\n"
        "                                       0: only at a clean stop)\n"
        "  migrate      apply pending schema migrations: --db PATH\n"
        "  keys init    create a master key file: --key-file PATH\n"
        "  keys create-api-key --db PATH --key-file PATH --role ROLE --name NAME\n"
        "               print a new API key (shown once; only its keyed hash is stored)\n"
        "               roles: platform finance support payments privacy admin\n"
        "  keys allow-client --db PATH --key-file PATH --identity TYPE:ID --role ROLE --name NAME\n"
        "               with --tls-client-ca: client certificates with that name act\n"
        "               as ROLE; TYPE is dns, uri, email, ip (subject alternative\n"
        "               names) or cn (common name, if the certificate has no SAN)\n"
        "  keys list-api-keys --db PATH\n"
        "               every API key: id, role, created, revoked, name (never a secret)\n"
        "  keys revoke-api-key --db PATH --key-file PATH --key-id ID\n"
        "               a running minbilld refuses the key within %d s; audited\n"
        "  keys rotate --db PATH --key-file PATH\n"
        "               new master key version; re-wraps every key while minbilld serves;\n"
        "               keeps the old key as PATH.vN for the backups taken before\n"
        "  purge --db PATH --key-file PATH [--dry-run]\n"
        "               run the retention purges now, with the settings the daemon stored\n"
        "               (serve runs them every --purge-interval-s): usage idempotency\n"
        "               hashes past the window, invoices past retention (their class key\n"
        "               destroyed), closed access requests; prints and audits the counts\n"
        "  backup --db PATH --to FILE\n"
        "               a consistent, checked copy of the database, taken while minbilld\n"
        "               serves; FILE must not exist. It holds ciphertext: restoring it\n"
        "               needs the master key file\n"
        "\n"
        "Every flag may also be set as MINBILL_<FLAG> in the environment, e.g. MINBILL_DB.\n",
        AUTH_CACHE_TTL_SECONDS);
    return f == stderr ? EXIT_USAGE : 0;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : fallback;
}

static int parse_long(const char *flag, const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "minbilld: %s: must be a whole number from %ld to %ld\n", flag, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* The environment variables of the retention settings, in the order of
 * purge_setting_defs (and of the OPT_SETTING options above). */
static const char *const SETTING_ENV[] = {
    "MINBILL_ACCEPTANCE_WINDOW_DAYS",
    "MINBILL_CLOSED_ACCOUNT_GRACE_DAYS",
    "MINBILL_AUDIT_RETENTION_DAYS",
    "MINBILL_SUBJECT_REQUEST_RETENTION_DAYS",
};

/* A retention setting from its flag or environment variable (named what). */
static int parse_setting(const char *what, const char *s, size_t i, config *cfg)
{
    const purge_setting_def *d = &purge_setting_defs[i];
    long v;
    if (parse_long(what, s, (long)d->min, (long)d->max, &v) != 0)
        return -1;
    *purge_setting_field(&cfg->retention, d) = v;
    cfg->retention_given |= 1u << i;
    return 0;
}

static int parse_flags(int argc, char **argv, config *cfg)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"db", required_argument, NULL, 'd'},
        {"key-file", required_argument, NULL, 'k'},
        {"threads", required_argument, NULL, 't'},
        {"max-message-bytes", required_argument, NULL, 'm'},
        {"role", required_argument, NULL, 'r'},
        {"name", required_argument, NULL, 'n'},
        {"dev", no_argument, NULL, 'D'},
        {"acceptance-window-days", required_argument, NULL, OPT_SETTING + 0},
        {"closed-account-grace-days", required_argument, NULL, OPT_SETTING + 1},
        {"audit-retention-days", required_argument, NULL, OPT_SETTING + 2},
        {"subject-request-retention-days", required_argument, NULL, OPT_SETTING + 3},
        {"purge-interval-s", required_argument, NULL, OPT_PURGE_INTERVAL},
        {"filter-checkpoint-hashes", required_argument, NULL, OPT_FILTER_CHECKPOINT},
        {"dry-run", no_argument, NULL, 'y'},
        {"to", required_argument, NULL, 'o'},
        {"key-id", required_argument, NULL, 'i'},
        {"identity", required_argument, NULL, 'I'},
        {"tls-cert", required_argument, NULL, 'C'},
        {"tls-key", required_argument, NULL, 'K'},
        {"tls-client-ca", required_argument, NULL, 'A'},
        {"seller-config", required_argument, NULL, 'S'},
        {"metrics-listen", required_argument, NULL, 'M'},
        {"rate-limit", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->listen = env_or("MINBILL_LISTEN", "127.0.0.1:50051");
    cfg->db = env_or("MINBILL_DB", "var/minbill.db");
    cfg->key_file = env_or("MINBILL_KEY_FILE", "var/master.key");
    cfg->role = env_or("MINBILL_ROLE", NULL);
    cfg->name = env_or("MINBILL_NAME", NULL);
    cfg->to = env_or("MINBILL_TO", NULL);
    cfg->key_id = env_or("MINBILL_KEY_ID", NULL);
    cfg->identity = env_or("MINBILL_IDENTITY", NULL);
    cfg->tls_cert = env_or("MINBILL_TLS_CERT", NULL);
    cfg->tls_key = env_or("MINBILL_TLS_KEY", NULL);
    cfg->tls_client_ca = env_or("MINBILL_TLS_CLIENT_CA", NULL);
    cfg->seller_config = env_or("MINBILL_SELLER_CONFIG", NULL);
    cfg->metrics_listen = env_or("MINBILL_METRICS_LISTEN", NULL);
    cfg->threads = ncpu > 0 ? ncpu : 1;
    cfg->max_message_bytes = 4 << 20;
    if (parse_long("MINBILL_THREADS", env_or("MINBILL_THREADS", "0"), 0, 256, &cfg->threads) != 0 ||
        parse_long("MINBILL_MAX_MESSAGE_BYTES", env_or("MINBILL_MAX_MESSAGE_BYTES", "4194304"),
                   1024, 64 << 20, &cfg->max_message_bytes) != 0 ||
        parse_long("MINBILL_PURGE_INTERVAL_S", env_or("MINBILL_PURGE_INTERVAL_S", "3600"), 0,
                   7 * 86400, &cfg->purge_interval_s) != 0 ||
        parse_long("MINBILL_FILTER_CHECKPOINT_HASHES",
                   env_or("MINBILL_FILTER_CHECKPOINT_HASHES", "4194304"), 0, 1L << 40,
                   &cfg->filter_checkpoint_hashes) != 0)
        return -1;
    purge_settings_default(&cfg->retention);
    for (size_t i = 0; i < sizeof SETTING_ENV / sizeof SETTING_ENV[0]; i++) {
        const char *v = env_or(SETTING_ENV[i], NULL);
        if (v != NULL && parse_setting(SETTING_ENV[i], v, i, cfg) != 0)
            return -1;
    }
    if (cfg->threads == 0)
        cfg->threads = ncpu > 0 ? ncpu : 1;
    rpc_rate_limits_default(&cfg->rate_limits);
    mb_error rerr;
    const char *limits_env = env_or("MINBILL_RATE_LIMIT", NULL);
    if (limits_env != NULL && rpc_rate_limits_parse(&cfg->rate_limits, limits_env, &rerr) != 0) {
        fprintf(stderr, "minbilld: MINBILL_RATE_LIMIT: %s\n", rerr.msg);
        return -1;
    }
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l': cfg->listen = optarg; break;
        case 'd': cfg->db = optarg; break;
        case 'k': cfg->key_file = optarg; break;
        case 'r': cfg->role = optarg; break;
        case 'n': cfg->name = optarg; break;
        case 'D': cfg->dev = 1; break;
        case 'y': cfg->dry_run = 1; break;
        case 'o': cfg->to = optarg; break;
        case 'i': cfg->key_id = optarg; break;
        case 'I': cfg->identity = optarg; break;
        case 'C': cfg->tls_cert = optarg; break;
        case 'K': cfg->tls_key = optarg; break;
        case 'A': cfg->tls_client_ca = optarg; break;
        case 'S': cfg->seller_config = optarg; break;
        case 'M': cfg->metrics_listen = optarg; break;
        case 'L':
            if (rpc_rate_limits_parse(&cfg->rate_limits, optarg, &rerr) != 0) {
                fprintf(stderr, "minbilld: --%s\n", rerr.msg);
                return -1;
            }
            break;
        case OPT_PURGE_INTERVAL:
            if (parse_long("--purge-interval-s", optarg, 0, 7 * 86400, &cfg->purge_interval_s) != 0)
                return -1;
            break;
        case OPT_FILTER_CHECKPOINT:
            if (parse_long("--filter-checkpoint-hashes", optarg, 0, 1L << 40,
                           &cfg->filter_checkpoint_hashes) != 0)
                return -1;
            break;
        case 't':
            if (parse_long("--threads", optarg, 1, 256, &cfg->threads) != 0)
                return -1;
            break;
        case 'm':
            if (parse_long("--max-message-bytes", optarg, 1024, 64 << 20,
                           &cfg->max_message_bytes) != 0)
                return -1;
            break;
        case 'h': return 1;
        default:
            if (c < OPT_SETTING || c >= OPT_SETTING + (int)purge_setting_count ||
                parse_setting(purge_setting_defs[c - OPT_SETTING].flag, optarg,
                              (size_t)(c - OPT_SETTING), cfg) != 0)
                return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "minbilld: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

static int fail(const mb_error *err)
{
    fprintf(stderr, "minbilld: %s\n", err->msg);
    return 1;
}

/* Core dumps would write the master key (and, later, clear PANs) to disk. */
static void harden_process(void)
{
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* glibc gives memory back as soon as the top of a thread's heap is free:
 * the writer releases a savepoint per job, and each release ended in an
 * madvise(MADV_DONTNEED) whose TLB shootdown interrupts every core (a
 * third of the daemon's CPU in a billing run, measured with perf). Keep up
 * to 32 MiB free per heap and serve blocks below 1 MiB from the heap. */
static void tune_malloc(void)
{
    mallopt(M_TRIM_THRESHOLD, 32 << 20);
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
}

static int attach_job(store_conn_t *conn, void *arg, mb_error *err)
{
    return keyring_attach(arg, conn, err);
}

/* serve records its retention settings: `minbilld purge` uses them. */
static int store_settings_job(store_conn_t *conn, void *arg, mb_error *err)
{
    return purge_settings_store(conn, arg, err);
}

/* An operator's work on API keys: creating or revoking one is an admin
 * action, recorded in the audit trail in the same transaction. The actor is
 * whoever runs minbilld on the host (no API key): "local-operator". */
typedef struct key_args {
    keyring_t *kr;
    unsigned role;
    const char *name;
    const char *identity; /* allow-client */
    char key[AUTH_KEY_MAX];
    char key_id[32]; /* an API key's id, or what a master-key event names */
} key_args;

static int key_audit(store_conn_t *conn, const key_args *a, const char *action, mb_error *err)
{
    /* A credential granted names the role it grants (in the purpose field:
     * the trail has no other for it). */
    char purpose[32] = "";
    if (a->role != 0)
        snprintf(purpose, sizeof purpose, "grants role %s", auth_role_name(a->role));
    audit_entry e = {.actor_key_id = "local-operator",
                     .actor_role = auth_role_name(ROLE_ADMIN),
                     .action = action,
                     .target_id = a->key_id,
                     .purpose = purpose[0] != '\0' ? purpose : NULL};
    return audit_append(conn, a->kr, &e, NULL, err);
}

/* After a master key rotation (many transactions of its own): the event
 * names the new version, key_id holding "master-key-v<N>". */
static int rotated_job(store_conn_t *conn, void *arg, mb_error *err)
{
    key_args *a = arg;
    if (keyring_attach(a->kr, conn, err) != 0)
        return -1;
    return key_audit(conn, a, "master_key.rotate", err);
}

static int create_key_job(store_conn_t *conn, void *arg, mb_error *err)
{
    key_args *a = arg;
    if (keyring_attach(a->kr, conn, err) != 0 ||
        auth_key_create(conn, a->kr, a->role, a->name, a->key, a->key_id, err) != 0)
        return -1;
    return key_audit(conn, a, "api_key.create", err);
}

static int allow_client_job(store_conn_t *conn, void *arg, mb_error *err)
{
    key_args *a = arg;
    if (keyring_attach(a->kr, conn, err) != 0 ||
        auth_cert_allow(conn, a->kr, a->role, a->name, a->identity, a->key_id, err) != 0)
        return -1;
    return key_audit(conn, a, "client_certificate.allow", err);
}

static int revoke_key_job(store_conn_t *conn, void *arg, mb_error *err)
{
    key_args *a = arg;
    if (keyring_attach(a->kr, conn, err) != 0 || auth_key_revoke(conn, a->key_id, err) != 0)
        return -1;
    return key_audit(conn, a, "api_key.revoke", err);
}

/* The dev default: ./var/ (0700) with a generated key file. */
static int prepare_dev(const config *cfg, mb_error *err)
{
    if (mkdir("var", 0700) != 0 && errno != EEXIST)
        return mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "cannot create var/: %s",
                            strerror(errno));
    if (access(cfg->key_file, F_OK) != 0) {
        if (keyring_file_create(cfg->key_file, err) != 0)
            return -1;
        mb_log(MB_LOG_INFO, "event=dev_key_created key_file=%s", cfg->key_file);
    }
    return 0;
}

/* The whole of a PEM file, NUL-terminated, in locked memory that is wiped
 * when freed (free_pem): one of them is the TLS private key. A private key
 * must be readable by its owner only, like the master key. */
#define PEM_MAX (1 << 20)

static int read_pem(const char *flag, const char *path, bool private_key, char **out,
                    mb_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "%s: cannot read %s: %s", flag, path,
                     strerror(errno));
        goto fail;
    }
    if (private_key && (st.st_mode & 077) != 0) {
        mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                     "%s: %s may be read by group or others: chmod 600 it", flag, path);
        goto fail;
    }
    if (st.st_size <= 0 || st.st_size > PEM_MAX ||
        (*out = sodium_malloc((size_t)st.st_size + 1)) == NULL ||
        read(fd, *out, (size_t)st.st_size) != (ssize_t)st.st_size) {
        mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                     "%s: %s is empty, too large or unreadable", flag, path);
        goto fail;
    }
    (*out)[st.st_size] = '\0';
    close(fd);
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    sodium_free(*out);
    *out = NULL;
    return -1;
}

/* The TLS material of serve: certificate, private key, client CA (NULL
 * where not given). */
typedef struct tls_pems {
    char *cert, *key, *ca;
} tls_pems;

static void free_pem(tls_pems *p)
{
    sodium_free(p->cert); /* sodium_free wipes, and takes NULL */
    sodium_free(p->key);
    sodium_free(p->ca);
    *p = (tls_pems){0};
}

/* Reads --tls-cert, --tls-key and --tls-client-ca, before anything else
 * starts: a wrong file is reported before the database is touched. */
static int load_tls(const config *cfg, tls_pems *p, mb_error *err)
{
    *p = (tls_pems){0};
    if (cfg->tls_cert == NULL)
        return 0;
    if (read_pem("--tls-cert", cfg->tls_cert, false, &p->cert, err) != 0 ||
        read_pem("--tls-key", cfg->tls_key, true, &p->key, err) != 0 ||
        (cfg->tls_client_ca != NULL &&
         read_pem("--tls-client-ca", cfg->tls_client_ca, false, &p->ca, err) != 0)) {
        free_pem(p);
        return -1;
    }
    return 0;
}

/* The first step of a shutdown, while the runtime still runs: the
 * writer's queued jobs use the metering index and finish their calls, so
 * they are run (or, past half the grace, answered unrun) before the runtime
 * and metering go. The calls left get the other half. */
static void on_shutdown(void *arg)
{
    mb_app *app = arg;
    health_set_serving(app->health, false);
    store_drain(app->store, SHUTDOWN_GRACE_MS / 2);
}

static void on_writable(void *health, bool writable)
{
    health_set_writable(health, writable);
}

/* A dev database is new until it has accounts: only then is the example
 * world seeded, so a restart keeps what the developer did. */
static int dev_world_is_new(store_t *store, bool *is_new, mb_error *err)
{
    store_conn_t *conn = store_reader_acquire(store);
    sqlite3_stmt *st = store_conn_prepare(conn, "SELECT count(*) FROM accounts", err);
    int ret = st != NULL && store_step_one(conn, st, "no count", "counting accounts", err) == 0
                  ? 0
                  : -1;
    if (ret == 0)
        *is_new = sqlite3_column_int64(st, 0) == 0;
    if (st != NULL)
        sqlite3_reset(st);
    store_reader_release(store, conn);
    return ret;
}

static void print_dev_welcome(const config *cfg, const char *host, bool seeded,
                              const key_args *keys)
{
    char last[8];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_mon -= 1;
    tm.tm_mday = 1;
    t = timegm(&tm);
    gmtime_r(&t, &tm);
    strftime(last, sizeof last, "%Y-%m", &tm);
    printf("minbilld is serving on %s (database %s, key file %s)\n"
           "%s"
           "API keys for this dev database (shown once):\n"
           "  support:  export MINBILL_SERVER=%s MINBILL_API_KEY=%s\n"
           "  finance:  export MINBILL_SERVER=%s MINBILL_API_KEY=%s\n"
           "  platform: export MINBILL_SERVER=%s MINBILL_API_KEY=%s\n"
           "  privacy:  export MINBILL_SERVER=%s MINBILL_API_KEY=%s\n"
           "Try, with the finance key:\n"
           "  build/client/minbill invoices run --period %s\n"
           "  build/client/minbill invoices list --period %s\n"
           "  build/client/minbill invoice render INV-%.4s-000001 --format ubl\n"
           "and with the support key: build/client/minbill account show autohaus-schmidt\n"
           "and with the privacy key (an access request):\n"
           "  build/client/minbill dsar open --account autohaus-schmidt --kind access "
           "--verified-by you\n"
           "Stop with Ctrl-C.\n",
           host, cfg->db, cfg->key_file,
           seeded ? "Seeded an example world: plan dealer-pro, dealers autohaus-schmidt (DE),\n"
                    "garage-de-vries (NL), jean-martin-auto (FR), main-street-motors (US),\n"
                    "and last month's usage; the seller is an example Dutch B.V.\n"
                  : "",
           host, keys[0].key, host, keys[1].key, host, keys[2].key, host, keys[4].key, last, last,
           last);
    fflush(stdout);
}

/* The seller invoices are issued by: the configuration file, or with --dev
 * and no file the example seller next to the binary (devworld.h); none, and
 * invoicing answers FAILED_PRECONDITION. A bad file stops the daemon before
 * it serves. */
static int load_seller(const config *cfg, seller_config **out, mb_error *err)
{
    if (cfg->seller_config != NULL)
        return seller_config_load(cfg->seller_config, out, err);
    return cfg->dev ? devworld_seller_load(out, err) : 0;
}

static int cmd_serve(const config *cfg)
{
    mb_error err;
    mb_app app = {0};
    rpc_server_t *srv = NULL;
    metrics_endpoint_t *metrics = NULL;
    purge_t *purge = NULL;
    int ret = 1, port = 0, metrics_port = 0;
    sigset_t sigs;

    tls_pems tls_pem = {0};
    seller_config *seller = NULL;
    char why[128];
    if (mb_hostport_check(cfg->listen, 0, why, sizeof why) != 0) {
        fprintf(stderr, "minbilld: --listen: %s\n", why);
        return EXIT_USAGE;
    }
    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL) ||
        (cfg->tls_client_ca != NULL && cfg->tls_cert == NULL)) {
        fprintf(stderr, "minbilld: --tls-cert and --tls-key go together, and --tls-client-ca "
                        "needs them\n");
        return EXIT_USAGE;
    }
    harden_process();
    tune_malloc();
    /* Block the shutdown signals in every thread; main waits for them. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Call lines are collected per pass of a server thread: a crash writes
     * them before the process dies. */
    mb_log_catch_crashes();

    if (load_tls(cfg, &tls_pem, &err) != 0 || load_seller(cfg, &seller, &err) != 0)
        goto out;
    app.seller = seller;
    if (cfg->dev && prepare_dev(cfg, &err) != 0)
        goto out;
    if (keyring_load(cfg->key_file, &app.keyring, &err) != 0)
        goto out;
    metrics_init(mb_methods, mb_methods_count, cfg->db);
    if (metrics_sync_vfs_register(&err) != 0)
        goto out;
    store_options so = {.readers = (int)cfg->threads + 2,
                        .create = true,
                        .n_purposes = PURPOSE_COUNT,
                        .readable = inventory_readable,
                        .views = inventory_views_sql};
    if (store_open(cfg->db, &so, &app.store, &err) != 0)
        goto out;
    if (store_write_sync(app.store, attach_job, app.keyring, &err) != 0 ||
        auth_new(app.store, app.keyring, &app.auth, &err) != 0)
        goto out;
    if (reflection_new(&app.reflection, &err) != 0)
        goto out;
    if ((app.health = health_new(mb_methods, mb_methods_count)) == NULL) {
        mb_error_set(&err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    store_watch_writable(app.store, on_writable, app.health);
    metrics_access_requests_source(privacy_requests_count, app.store);
    /* Next to SQLite's own -wal and -shm files (see idem_ckpt.h for why a
     * saved filter can never be trusted wrongly). */
    char filter_path[4096];
    snprintf(filter_path, sizeof filter_path, "%s-usage-filter", cfg->db);
    metering_options mo = {.window_days = (int)cfg->retention.acceptance_window_days,
                           .filter_path = filter_path,
                           .filter_checkpoint_hashes = (uint64_t)cfg->filter_checkpoint_hashes};
    if (store_write_sync(app.store, store_settings_job, (void *)&cfg->retention, &err) != 0 ||
        metering_start(app.store, app.keyring, &mo, &app.metering, &err) != 0)
        goto out;
    if ((purge = purge_new("system")) == NULL) {
        mb_error_set(&err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    if (mb_purges_register(purge, app.metering, &err) != 0 ||
        (cfg->purge_interval_s > 0 &&
         purge_start(purge, app.store, app.keyring, cfg->purge_interval_s * 1000, &err) != 0))
        goto out;
    /* --dev: a key per role a newcomer needs (admin only seeds the world). */
    key_args dev_keys[] = {
        {.kr = app.keyring, .role = ROLE_SUPPORT, .name = "dev-support"},
        {.kr = app.keyring, .role = ROLE_FINANCE, .name = "dev-finance"},
        {.kr = app.keyring, .role = ROLE_PLATFORM, .name = "dev-platform"},
        {.kr = app.keyring, .role = ROLE_ADMIN, .name = "dev-seed"},
        {.kr = app.keyring, .role = ROLE_PRIVACY, .name = "dev-privacy"},
    };
    bool seed = false;
    for (size_t i = 0; cfg->dev && i < sizeof dev_keys / sizeof dev_keys[0]; i++)
        if (store_write_sync(app.store, create_key_job, &dev_keys[i], &err) != 0)
            goto out;
    if (cfg->dev && dev_world_is_new(app.store, &seed, &err) != 0)
        goto out;
    if (cfg->metrics_listen != NULL) {
        if (metrics_endpoint_start(cfg->metrics_listen, &metrics, &metrics_port, &err) != 0)
            goto out;
        mb_log(MB_LOG_INFO, "event=metrics_listening listen=%s port=%d", cfg->metrics_listen,
               metrics_port);
    }

    rpc_options ro = {
        .listen = cfg->listen,
        .threads = (int)cfg->threads,
        .max_message_bytes = (size_t)cfg->max_message_bytes,
        .methods = mb_methods,
        .n_methods = mb_methods_count,
        .auth = app.auth,
        .app = &app,
        .on_shutdown = on_shutdown,
        .tls_cert_pem = tls_pem.cert,
        .tls_key_pem = tls_pem.key,
        .tls_client_ca_pem = tls_pem.ca,
        .rate_limits = &cfg->rate_limits,
    };
    bool tls_pem_was_off = tls_pem.cert == NULL;
    const char *tls = tls_pem.ca != NULL     ? "on,client-certificates"
                      : tls_pem.cert != NULL ? "on"
                                             : "off";
    /* Our copies go now; gRPC's credentials keep theirs while it serves. */
    int started = rpc_server_start(&ro, &srv, &port, &err);
    free_pem(&tls_pem);
    if (started != 0)
        goto out;
    health_set_serving(app.health, true);
    mb_log(MB_LOG_INFO, "event=serving listen=%s port=%d threads=%ld db=%s tls=%s", cfg->listen,
           port, cfg->threads, cfg->db, tls);
    if (cfg->dev) {
        char host[128];
        snprintf(host, sizeof host, "%s", cfg->listen);
        char *colon = strrchr(host, ':');
        if (colon != NULL)
            snprintf(colon, sizeof host - (size_t)(colon - host), ":%d", port);
        if (seed && tls_pem_was_off &&
            devworld_seed(host, dev_keys[2].key, dev_keys[3].key, &err) != 0)
            goto out;
        print_dev_welcome(cfg, host, seed, dev_keys);
        for (size_t i = 0; i < sizeof dev_keys / sizeof dev_keys[0]; i++)
            sodium_memzero(dev_keys[i].key, sizeof dev_keys[i].key);
    }

    int sig = 0;
    sigwait(&sigs, &sig);
    mb_log(MB_LOG_INFO, "event=shutdown signal=%s", sig == SIGTERM ? "TERM" : "INT");
    /* Its steps are writer jobs: it stops before the writer drains. */
    purge_free(purge);
    purge = NULL;
    rpc_server_shutdown(srv, SHUTDOWN_GRACE_MS / 2);
    srv = NULL;
    ret = 0;
out:
    if (ret != 0)
        fail(&err);
    free_pem(&tls_pem);
    if (srv != NULL)
        rpc_server_shutdown(srv, 0);
    metrics_endpoint_stop(metrics);
    purge_free(purge);           /* its steps use metering and the writer */
    metering_stop(app.metering); /* its jobs need the writer: before store_close */
    store_close(app.store);
    auth_free(app.auth);
    health_free(app.health);
    reflection_free(app.reflection);
    keyring_free(app.keyring);
    seller_config_free(seller);
    if (ret == 0)
        mb_log(MB_LOG_INFO, "event=stopped");
    return ret;
}

static int cmd_migrate(const config *cfg)
{
    store_conn_t *conn = NULL;
    mb_error err;
    int applied = 0;
    if (store_conn_open(cfg->db, true, false, &conn, &err) != 0 ||
        store_migrate(conn, &applied, &err) != 0) {
        store_conn_close(conn);
        return fail(&err);
    }
    store_conn_close(conn);
    printf("%s: %d migration(s) applied, schema at %d\n", cfg->db, applied,
           store_migrations_count);
    return 0;
}

static int cmd_keys_init(const config *cfg)
{
    mb_error err;
    if (keyring_file_create(cfg->key_file, &err) != 0)
        return fail(&err);
    printf("created master key file %s (mode 0600): back it up; without it the data is lost\n",
           cfg->key_file);
    return 0;
}

/* The subcommands that work beside a serving daemon (keys, purge) open the
 * database holding the schema lock shared, so that no newer binary migrates
 * it under them, and refuse a schema other than theirs (a new database is
 * migrated: nobody can be serving it). create: whether a missing database
 * may be created (only where that makes sense: creating a key). */
static int open_beside_daemon(const config *cfg, bool create, store_conn_t **conn, int *lock,
                              mb_error *err)
{
    *conn = NULL;
    *lock = -1;
    if (store_conn_open(cfg->db, create, false, conn, err) == 0 &&
        store_schema_lock(sqlite3_db_filename(store_conn_db_borrow(*conn), "main"), false, lock,
                          err) == 0 &&
        store_migrate_new_only(*conn, err) == 0)
        return 0;
    store_conn_close(*conn);
    store_schema_unlock(*lock);
    *conn = NULL;
    *lock = -1;
    return -1;
}

static void close_beside_daemon(store_conn_t *conn, int lock)
{
    store_conn_close(conn);
    store_schema_unlock(lock);
}

/* Runs job on a key_args in one write transaction of the database, with
 * the key file loaded; 0, or 1 after saying what failed. */
static int run_key_job(const config *cfg, bool create,
                       int (*job)(store_conn_t *, void *, mb_error *), key_args *a)
{
    mb_error err;
    store_conn_t *conn = NULL;
    int ret = 1, lock = -1;
    harden_process();
    if (keyring_load(cfg->key_file, &a->kr, &err) != 0 ||
        open_beside_daemon(cfg, create, &conn, &lock, &err) != 0 ||
        store_conn_exec(conn, "BEGIN IMMEDIATE", &err) != 0)
        goto out;
    if (job(conn, a, &err) != 0 || store_conn_exec(conn, "COMMIT", &err) != 0) {
        sqlite3_exec(store_conn_db_borrow(conn), "ROLLBACK", NULL, NULL, NULL);
        goto out;
    }
    ret = 0;
out:
    if (ret != 0)
        fail(&err);
    close_beside_daemon(conn, lock);
    keyring_free(a->kr);
    a->kr = NULL;
    return ret;
}

static int cmd_create_api_key(const config *cfg)
{
    mb_error err;
    key_args a = {.name = cfg->name};
    if (cfg->role == NULL || cfg->name == NULL) {
        fprintf(stderr, "minbilld: keys create-api-key needs --role and --name\n");
        return EXIT_USAGE;
    }
    if (check_stored_text("name", cfg->name, 1, 64, &err) != 0 ||
        auth_role_parse(cfg->role, &a.role, &err) != 0) {
        fail(&err);
        return EXIT_USAGE;
    }
    int ret = run_key_job(cfg, true, create_key_job, &a);
    if (ret == 0) {
        printf("%s\n", a.key);
        fprintf(stderr, "created API key %s (role %s, name %s); it is shown once\n", a.key_id,
                cfg->role, cfg->name);
    }
    sodium_memzero(a.key, sizeof a.key);
    return ret;
}

static int cmd_allow_client(const config *cfg)
{
    mb_error err;
    key_args a = {.name = cfg->name, .identity = cfg->identity};
    if (cfg->role == NULL || cfg->name == NULL || cfg->identity == NULL) {
        fprintf(stderr, "minbilld: keys allow-client needs --identity, --role and --name\n");
        return EXIT_USAGE;
    }
    if (check_stored_text("name", cfg->name, 1, 64, &err) != 0 ||
        auth_role_parse(cfg->role, &a.role, &err) != 0) {
        fail(&err);
        return EXIT_USAGE;
    }
    int ret = run_key_job(cfg, true, allow_client_job, &a);
    if (ret == 0)
        printf("allowed client certificates of that identity as %s (role %s, name %s); revoke "
               "with keys revoke-api-key --key-id %s\n",
               a.key_id, cfg->role, cfg->name, a.key_id);
    return ret;
}

static int cmd_revoke_api_key(const config *cfg)
{
    key_args a = {0};
    if (cfg->key_id == NULL) {
        fprintf(stderr, "minbilld: keys revoke-api-key needs --key-id\n");
        return EXIT_USAGE;
    }
    snprintf(a.key_id, sizeof a.key_id, "%s", cfg->key_id);
    if (strlen(cfg->key_id) != AUTH_KEY_ID_LEN) {
        fprintf(stderr, "minbilld: key-id: must be the %d characters after mbk_ (as listed by "
                        "keys list-api-keys)\n",
                AUTH_KEY_ID_LEN);
        return EXIT_USAGE;
    }
    int ret = run_key_job(cfg, false, revoke_key_job, &a);
    if (ret == 0)
        printf("revoked credential %s: a running minbilld refuses it within %d s\n", a.key_id,
               AUTH_CACHE_TTL_SECONDS);
    return ret;
}

static void print_key(void *arg, const auth_key_info *k)
{
    (void)arg;
    printf("%-12s  %-4s  %-8s  %-24s  %-24s  %s\n", k->key_id, k->kind, k->role, k->created_at,
           k->revoked_at[0] ? k->revoked_at : "-", k->name);
}

static int cmd_list_api_keys(const config *cfg)
{
    mb_error err;
    store_conn_t *conn = NULL;
    int lock;
    if (open_beside_daemon(cfg, false, &conn, &lock, &err) != 0)
        return fail(&err);
    printf("%-12s  %-4s  %-8s  %-24s  %-24s  %s\n", "KEY ID", "KIND", "ROLE", "CREATED",
           "REVOKED", "NAME");
    int ret = auth_key_list(conn, print_key, NULL, &err);
    close_beside_daemon(conn, lock);
    return ret == 0 ? 0 : fail(&err);
}

static int cmd_keys_rotate(const config *cfg)
{
    mb_error err;
    store_conn_t *conn = NULL;
    keyring_rotation r;
    int lock;
    harden_process();
    if (open_beside_daemon(cfg, false, &conn, &lock, &err) != 0 ||
        keyring_rotate(cfg->key_file, conn, &r, &err) != 0) {
        close_beside_daemon(conn, lock);
        return fail(&err);
    }
    close_beside_daemon(conn, lock);
    key_args a = {0};
    snprintf(a.key_id, sizeof a.key_id, "master-key-v%d", r.to_version);
    if (run_key_job(cfg, false, rotated_job, &a) != 0) {
        fprintf(stderr, "minbilld: the rotation to version %d is complete, but its audit event "
                        "could not be written (see above)\n",
                r.to_version);
        return 1;
    }
    printf("rotated the master key of %s from version %d to %d: re-wrapped %lld data keys and "
           "%lld secrets in %d transactions (longest %.1f ms); %s now holds the new key: the "
           "database and backups taken from now on need it. The old key is kept as %s (0600): "
           "backups taken before this rotation need that file to be restored; remove it once "
           "none of them is kept\n",
           cfg->db, r.from_version, r.to_version, (long long)r.data_keys, (long long)r.secrets,
           r.batches, r.longest_batch_ms, cfg->key_file, r.retired);
    return 0;
}

/* A retention flag given to purge must agree with what the daemon stored:
 * purge runs with the daemon's settings, never with its own. */
static int check_given_settings(const config *cfg, const purge_settings *stored)
{
    for (size_t i = 0; i < purge_setting_count; i++) {
        const purge_setting_def *d = &purge_setting_defs[i];
        int64_t given = *purge_setting_field((purge_settings *)&cfg->retention, d);
        int64_t kept = *purge_setting_field((purge_settings *)stored, d);
        if ((cfg->retention_given & (1u << i)) != 0 && given != kept) {
            fprintf(stderr,
                    "minbilld: purge: %s %lld contradicts the %lld days minbilld serve stored "
                    "for %s; purge always uses the daemon's stored settings: drop the flag "
                    "(or MINBILL_ variable), or restart serve with the new value\n",
                    d->flag, (long long)given, (long long)kept, cfg->db);
            return -1;
        }
    }
    return 0;
}

static int load_settings_job(store_conn_t *conn, void *arg, mb_error *err)
{
    return purge_settings_load(conn, arg, err);
}

static int cmd_purge(const config *cfg)
{
    mb_error err;
    store_conn_t *conn = NULL;
    keyring_t *kr = NULL;
    purge_t *p = NULL;
    purge_settings stored;
    purge_report rep = {0};
    int lock = -1, ret = 1;
    harden_process();
    if (keyring_load(cfg->key_file, &kr, &err) != 0 ||
        open_beside_daemon(cfg, false, &conn, &lock, &err) != 0 ||
        store_conn_exec(conn, "BEGIN IMMEDIATE", &err) != 0)
        goto out;
    /* keyring_attach() wants a write transaction (as run_key_job). */
    if (keyring_attach(kr, conn, &err) != 0 || store_conn_exec(conn, "COMMIT", &err) != 0) {
        sqlite3_exec(store_conn_db_borrow(conn), "ROLLBACK", NULL, NULL, NULL);
        goto out;
    }
    if (store_read_snapshot(conn, load_settings_job, &stored, &err) != 0)
        goto out;
    if (check_given_settings(cfg, &stored) != 0) {
        ret = EXIT_USAGE;
        goto out;
    }
    if ((p = purge_new("local-operator")) == NULL) {
        mb_error_set(&err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    if (mb_purges_register(p, NULL, &err) != 0 ||
        purge_run_conn(p, conn, kr, cfg->dry_run, &rep, &err) != 0)
        goto out;
    ret = 0;
out:
    for (size_t i = 0; i < rep.n; i++) {
        const purge_count *c = &rep.counts[i];
        printf("%s: %s %lld %s", cfg->db, cfg->dry_run ? "would delete" : "deleted",
               (long long)c->removed, c->what);
        if (c->keys_destroyed > 0)
            printf(" and %s %lld data key(s)", cfg->dry_run ? "destroy" : "destroyed",
                   (long long)c->keys_destroyed);
        printf("\n");
    }
    if (ret == 0)
        printf("%s: with the settings minbilld serve stored: acceptance window %lld days, "
               "subject requests kept %lld days after closing\n",
               cfg->db, (long long)stored.acceptance_window_days,
               (long long)stored.subject_request_retention_days);
    if (ret == 1)
        fail(&err);
    purge_free(p);
    close_beside_daemon(conn, lock);
    keyring_free(kr);
    return ret;
}

static int cmd_backup(const config *cfg)
{
    mb_error err;
    store_backup_info info;
    if (cfg->to == NULL) {
        fprintf(stderr, "minbilld: backup needs --to FILE\n");
        return EXIT_USAGE;
    }
    if (store_backup(cfg->db, cfg->to, &info, &err) != 0)
        return fail(&err);
    printf("backed up %s (schema %d) to %s: %.1f MiB in %.1f s, integrity checked. It holds "
           "ciphertext: restoring it needs the master key file; data keys destroyed after now "
           "stay readable in it until the master key is rotated and the old key file "
           "destroyed\n",
           cfg->db, info.schema_version, cfg->to, (double)info.bytes / (1 << 20), info.seconds);
    return 0;
}

int main(int argc, char **argv)
{
    store_configure();
    if (argc < 2)
        return usage(stderr);
    const char *cmd = argv[1];
    const char *sub = NULL;
    int shift = 1;
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0)
        return usage(stdout);
    if (strcmp(cmd, "keys") == 0) {
        if (argc < 3) {
            fprintf(stderr,
                    "minbilld: keys needs a subcommand (init, create-api-key, list-api-keys, "
                    "revoke-api-key, allow-client, rotate)\n");
            return EXIT_USAGE;
        }
        sub = argv[2];
        shift = 2;
    }
    /* The database, its WAL and key files hold ciphertext and key material:
     * nobody but the owner has any business reading them. */
    umask(077);
    config cfg = {0};
    int rc = parse_flags(argc - shift, argv + shift, &cfg);
    if (rc > 0)
        return usage(stdout);
    if (rc < 0)
        return EXIT_USAGE;
    if (sodium_init() < 0) {
        fprintf(stderr, "minbilld: libsodium failed to initialise\n");
        return 1;
    }
    mb_error cerr;
    if (mb_clock_init_from_env(&cerr) < 0) {
        fprintf(stderr, "minbilld: %s\n", cerr.msg);
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(&cfg);
    if (strcmp(cmd, "migrate") == 0)
        return cmd_migrate(&cfg);
    if (sub != NULL && strcmp(sub, "init") == 0)
        return cmd_keys_init(&cfg);
    if (sub != NULL && strcmp(sub, "create-api-key") == 0)
        return cmd_create_api_key(&cfg);
    if (sub != NULL && strcmp(sub, "allow-client") == 0)
        return cmd_allow_client(&cfg);
    if (sub != NULL && strcmp(sub, "revoke-api-key") == 0)
        return cmd_revoke_api_key(&cfg);
    if (sub != NULL && strcmp(sub, "list-api-keys") == 0)
        return cmd_list_api_keys(&cfg);
    if (sub != NULL && strcmp(sub, "rotate") == 0)
        return cmd_keys_rotate(&cfg);
    if (strcmp(cmd, "purge") == 0)
        return cmd_purge(&cfg);
    if (strcmp(cmd, "backup") == 0)
        return cmd_backup(&cfg);
    fprintf(stderr, "minbilld: unknown command '%s%s%s' (see minbilld --help)\n", cmd,
            sub ? " " : "", sub ? sub : "");
    return EXIT_USAGE;
}

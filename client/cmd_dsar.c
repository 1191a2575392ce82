/*
 * cmd_dsar.c - see cmd_dsar.h.
 *
 * The export is written to an unnamed file (O_TMPFILE) in FILE's directory
 * and linked in as FILE only after the server ended the stream with OK and
 * the data is on disk, so an interrupted or refused export, even a killed
 * tool, leaves nothing behind, and a FILE that appeared meanwhile is never
 * overwritten (linkat fails with EEXIST). Where the file system has no
 * O_TMPFILE, a named temporary file takes its place.
 */
#include "cmd_dsar.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "cli_rpc.h"
#include "cmd_account.h"
#include "table.h"

#define LIST_PAGE 100
#define PROGRESS_EVERY_NS 100000000 /* redraw at most every 100 ms */
#define SCOPE_SHOWN 3               /* subject ids in a list row; then "+N more" */
#define CONFIRM_MAX 256

#define PRIVACY "/minbill.v1.Privacy/"

/* --- shared ------------------------------------------------------------------ */

/* The value of an enum whose table_enum_word is word ("access"); -1 if none
 * (the zero value never matches: "unspecified" is no choice). */
static int enum_parse(const ProtobufCEnumDescriptor *d, const char *word)
{
    for (unsigned i = 0; i < d->n_values; i++) {
        char w[64];
        if (d->values[i].value != 0 &&
            strcmp(table_enum_word(d, d->values[i].value, w, sizeof w), word) == 0)
            return d->values[i].value;
    }
    return -1;
}

static const char KINDS[] = "access, rectification, erasure, restriction, portability or objection";

/* 0 when the flag is absent or non-empty; -1 with why for an empty value,
 * which changes or selects nothing and is most likely a shell variable that
 * was not set. */
static int not_empty(const char *flag, const char *value, char *why, size_t why_size)
{
    if (value == NULL || value[0] != '\0')
        return 0;
    snprintf(why, why_size, "--%s: must not be empty", flag);
    return -1;
}

/* A timestamp for people: "2026-12-04 09:30 UTC"; "" if ts is NULL. */
static const char *when(const Google__Protobuf__Timestamp *ts, char *buf, size_t size)
{
    time_t t = ts != NULL ? (time_t)ts->seconds : 0;
    struct tm tm;
    buf[0] = '\0';
    if (ts != NULL && gmtime_r(&t, &tm) != NULL)
        strftime(buf, size, "%Y-%m-%d %H:%M UTC", &tm);
    return buf;
}

/* Rows label, then one continuation row per further value. */
static void add_list_rows(table *t, const char *label, char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        table_add(t, (const char *[]){i == 0 ? label : NULL, values[i]});
}

/* The human form of a SubjectRequest. */
static int print_request(const ProtobufCMessage *msg, const void *arg)
{
    (void)arg;
    const Minbill__V1__SubjectRequest *r = (const void *)msg;
    char kind[32], state[48], received[32], due[48], orig[32], done[32];
    table_enum_word(&minbill__v1__subject_request_kind__descriptor, (int)r->kind, kind,
                    sizeof kind);
    table_enum_word(&minbill__v1__subject_request_state__descriptor, (int)r->state, state,
                    sizeof state);
    when(r->due_at, due, sizeof due);
    if (r->overdue)
        strncat(due, " (overdue)", sizeof due - strlen(due) - 1);
    table t;
    table_init(&t, 2, NULL);
    table_add(&t, (const char *[]){"request id", r->request_id});
    table_add(&t, (const char *[]){"kind", kind});
    table_add(&t, (const char *[]){"state", state});
    table_add(&t, (const char *[]){"received", when(r->received_at, received, sizeof received)});
    table_add(&t, (const char *[]){"due", due});
    if (r->original_due_at != NULL) {
        table_add(&t,
                  (const char *[]){"extended from", when(r->original_due_at, orig, sizeof orig)});
        table_add(&t, (const char *[]){"extension reason", r->extension_reason});
    }
    if (r->completed_at != NULL)
        table_add(&t, (const char *[]){"closed", when(r->completed_at, done, sizeof done)});
    if (r->outcome_reason[0] != '\0')
        table_add(&t, (const char *[]){"reason", r->outcome_reason});
    table_add(&t, (const char *[]){"verified by", r->verified_by});
    if (r->n_contact_ids == 0 && r->n_account_ids == 0)
        table_add(&t, (const char *[]){"subject", "nothing matched: billing holds no data on it"});
    add_list_rows(&t, "contacts", r->contact_ids, r->n_contact_ids);
    add_list_rows(&t, "accounts", r->account_ids, r->n_account_ids);
    add_list_rows(&t, "notify (Art. 19)", r->notify_recipients, r->n_notify_recipients);
    int rc = table_print(&t, stdout);
    table_free(&t);
    return rc;
}

/* A command that sends req with the request id of its one argument and
 * prints the SubjectRequest it gets back. */
static int request_call(cli_ctx *ctx, const char *method, const ProtobufCMessage *req)
{
    return table_show(ctx, method, req, &minbill__v1__subject_request__descriptor, print_request,
                      NULL);
}

/* Ends a help text: the common exit status. */
#define EXIT_HELP                                                                                  \
    "exit status: 0 ok; 1 if the server refused (INVALID_ARGUMENT, NOT_FOUND,\n"                   \
    "FAILED_PRECONDITION, PERMISSION_DENIED); 2 usage error; 3 if the server cannot\n"             \
    "be reached.\n"

/* --- dsar open ----------------------------------------------------------------- */

enum { OPEN_EMAIL, OPEN_CONTACT, OPEN_ACCOUNT, OPEN_KIND, OPEN_VERIFIED_BY };
static const cli_flag open_flags[] = {
    [OPEN_EMAIL] = {"email", "E"},
    [OPEN_CONTACT] = {"contact", "[ACCOUNT_ID/]CONTACT_ID"},
    [OPEN_ACCOUNT] = {"account", "ID"},
    [OPEN_KIND] = {"kind", "KIND"},
    [OPEN_VERIFIED_BY] = {"verified-by", "WHO"},
    {NULL, NULL},
};

int dsar_build_open(const cli_args *args, Minbill__V1__OpenSubjectRequestRequest *req, char *why,
                    size_t why_size)
{
    const char *const *f = args->flag;
    minbill__v1__open_subject_request_request__init(req);
    int subjects = (f[OPEN_EMAIL] != NULL) + (f[OPEN_CONTACT] != NULL) + (f[OPEN_ACCOUNT] != NULL);
    if (subjects != 1) {
        snprintf(why, why_size, "give exactly one of --email, --contact and --account");
        return -1;
    }
    if (f[OPEN_KIND] == NULL || f[OPEN_VERIFIED_BY] == NULL) {
        snprintf(why, why_size, "--%s is required", f[OPEN_KIND] == NULL ? "kind" : "verified-by");
        return -1;
    }
    for (int i = OPEN_EMAIL; i <= OPEN_VERIFIED_BY; i++)
        if (not_empty(open_flags[i].name, f[i], why, why_size) != 0)
            return -1;
    int kind = enum_parse(&minbill__v1__subject_request_kind__descriptor, f[OPEN_KIND]);
    if (kind < 0) {
        snprintf(why, why_size, "--kind: must be %s", KINDS);
        return -1;
    }
    req->kind = (Minbill__V1__SubjectRequestKind)kind;
    req->verified_by = (char *)f[OPEN_VERIFIED_BY];
    if (f[OPEN_EMAIL] != NULL) {
        req->subject_case = MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__SUBJECT_EMAIL;
        req->email = (char *)f[OPEN_EMAIL];
    } else if (f[OPEN_CONTACT] != NULL) {
        req->subject_case = MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__SUBJECT_CONTACT_ID;
        req->contact_id = (char *)f[OPEN_CONTACT];
    } else {
        req->subject_case = MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__SUBJECT_ACCOUNT_ID;
        req->account_id = (char *)f[OPEN_ACCOUNT];
    }
    return 0;
}

static int open_run(cli_ctx *ctx, const cli_args *args)
{
    Minbill__V1__OpenSubjectRequestRequest req;
    char why[160];
    if (dsar_build_open(args, &req, why, sizeof why) != 0)
        return cli_usage_error(ctx, "%s", why);
    return request_call(ctx, PRIVACY "OpenSubjectRequest", &req.base);
}

const cli_command cmd_dsar_open = {
    .name = "dsar open",
    .synopsis = "(--email E | --contact [ACCOUNT_ID/]CONTACT_ID | --account ID) --kind KIND "
                "--verified-by WHO",
    .summary = "open a data-subject request (access, erasure, ...)",
    .help = "Calls minbill.v1.Privacy/OpenSubjectRequest and prints the new request: its id,\n"
            "kind, state, when it was received and when it is due (one calendar month\n"
            "later, Art. 12(3)), and the contacts and accounts it covers.\n"
            "\n"
            "The subject, exactly one of:\n"
            "  --email E       every contact with this e-mail address on any account. The\n"
            "                  address is matched, never stored; if it matches nothing the\n"
            "                  request still opens, and its export says billing holds no\n"
            "                  data about it.\n"
            "  --contact [ACCOUNT_ID/]CONTACT_ID\n"
            "                  one contact. Contact ids are chosen per account: give the\n"
            "                  account too (acc-1/c1); a bare id works while only one\n"
            "                  account has it.\n"
            "  --account ID    every contact of the account and the account's own fields\n"
            "                  (a sole trader's name and address are personal data).\n"
            "\n"
            "  --kind KIND         access, rectification, erasure, restriction, portability,\n"
            "                      or objection (to marketing use: takes effect at once, and\n"
            "                      the request is completed when it opens)\n"
            "  --verified-by WHO   who checked the requester's identity (a staff or key\n"
            "                      name; stored, so no e-mail address or phone number)\n"
            "\n"
            "Roles: privacy, support. With --json: the SubjectRequest message.\n"
            "\n" EXIT_HELP,
    .flags = open_flags,
    .min_args = 0,
    .max_args = 0,
    .run = open_run,
};

/* --- dsar list ----------------------------------------------------------------- */

enum { LIST_OVERDUE, LIST_STATE, LIST_KIND, LIST_ACCOUNT };
static const cli_flag list_flags[] = {
    [LIST_OVERDUE] = {"overdue", NULL},
    [LIST_STATE] = {"state", "open|completed|rejected"},
    [LIST_KIND] = {"kind", "KIND"},
    [LIST_ACCOUNT] = {"account", "ID"},
    {NULL, NULL},
};

int dsar_build_list(const cli_args *args, Minbill__V1__ListSubjectRequestsRequest *req, char *why,
                    size_t why_size)
{
    const char *const *f = args->flag;
    minbill__v1__list_subject_requests_request__init(req);
    req->overdue = f[LIST_OVERDUE] != NULL;
    if (f[LIST_STATE] != NULL) {
        int state = enum_parse(&minbill__v1__subject_request_state__descriptor, f[LIST_STATE]);
        if (state < 0) {
            snprintf(why, why_size, "--state: must be open, completed or rejected");
            return -1;
        }
        req->state = (Minbill__V1__SubjectRequestState)state;
    }
    if (f[LIST_KIND] != NULL) {
        int kind = enum_parse(&minbill__v1__subject_request_kind__descriptor, f[LIST_KIND]);
        if (kind < 0) {
            snprintf(why, why_size, "--kind: must be %s", KINDS);
            return -1;
        }
        req->kind = (Minbill__V1__SubjectRequestKind)kind;
    }
    if (not_empty("account", f[LIST_ACCOUNT], why, why_size) != 0)
        return -1;
    if (f[LIST_ACCOUNT] != NULL)
        req->account_id = (char *)f[LIST_ACCOUNT];
    return 0;
}

/* What a request covers, short: "acc-1/c1, acc-1/c2, acc-2/c9 +2 more". */
static void scope_text(const Minbill__V1__SubjectRequest *r, char *buf, size_t size)
{
    size_t n = r->n_contact_ids + r->n_account_ids, used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && i < SCOPE_SHOWN && used < size; i++) {
        const char *id =
            i < r->n_account_ids ? r->account_ids[i] : r->contact_ids[i - r->n_account_ids];
        used += (size_t)snprintf(buf + used, size - used, "%s%s%s", i ? ", " : "",
                                 i < r->n_account_ids ? "account " : "", id);
    }
    if (n > SCOPE_SHOWN && used < size)
        snprintf(buf + used, size - used, " +%zu more", n - SCOPE_SHOWN);
}

static void add_request_row(table *t, const ProtobufCMessage *msg)
{
    const Minbill__V1__SubjectRequest *r = (const void *)msg;
    char kind[32], state[48], received[16], due[16], scope[512];
    table_enum_word(&minbill__v1__subject_request_kind__descriptor, (int)r->kind, kind,
                    sizeof kind);
    table_enum_word(&minbill__v1__subject_request_state__descriptor, (int)r->state, state,
                    sizeof state);
    if (r->overdue)
        strncat(state, ", overdue", sizeof state - strlen(state) - 1);
    scope_text(r, scope, sizeof scope);
    table_add(t, (const char *[]){r->request_id, kind, state,
                                  table_date(r->received_at, received, sizeof received),
                                  table_date(r->due_at, due, sizeof due),
                                  scope[0] ? scope : "nothing matched"});
}

static int list_run(cli_ctx *ctx, const cli_args *args)
{
    Minbill__V1__ListSubjectRequestsRequest req;
    char why[160];
    if (dsar_build_list(args, &req, why, sizeof why) != 0)
        return cli_usage_error(ctx, "%s", why);
    req.page_size = LIST_PAGE;
    table t;
    table_init(&t, 6, (const char *[]){"ID", "KIND", "STATE", "RECEIVED", "DUE", "SUBJECT"});
    return table_list_pages(ctx, PRIVACY "ListSubjectRequests", &req.base,
                            &minbill__v1__list_subject_requests_response__descriptor, "requests",
                            &t, add_request_row, "no requests");
}

const cli_command cmd_dsar_list = {
    .name = "dsar list",
    .synopsis = "[--overdue] [--state open|completed|rejected] [--kind KIND] [--account ID]",
    .summary = "list data-subject requests",
    .help = "Calls minbill.v1.Privacy/ListSubjectRequests, page after page, and prints a\n"
            "table: id, kind, state (with 'overdue' for open requests past their due date),\n"
            "received and due dates, and what the request covers (contacts as\n"
            "ACCOUNT_ID/CONTACT_ID, accounts), oldest first. Filters combine:\n"
            "\n"
            "  --overdue        only open requests past their due date\n"
            "  --state STATE    open, completed or rejected\n"
            "  --kind KIND      access, rectification, erasure, restriction, portability,\n"
            "                   objection\n"
            "  --account ID     requests covering this account or one of its contacts\n"
            "\n"
            "Roles: privacy. With --json: {\"requests\":[...]}, each a SubjectRequest.\n"
            "\n" EXIT_HELP,
    .flags = list_flags,
    .min_args = 0,
    .max_args = 0,
    .run = list_run,
};

/* --- dsar show ----------------------------------------------------------------- */

static int show_run(cli_ctx *ctx, const cli_args *args)
{
    Minbill__V1__GetSubjectRequestRequest req = MINBILL__V1__GET_SUBJECT_REQUEST_REQUEST__INIT;
    req.request_id = (char *)args->arg[0];
    return request_call(ctx, PRIVACY "GetSubjectRequest", &req.base);
}

const cli_command cmd_dsar_show = {
    .name = "dsar show",
    .synopsis = "ID",
    .summary = "show a data-subject request",
    .help = "Calls minbill.v1.Privacy/GetSubjectRequest and prints the request: kind,\n"
            "state, received, due (and whether it is overdue), an extension and its reason,\n"
            "when and why it was closed, who verified the requester, the contacts\n"
            "(ACCOUNT_ID/CONTACT_ID) and accounts it covers, and the recipients recorded as\n"
            "to be notified of a rectification or erasure (Art. 19).\n"
            "\n"
            "Roles: privacy. With --json: the SubjectRequest message.\n"
            "\n" EXIT_HELP,
    .flags = NULL,
    .min_args = 1,
    .max_args = 1,
    .run = show_run,
};

/* --- dsar export --------------------------------------------------------------- */

/* The file an export is written to until it is complete. */
typedef struct export_file {
    int fd;
    char tmp[4096]; /* a named temporary file; "" for an O_TMPFILE one */
} export_file;

/* Opens an unnamed file (or, without O_TMPFILE, a named temporary one) in
 * the directory of path. 0, or -1 with errno set. */
static int export_file_open(export_file *x, const char *path)
{
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) {
        errno = ENAMETOOLONG;
        return -1;
    }
    x->tmp[0] = '\0';
    x->fd = open(dirname(dir), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (x->fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
        return x->fd >= 0 ? 0 : -1;
    if (snprintf(x->tmp, sizeof x->tmp, "%s.XXXXXX", path) >= (int)sizeof x->tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    x->fd = mkostemp(x->tmp, O_CLOEXEC); /* mode 0600 */
    if (x->fd < 0)
        x->tmp[0] = '\0';
    return x->fd >= 0 ? 0 : -1;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Gives the complete file its name: on disk first, then linked as path,
 * which fails (EEXIST) rather than replace a file. 0, or -1 with errno. */
static int export_file_commit(export_file *x, const char *path)
{
    if (fsync(x->fd) != 0)
        return -1;
    int rc;
    if (x->tmp[0] != '\0') {
        rc = link(x->tmp, path);
    } else {
        char self[64];
        snprintf(self, sizeof self, "/proc/self/fd/%d", x->fd);
        rc = linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
    }
    int e = errno;
    if (rc == 0 && close(x->fd) != 0) {
        e = errno;
        unlink(path);
        rc = -1;
    } else if (rc != 0) {
        close(x->fd);
    }
    x->fd = -1;
    if (x->tmp[0] != '\0')
        unlink(x->tmp);
    errno = e;
    return rc;
}

/* Drops what was written. */
static void export_file_discard(export_file *x)
{
    if (x->fd >= 0)
        close(x->fd);
    x->fd = -1;
    if (x->tmp[0] != '\0')
        unlink(x->tmp);
}

static void draw_bytes(long long bytes, bool done)
{
    fprintf(stderr, "\rexported %lld bytes%s", bytes, done ? "\n" : "");
    fflush(stderr);
}

/* Receives the chunks of call into x; returns the bytes, or -1 with *write_error
 * set if writing failed (the call is left to fail or finish). */
static long long receive_chunks(mbc_call_t *call, export_file *x, bool progress, int *write_error)
{
    long long bytes = 0;
    int64_t last_draw = 0;
    uint8_t *msg;
    size_t len;
    *write_error = 0;
    while (mbc_call_recv(call, &msg, &len) == 1) {
        Minbill__V1__ExportChunk *c = minbill__v1__export_chunk__unpack(NULL, len, msg);
        free(msg);
        if (c == NULL) {
            *write_error = EPROTO;
            return -1;
        }
        int rc = write_all(x->fd, c->data.data, c->data.len);
        bytes += (long long)c->data.len;
        minbill__v1__export_chunk__free_unpacked(c, NULL);
        if (rc != 0) {
            *write_error = errno;
            return -1;
        }
        int64_t now = mb_mono_ns();
        if (progress && now - last_draw > PROGRESS_EVERY_NS) {
            draw_bytes(bytes, false);
            last_draw = now;
        }
    }
    return bytes;
}

enum { EXPORT_OUT };
static const cli_flag export_flags[] = {[EXPORT_OUT] = {"out", "FILE"}, {NULL, NULL}};

static int export_run(cli_ctx *ctx, const cli_args *args)
{
    const char *out = args->flag[EXPORT_OUT];
    char w[CLI_WORD_MAX];
    if (out == NULL)
        return cli_usage_error(ctx, "--out is required");
    if (out[0] == '\0')
        return cli_usage_error(ctx, "--out: must name a file");
    /* Checked before the call too: an export is audited, so one that could
     * not be kept should not be made. */
    struct stat st;
    if (lstat(out, &st) == 0)
        return cli_fail(ctx, CLI_FAILED, "--out: %s exists; give a new file",
                        cli_word(ctx, out, w, sizeof w));
    export_file x;
    if (export_file_open(&x, out) != 0)
        return cli_fail(ctx, CLI_FAILED, "--out: cannot create %s: %s",
                        cli_word(ctx, out, w, sizeof w), strerror(errno));
    int rc = cli_rpc_connect(ctx);
    if (rc != CLI_OK) {
        export_file_discard(&x);
        return rc;
    }
    Minbill__V1__ExportSubjectDataRequest req = MINBILL__V1__EXPORT_SUBJECT_DATA_REQUEST__INIT;
    req.request_id = (char *)args->arg[0];
    mbc_call_t *call =
        mbc_call_start(ctx->ch, PRIVACY "ExportSubjectData", ctx->api_key, cli_remaining_ms(ctx));
    if (call == NULL || mbc_call_send_msg(call, &req.base) != 0 || mbc_call_close_send(call) != 0) {
        mbc_call_free(call);
        export_file_discard(&x);
        return cli_fail(ctx, CLI_FAILED, "could not start the export");
    }
    bool progress = !ctx->json && isatty(STDERR_FILENO);
    int write_error;
    long long bytes = receive_chunks(call, &x, progress, &write_error);
    if (progress && bytes >= 0)
        draw_bytes(bytes, true);
    mb_error status;
    mb_error_clear(&status);
    int ended = bytes < 0 ? -1 : mbc_call_finish(call, &status);
    mbc_call_free(call); /* cancels a call left running by a write error */
    if (bytes < 0) {
        export_file_discard(&x);
        return cli_fail(ctx, CLI_FAILED, "--out: writing %s failed: %s; nothing was kept",
                        cli_word(ctx, out, w, sizeof w),
                        write_error == EPROTO ? "the server sent a malformed chunk"
                                              : strerror(write_error));
    }
    if (ended != 0) {
        export_file_discard(&x);
        return cli_rpc_fail_status(ctx, &status);
    }
    if (export_file_commit(&x, out) != 0)
        return cli_fail(ctx, CLI_FAILED, "--out: cannot save %s: %s",
                        cli_word(ctx, out, w, sizeof w), strerror(errno));
    if (ctx->json) {
        json_out j;
        json_out_init(&j, stdout);
        json_out_object_begin(&j);
        json_out_key(&j, "request_id");
        json_out_string(&j, req.request_id);
        json_out_key(&j, "file");
        json_out_string(&j, out);
        json_out_key(&j, "bytes");
        json_out_int(&j, bytes);
        json_out_object_end(&j);
        json_out_finish(&j); /* a write error is cli_main's to report */
    } else {
        char *name = table_clean(out);
        printf("wrote %lld bytes to %s\n", bytes, name != NULL ? name : "the file");
        free(name);
    }
    return CLI_OK;
}

const cli_command cmd_dsar_export = {
    .name = "dsar export",
    .synopsis = "ID --out FILE",
    .summary = "save everything held about a request's subject as one JSON document",
    .help = "Calls minbill.v1.Privacy/ExportSubjectData for an access or portability\n"
            "request and writes the streamed document to FILE, which must not exist yet.\n"
            "The document is one versioned JSON object: every personal value held about the\n"
            "subject, usage, invoices, earlier requests, who accessed the data, and the\n"
            "Art. 15 information (purposes, categories, recipients, retention, source,\n"
            "rights); what the subject provided is marked as the portable subset (Art. 20).\n"
            "\n"
            "FILE holds personal data: it is created with mode 0600, and appears only once\n"
            "the whole document arrived and is on disk. A refused or interrupted export\n"
            "leaves no file. On a terminal the bytes received so far are shown on stderr.\n"
            "The export is audited; large ones may need a longer --timeout.\n"
            "\n"
            "Roles: privacy. With --json: {\"request_id\", \"file\", \"bytes\"}.\n"
            "\n"
            "exit status: 0 ok; 1 if the server refused or FILE could not be written;\n"
            "2 usage error; 3 if the server cannot be reached.\n",
    .flags = export_flags,
    .min_args = 1,
    .max_args = 1,
    .run = export_run,
};

/* --- dsar rectify -------------------------------------------------------------- */

enum {
    RECT_ACCOUNT,
    RECT_LEGAL_NAME,
    RECT_LINE1,
    RECT_LINE2,
    RECT_POSTAL_CODE,
    RECT_CITY,
    RECT_COUNTRY,
    RECT_VAT_ID,
    RECT_CONTACT,
    RECT_NAME,
    RECT_EMAIL,
    RECT_PHONE,
    RECT_CLEAR,
    RECT_N
};
static const cli_flag rectify_flags[] = {
    [RECT_ACCOUNT] = {"account", "ID"},
    [RECT_LEGAL_NAME] = {"legal-name", "TEXT"},
    [RECT_LINE1] = {"address-line1", "TEXT"},
    [RECT_LINE2] = {"address-line2", "TEXT"},
    [RECT_POSTAL_CODE] = {"postal-code", "CODE"},
    [RECT_CITY] = {"city", "TEXT"},
    [RECT_COUNTRY] = {"country-code", "CC"},
    [RECT_VAT_ID] = {"vat-id", "ID"},
    [RECT_CONTACT] = {"contact", "[ACCOUNT_ID/]CONTACT_ID"},
    [RECT_NAME] = {"name", "TEXT"},
    [RECT_EMAIL] = {"email", "E"},
    [RECT_PHONE] = {"phone", "E164"},
    [RECT_CLEAR] = {"clear", "FIELD[,FIELD...]"},
    {NULL, NULL},
};

/* What --clear may name: its RectifySubjectRequest field, whether it is the
 * contact's, and the flag that would give it a value instead. */
static const struct {
    const char *name, *field;
    bool contact;
    int value_flag;
} CLEARABLE[DSAR_CLEAR_MAX] = {
    {"vat-id", "vat_id", false, RECT_VAT_ID},
    {"address-line2", "billing_address.line2", false, RECT_LINE2},
    {"name", "name", true, RECT_NAME},
    {"email", "email", true, RECT_EMAIL},
    {"phone", "phone", true, RECT_PHONE},
};

static bool any_flag(const cli_args *args, int from, int to)
{
    for (int i = from; i <= to; i++)
        if (args->flag[i] != NULL)
            return true;
    return false;
}

/* "" for an absent flag: the server keeps what an empty field would set. */
static char *or_empty(const char *value)
{
    return (char *)(value != NULL ? value : "");
}

/* Sets c->contact and the account id from --contact [ACCOUNT_ID/]CONTACT_ID
 * and --account. */
static int rectify_subject(const cli_args *args, dsar_changes *c, char *why, size_t why_size)
{
    const char *const *f = args->flag;
    const char *account = f[RECT_ACCOUNT], *contact = f[RECT_CONTACT];
    const char *slash = contact != NULL ? strchr(contact, '/') : NULL;
    if (slash != NULL) {
        size_t n = (size_t)(slash - contact);
        if (n == 0 || n > DSAR_ID_MAX || slash[1] == '\0') {
            snprintf(why, why_size,
                     "--contact: must be CONTACT_ID or ACCOUNT_ID/CONTACT_ID, ids "
                     "of 1 to %d characters",
                     DSAR_ID_MAX);
            return -1;
        }
        memcpy(c->account_id, contact, n);
        c->account_id[n] = '\0';
        if (account != NULL && strcmp(account, c->account_id) != 0) {
            snprintf(why, why_size, "--contact: its ACCOUNT_ID part is not --account");
            return -1;
        }
        account = c->account_id;
        contact = slash + 1;
    }
    if (account == NULL) {
        snprintf(why, why_size,
                 "--account is required (or give --contact as ACCOUNT_ID/CONTACT_ID)");
        return -1;
    }
    c->account.account_id = (char *)account;
    if (contact == NULL)
        return 0;
    c->contact.contact_id = (char *)contact;
    c->contact.name = or_empty(f[RECT_NAME]);
    c->contact.email = or_empty(f[RECT_EMAIL]);
    c->contact.phone = or_empty(f[RECT_PHONE]);
    c->contacts[0] = &c->contact;
    c->account.contacts = c->contacts;
    c->account.n_contacts = 1;
    return 0;
}

/* Fills c->clear from --clear's comma-separated names; *contact: one of
 * them is a contact's field. */
static int rectify_clear(const cli_args *args, dsar_changes *c, bool *contact, char *why,
                         size_t why_size)
{
    const char *list = args->flag[RECT_CLEAR];
    *contact = false;
    for (const char *p = list; p != NULL;) {
        size_t len = strcspn(p, ",");
        size_t k = 0;
        while (k < DSAR_CLEAR_MAX &&
               (strlen(CLEARABLE[k].name) != len || strncmp(CLEARABLE[k].name, p, len) != 0))
            k++;
        if (k == DSAR_CLEAR_MAX) {
            snprintf(why, why_size,
                     "--clear: each FIELD must be vat-id, address-line2, name, email or phone");
            return -1;
        }
        if (args->flag[CLEARABLE[k].value_flag] != NULL) {
            snprintf(why, why_size, "--clear %s: --%s also gives it a value", CLEARABLE[k].name,
                     rectify_flags[CLEARABLE[k].value_flag].name);
            return -1;
        }
        bool seen = false;
        for (size_t i = 0; i < c->n_clear; i++)
            seen = seen || c->clear[i].field == CLEARABLE[k].field;
        if (!seen) {
            Minbill__V1__ClearedField *f = &c->clear[c->n_clear++];
            minbill__v1__cleared_field__init(f);
            f->field = (char *)CLEARABLE[k].field;
            c->clears[c->n_clear - 1] = f;
        }
        *contact = *contact || CLEARABLE[k].contact;
        p = p[len] == ',' ? p + len + 1 : NULL;
    }
    return 0;
}

int dsar_build_rectify(const cli_args *args, dsar_changes *c,
                       Minbill__V1__RectifySubjectRequest *req, char *why, size_t why_size)
{
    const char *const *f = args->flag;
    minbill__v1__rectify_subject_request__init(req);
    minbill__v1__account__init(&c->account);
    minbill__v1__postal_address__init(&c->address);
    minbill__v1__contact__init(&c->contact);
    c->account_id[0] = '\0';
    c->n_clear = 0;
    for (int i = 0; i < RECT_N; i++)
        if (not_empty(rectify_flags[i].name, f[i], why, why_size) != 0)
            return -1;
    bool clear_contact;
    if (rectify_clear(args, c, &clear_contact, why, why_size) != 0)
        return -1;
    bool account_fields = any_flag(args, RECT_LEGAL_NAME, RECT_VAT_ID);
    bool contact_fields = any_flag(args, RECT_NAME, RECT_PHONE) || clear_contact;
    if (!account_fields && !contact_fields && c->n_clear == 0) {
        snprintf(why, why_size,
                 "nothing to change: give account fields (--legal-name, "
                 "--address-line1, ...), --contact with --name, --email "
                 "or --phone, or --clear");
        return -1;
    }
    if (contact_fields != (f[RECT_CONTACT] != NULL)) {
        snprintf(why, why_size,
                 contact_fields ? "--name, --email, --phone and --clear name|email|phone need "
                                  "--contact"
                                : "--contact needs --name, --email, --phone or --clear "
                                  "name|email|phone");
        return -1;
    }
    if (rectify_subject(args, c, why, why_size) != 0)
        return -1;
    c->account.legal_name = or_empty(f[RECT_LEGAL_NAME]);
    c->account.vat_id = or_empty(f[RECT_VAT_ID]);
    if (any_flag(args, RECT_LINE1, RECT_COUNTRY)) {
        c->address.line1 = or_empty(f[RECT_LINE1]);
        c->address.line2 = or_empty(f[RECT_LINE2]);
        c->address.postal_code = or_empty(f[RECT_POSTAL_CODE]);
        c->address.city = or_empty(f[RECT_CITY]);
        c->address.country_code = or_empty(f[RECT_COUNTRY]);
        c->account.billing_address = &c->address;
    }
    for (size_t i = 0; i < c->n_clear; i++)
        for (size_t k = 0; k < DSAR_CLEAR_MAX; k++)
            if (c->clear[i].field == CLEARABLE[k].field && CLEARABLE[k].contact)
                c->clear[i].contact_id = c->contact.contact_id;
    req->request_id = (char *)args->arg[0];
    req->changes = &c->account;
    req->clear = c->clears;
    req->n_clear = c->n_clear;
    return 0;
}

/* The rectified account, then the recipients to notify (Art. 19). */
static int print_rectified(const ProtobufCMessage *msg, const void *arg)
{
    const Minbill__V1__Account *a = (const void *)msg;
    if (cmd_account_print(msg, arg) != 0)
        return -1;
    if (a->n_notified_recipients == 0) {
        printf("\nrecipients to notify (Art. 19): none\n");
        return 0;
    }
    table t;
    table_init(&t, 1, (const char *[]){"RECIPIENTS TO NOTIFY (Art. 19)"});
    for (size_t i = 0; i < a->n_notified_recipients; i++)
        table_add(&t, (const char *[]){a->notified_recipients[i]});
    printf("\n");
    int rc = table_print(&t, stdout);
    table_free(&t);
    return rc;
}

static int rectify_run(cli_ctx *ctx, const cli_args *args)
{
    dsar_changes c;
    Minbill__V1__RectifySubjectRequest req;
    char why[200];
    if (dsar_build_rectify(args, &c, &req, why, sizeof why) != 0)
        return cli_usage_error(ctx, "%s", why);
    return table_show(ctx, PRIVACY "RectifySubject", &req.base, &minbill__v1__account__descriptor,
                      print_rectified, NULL);
}

const cli_command cmd_dsar_rectify = {
    .name = "dsar rectify",
    .synopsis = "ID [--account ID] [--legal-name TEXT] [--address-line1 TEXT] "
                "[--address-line2 TEXT] [--postal-code CODE] [--city TEXT] [--country-code CC] "
                "[--vat-id ID] [--contact [ACCOUNT_ID/]CONTACT_ID [--name TEXT] [--email E] "
                "[--phone E164]] [--clear FIELD[,FIELD...]]",
    .summary = "correct a subject's data for a rectification request",
    .help = "Calls minbill.v1.Privacy/RectifySubject for a rectification request: the\n"
            "fields given replace the stored ones (validated as when the platform stores\n"
            "them); fields not given stay; --clear removes stored values.\n"
            "\n"
            "  --account ID   the account (one the request covers); may be left out when\n"
            "                 --contact is given as ACCOUNT_ID/CONTACT_ID\n"
            "  --legal-name, --address-line1, --address-line2, --postal-code, --city,\n"
            "  --country-code, --vat-id   the account's own fields\n"
            "  --contact [ACCOUNT_ID/]CONTACT_ID   a contact the request covers, with\n"
            "  --name, --email, --phone   its new values\n"
            "  --clear FIELD[,FIELD...]   values to remove: vat-id, address-line2 (the\n"
            "                 account's), name, email, phone (--contact's); the other\n"
            "                 fields are required: they can be replaced, not removed\n"
            "\n"
            "Prints the account as it now is (in full) and the recipients recorded as to be\n"
            "notified of the correction (Art. 19). Roles: privacy. With --json: the Account\n"
            "message; notified_recipients lists the recipients.\n"
            "\n" EXIT_HELP,
    .flags = rectify_flags,
    .min_args = 1,
    .max_args = 1,
    .run = rectify_run,
};

/* --- dsar restrict ------------------------------------------------------------- */

static void add_item(table *t, const char *category, const char *id, int64_t count)
{
    char n[24];
    snprintf(n, sizeof n, "%lld", (long long)count);
    table_add(t, (const char *[]){category, id, n});
}

/* Prints title and the (category, id, count) rows of t, or "title: none". */
static int print_items(const char *title, const table *t)
{
    if (t->n_rows == 0 && !t->failed) {
        printf("%s: none\n", title);
        return 0;
    }
    printf("%s\n", title);
    return table_print(t, stdout);
}

/* The request's line, then what was restricted (--json has the request in
 * full; `dsar show` too). */
static int print_restricted(const ProtobufCMessage *msg, const void *arg)
{
    (void)arg;
    const Minbill__V1__RestrictSubjectResponse *r = (const void *)msg;
    if (r->request != NULL) {
        char state[32], *id = table_clean(r->request->request_id);
        table_enum_word(&minbill__v1__subject_request_state__descriptor, (int)r->request->state,
                        state, sizeof state);
        printf("request %s: %s\n", id != NULL ? id : "?", state);
        free(id);
    }
    table t;
    table_init(&t, 3, (const char *[]){"CATEGORY", "ID", "COUNT"});
    for (size_t i = 0; i < r->n_restricted; i++)
        add_item(&t, r->restricted[i]->category, r->restricted[i]->id, r->restricted[i]->count);
    printf("\n");
    int rc = print_items("restricted (kept, processed only under a legal duty)", &t);
    table_free(&t);
    return rc;
}

static int restrict_run(cli_ctx *ctx, const cli_args *args)
{
    Minbill__V1__RestrictSubjectRequest req = MINBILL__V1__RESTRICT_SUBJECT_REQUEST__INIT;
    req.request_id = (char *)args->arg[0];
    return table_show(ctx, PRIVACY "RestrictSubject", &req.base,
                      &minbill__v1__restrict_subject_response__descriptor, print_restricted, NULL);
}

const cli_command cmd_dsar_restrict = {
    .name = "dsar restrict",
    .synopsis = "ID",
    .summary = "restrict processing of a subject's data (Art. 18)",
    .help = "Calls minbill.v1.Privacy/RestrictSubject for a restriction request: the\n"
            "subject's data stays stored, but every purpose except the export and legal\n"
            "duties sees it masked or not at all. Prints the request's new state\n"
            "(completed) and a table of what was restricted (category, id, count).\n"
            "\n"
            "Roles: privacy. With --json: the RestrictSubjectResponse message.\n"
            "\n" EXIT_HELP,
    .flags = NULL,
    .min_args = 1,
    .max_args = 1,
    .run = restrict_run,
};

/* --- dsar erase ---------------------------------------------------------------- */

static int print_erasure(const ProtobufCMessage *msg, const void *arg)
{
    (void)arg;
    const Minbill__V1__ErasureReport *r = (const void *)msg;
    char *id = table_clean(r->request_id);
    printf("request %s: erased\n\n", id != NULL ? id : "?");
    free(id);
    table t;
    table_init(&t, 3, (const char *[]){"CATEGORY", "ID", "COUNT"});
    for (size_t i = 0; i < r->n_erased; i++)
        add_item(&t, r->erased[i]->category, r->erased[i]->id, r->erased[i]->count);
    int rc = print_items("erased", &t);
    table_free(&t);
    if (rc != 0)
        return -1;
    printf("\n");
    if (r->n_retained == 0) {
        printf("kept: nothing\n");
        return 0;
    }
    table_init(&t, 4, (const char *[]){"CATEGORY", "ID", "LEGAL BASIS", "RETAIN UNTIL"});
    for (size_t i = 0; i < r->n_retained; i++) {
        const Minbill__V1__RetainedItem *k = r->retained[i];
        char until[16];
        table_add(&t, (const char *[]){k->category, k->id, k->legal_basis,
                                       table_date(k->retain_until, until, sizeof until)});
    }
    printf("kept (a legal duty outranks erasure; restricted, then purged)\n");
    rc = table_print(&t, stdout);
    table_free(&t);
    return rc;
}

/* On a terminal: shows what the request covers and asks for its id.
 * CLI_OK when the person typed it. */
static int confirm_erasure(cli_ctx *ctx, const char *request_id)
{
    Minbill__V1__GetSubjectRequestRequest get = MINBILL__V1__GET_SUBJECT_REQUEST_REQUEST__INIT;
    get.request_id = (char *)request_id;
    ProtobufCMessage *answer = NULL;
    int rc = cli_rpc_unary(ctx, PRIVACY "GetSubjectRequest", &get.base,
                           &minbill__v1__subject_request__descriptor, &answer);
    if (rc != CLI_OK)
        return rc;
    const Minbill__V1__SubjectRequest *r = (const void *)answer;
    fprintf(stderr, "This destroys for good the personal data of:\n");
    for (size_t i = 0; i < r->n_contact_ids + r->n_account_ids; i++) {
        bool acc = i < r->n_account_ids;
        char *id = table_clean(acc ? r->account_ids[i] : r->contact_ids[i - r->n_account_ids]);
        fprintf(stderr, "  %s %s\n", acc ? "account" : "contact", id != NULL ? id : "?");
        free(id);
    }
    protobuf_c_message_free_unpacked(answer, NULL);
    fprintf(stderr, "Invoices a law requires are kept, restricted.\n"
                    "Type the request id to confirm: ");
    fflush(stderr);
    char line[CONFIRM_MAX];
    if (fgets(line, sizeof line, stdin) == NULL)
        line[0] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    if (strcmp(line, request_id) != 0)
        return cli_fail(ctx, CLI_FAILED, "not confirmed; nothing was erased");
    return CLI_OK;
}

enum { ERASE_YES };
static const cli_flag erase_flags[] = {[ERASE_YES] = {"yes", NULL}, {NULL, NULL}};

static int erase_run(cli_ctx *ctx, const cli_args *args)
{
    const char *id = args->arg[0];
    if (args->flag[ERASE_YES] == NULL) {
        if (!isatty(STDIN_FILENO))
            return cli_usage_error(ctx, "stdin is not a terminal: give --yes to erase without "
                                        "confirmation (nothing was erased)");
        int rc = confirm_erasure(ctx, id);
        if (rc != CLI_OK)
            return rc;
    }
    Minbill__V1__EraseSubjectRequest req = MINBILL__V1__ERASE_SUBJECT_REQUEST__INIT;
    req.request_id = (char *)id;
    return table_show(ctx, PRIVACY "EraseSubject", &req.base,
                      &minbill__v1__erasure_report__descriptor, print_erasure, NULL);
}

const cli_command cmd_dsar_erase = {
    .name = "dsar erase",
    .synopsis = "ID [--yes]",
    .summary = "erase a subject's data for an erasure request (Art. 17)",
    .help = "Calls minbill.v1.Privacy/EraseSubject for an erasure request: the subject's\n"
            "contacts and payment methods are destroyed (their keys first) and their rows\n"
            "deleted; issued invoices, which the law requires to be kept, stay, restricted,\n"
            "until their retention ends. Prints what was erased (category, id, count) and\n"
            "what was kept (category, id, legal basis, retained until).\n"
            "\n"
            "This cannot be undone. On a terminal the tool shows what the request covers\n"
            "and asks you to type the request id; --yes skips that. When stdin is not a\n"
            "terminal, --yes is required.\n"
            "\n"
            "Roles: privacy. With --json: the ErasureReport message.\n"
            "\n"
            "exit status: 0 ok; 1 if the server refused or the id typed did not match;\n"
            "2 usage error (also: no --yes without a terminal); 3 if the server cannot be\n"
            "reached.\n",
    .flags = erase_flags,
    .min_args = 1,
    .max_args = 1,
    .run = erase_run,
};

/* --- dsar complete, reject, extend ---------------------------------------------- */

enum { STEP_REASON, STEP_MONTHS };
static const cli_flag reason_flags[] = {[STEP_REASON] = {"reason", "TEXT"}, {NULL, NULL}};
static const cli_flag extend_flags[] = {
    [STEP_REASON] = {"reason", "TEXT"}, [STEP_MONTHS] = {"months", "1|2"}, {NULL, NULL}};

static int complete_run(cli_ctx *ctx, const cli_args *args)
{
    Minbill__V1__CompleteSubjectRequestRequest req =
        MINBILL__V1__COMPLETE_SUBJECT_REQUEST_REQUEST__INIT;
    char why[64];
    if (not_empty("reason", args->flag[STEP_REASON], why, sizeof why) != 0)
        return cli_usage_error(ctx, "%s", why);
    req.request_id = (char *)args->arg[0];
    req.reason = or_empty(args->flag[STEP_REASON]);
    return request_call(ctx, PRIVACY "CompleteSubjectRequest", &req.base);
}

static int reject_run(cli_ctx *ctx, const cli_args *args)
{
    Minbill__V1__RejectSubjectRequestRequest req =
        MINBILL__V1__REJECT_SUBJECT_REQUEST_REQUEST__INIT;
    const char *reason = args->flag[STEP_REASON];
    if (reason == NULL || reason[0] == '\0')
        return cli_usage_error(ctx, "--reason is required (it is told to the subject)");
    req.request_id = (char *)args->arg[0];
    req.reason = (char *)reason;
    return request_call(ctx, PRIVACY "RejectSubjectRequest", &req.base);
}

int dsar_build_extend(const cli_args *args, Minbill__V1__ExtendSubjectRequestRequest *req,
                      char *why, size_t why_size)
{
    const char *months = args->flag[STEP_MONTHS], *reason = args->flag[STEP_REASON];
    minbill__v1__extend_subject_request_request__init(req);
    if (months == NULL || (strcmp(months, "1") != 0 && strcmp(months, "2") != 0)) {
        snprintf(why, why_size, "--months: must be 1 or 2 (Art. 12(3))");
        return -1;
    }
    if (reason == NULL || reason[0] == '\0') {
        snprintf(why, why_size, "--reason is required (it is told to the subject)");
        return -1;
    }
    req->request_id = (char *)args->arg[0];
    req->months = months[0] - '0';
    req->reason = (char *)reason;
    return 0;
}

static int extend_run(cli_ctx *ctx, const cli_args *args)
{
    Minbill__V1__ExtendSubjectRequestRequest req;
    char why[96];
    if (dsar_build_extend(args, &req, why, sizeof why) != 0)
        return cli_usage_error(ctx, "%s", why);
    return request_call(ctx, PRIVACY "ExtendSubjectRequest", &req.base);
}

#define REASON_HELP                                                                                \
    "The reason is stored free text: no e-mail address, phone, card number or IBAN.\n"             \
    "Roles: privacy. Prints the request as `dsar show` does. With --json: the\n"                   \
    "SubjectRequest message.\n"                                                                    \
    "\n" EXIT_HELP

const cli_command cmd_dsar_complete = {
    .name = "dsar complete",
    .synopsis = "ID [--reason TEXT]",
    .summary = "close an open request as answered",
    .help = "Calls minbill.v1.Privacy/CompleteSubjectRequest: the open request is closed as\n"
            "answered (say, once the export was sent), with an optional note.\n" REASON_HELP,
    .flags = reason_flags,
    .min_args = 1,
    .max_args = 1,
    .run = complete_run,
};

const cli_command cmd_dsar_reject = {
    .name = "dsar reject",
    .synopsis = "ID --reason TEXT",
    .summary = "close an open request as refused, with the reason",
    .help = "Calls minbill.v1.Privacy/RejectSubjectRequest: the open request is closed as\n"
            "refused (Art. 12(4)); the reason is told to the subject.\n" REASON_HELP,
    .flags = reason_flags,
    .min_args = 1,
    .max_args = 1,
    .run = reject_run,
};

const cli_command cmd_dsar_extend = {
    .name = "dsar extend",
    .synopsis = "ID --months 1|2 --reason TEXT",
    .summary = "extend an open request's deadline once (Art. 12(3))",
    .help = "Calls minbill.v1.Privacy/ExtendSubjectRequest: once per request, before it\n"
            "is due, the deadline moves by one or two months; the reason is told to the\n"
            "subject.\n" REASON_HELP,
    .flags = extend_flags,
    .min_args = 1,
    .max_args = 1,
    .run = extend_run,
};

/*
 * test_protocol.c - hostile and malformed requests at the wire level.
 *
 * Covers: bytes that are no protobuf message (INVALID_ARGUMENT), string
 * fields with invalid UTF-8 or an embedded NUL (INVALID_ARGUMENT naming the
 * field; valid multi-byte UTF-8 passes), a unary or server-streaming call
 * without a request or with two (INTERNAL), the --max-message-bytes limit at its exact boundary
 * (RESOURCE_EXHAUSTED one byte over), requests that are small on the wire
 * but decode to much more memory (protobuf-c amplification: refused, the
 * daemon's memory stays bounded), and unknown method paths (UNIMPLEMENTED,
 * and logged without letting the path forge logfmt fields). The daemon
 * must answer a Health/Check after every one of them.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common.h"
#include "grpc/health/v1/health.pb-c.h"
#include "minbill/v1/accounts.pb-c.h"
#include "minbill/v1/metering.pb-c.h"

#define SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING

static mbt_server srv;                       /* default limits */
static mbt_server small_srv;                 /* --max-message-bytes 65536 */
static char platform_key[MBT_KEY_MAX];       /* for srv */
static char privacy_key[MBT_KEY_MAX];        /* for srv */
static char support_key[MBT_KEY_MAX];        /* for srv */
static char small_platform_key[MBT_KEY_MAX]; /* for small_srv */

/* A HealthCheckRequest whose service field holds exactly these n bytes. */
static size_t health_request(uint8_t *out, const char *service, size_t n)
{
    size_t o = 0;
    out[o++] = 0x0a; /* field 1, length-delimited */
    size_t v = n;
    do {
        out[o++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
    memcpy(out + o, service, n);
    return o + n;
}

/* A buffer of `bytes` bytes repeating the 2-byte pattern p0 p1. */
static uint8_t *repeat2(uint8_t p0, uint8_t p1, size_t bytes)
{
    uint8_t *buf = malloc(bytes);
    for (size_t i = 0; buf != NULL && i + 1 < bytes; i += 2)
        buf[i] = p0, buf[i + 1] = p1;
    return buf;
}

/* Peak resident memory of the daemon in KiB (0 if unknown). */
static long daemon_peak_kib(const mbt_server *s)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)s->d.pid);
    char *st = mbt_read_file(path);
    const char *p = st != NULL ? strstr(st, "VmHWM:") : NULL;
    long kib = p != NULL ? strtol(p + 6, NULL, 10) : 0;
    free(st);
    return kib;
}

static void test_garbage(void)
{
    static const struct {
        const char *what;
        const char *bytes;
        size_t len;
    } cases[] = {
        {"ff ff ff", "\xff\xff\xff", 3},
        {"truncated length",
         "\x0a\x05"
         "ab",
         4},
        {"varint for a string field", "\x08\x01", 2},
        {"field number 0", "\x00\x00", 2},
        {"group start", "\x0b", 1},
        {"unterminated varint", "\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80", 11},
    };
    mb_error st;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (int watch = 0; watch < 2; watch++) {
            const char *method = watch ? MBT_HEALTH_WATCH : MBT_HEALTH_CHECK;
            mbt_call(srv.ch, method, NULL, cases[i].bytes, cases[i].len, &st);
            if (st.code != GRPC_STATUS_INVALID_ARGUMENT)
                fprintf(stderr, "  %s: %s\n", method, cases[i].what);
            CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
        }
    }
    CHECK_CONTAINS(st.msg, "HealthCheckRequest");
    CHECK(mbt_health_ok(srv.ch));
}

static void test_strings(void)
{
    static const struct {
        const char *what;
        const char *s;
        size_t len;
    } bad[] = {
        {"lone continuation", "\x80", 1},
        {"invalid byte", "\xff", 1},
        {"C3 28", "\xc3\x28", 2},
        {"overlong NUL", "\xc0\x80", 2},
        {"overlong slash", "\xe0\x80\xaf", 3},
        {"surrogate", "\xed\xa0\x80", 3},
        {"above U+10FFFF", "\xf4\x90\x80\x80", 4},
        {"truncated at the end", "minbill\xe2\x82", 9},
        {"embedded NUL", "minbill.v1\0Accounts", 19},
        {"only NUL", "\0", 1},
        {"trailing NUL", "minbill.v1.Accounts\0", 20},
    };
    uint8_t buf[64];
    mb_error st;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t n = health_request(buf, bad[i].s, bad[i].len);
        for (int watch = 0; watch < 2; watch++) {
            mbt_call(srv.ch, watch ? MBT_HEALTH_WATCH : MBT_HEALTH_CHECK, NULL, buf, n, &st);
            if (st.code != GRPC_STATUS_INVALID_ARGUMENT)
                fprintf(stderr, "  %s%s\n", bad[i].what, watch ? " (Watch)" : "");
            CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
            CHECK_CONTAINS(st.msg, "service");
            CHECK_CONTAINS(st.msg, "UTF-8");
        }
    }
    /* Valid UTF-8, two to four bytes per character: it parses, and is just
     * not a service name. */
    static const char *const good[] = {"\xc3\xbc", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                       "minbill.v1.Acco\xc3\xbcnts", "\xf4\x8f\xbf\xbf"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        size_t n = health_request(buf, good[i], strlen(good[i]));
        mbt_call(srv.ch, MBT_HEALTH_CHECK, NULL, buf, n, &st);
        CHECK_STATUS(st, GRPC_STATUS_NOT_FOUND);
    }
    CHECK(mbt_health_ok(srv.ch));
}

/* Strings inside nested and repeated messages are checked too, and the
 * error names the full field path (UpsertAccount decodes its request). */
static void test_nested_strings(void)
{
    Minbill__V1__Contact c0 = MINBILL__V1__CONTACT__INIT, c1 = MINBILL__V1__CONTACT__INIT;
    Minbill__V1__Contact *contacts[] = {&c0, &c1};
    Minbill__V1__PostalAddress addr = MINBILL__V1__POSTAL_ADDRESS__INIT;
    Minbill__V1__Account acc = MINBILL__V1__ACCOUNT__INIT;
    Minbill__V1__UpsertAccountRequest req = MINBILL__V1__UPSERT_ACCOUNT_REQUEST__INIT;
    c0.contact_id = "c0";
    c1.contact_id = "c1";
    acc.account_id = "acc_utf8";
    acc.n_contacts = 2;
    acc.contacts = contacts;
    acc.billing_address = &addr;
    req.account = &acc;
    const struct {
        char **field;
        const char *path;
    } cases[] = {
        {&c1.name, "account.contacts[1].name"},
        {&c0.email, "account.contacts[0].email"},
        {&addr.city, "account.billing_address.city"},
        {&acc.legal_name, "account.legal_name"},
    };
    uint8_t buf[512];
    mb_error st;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *saved = *cases[i].field;
        *cases[i].field = "M\xfcller"; /* Latin-1, not UTF-8 */
        size_t n = minbill__v1__upsert_account_request__pack(&req, buf);
        *cases[i].field = saved;
        mbt_call(srv.ch, "/minbill.v1.Accounts/UpsertAccount", platform_key, buf, n, &st);
        if (st.code == GRPC_STATUS_UNIMPLEMENTED)
            continue; /* not built in this tree */
        CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(st.msg, cases[i].path);
        CHECK(strstr(st.msg, "ller") == NULL); /* the value is not echoed */
    }
    CHECK(mbt_health_ok(srv.ch));
}

static void test_message_count(void)
{
    mb_error st;
    /* Empty bytes are an all-default request: service "". */
    int serving = -1;
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    CHECK(mbc_unary_raw(srv.ch, MBT_HEALTH_CHECK, NULL, "", 0, mbt_ms(5000), &resp, &resp_len,
                        &st) == 0);
    Grpc__Health__V1__HealthCheckResponse *r =
        resp != NULL ? grpc__health__v1__health_check_response__unpack(NULL, resp_len, resp) : NULL;
    serving = r != NULL ? (int)r->status : -1;
    CHECK(serving == SERVING);
    if (r != NULL)
        grpc__health__v1__health_check_response__free_unpacked(r, NULL);
    free(resp);

    /* The client half-closes without sending a request. */
    mbc_call_t *c = mbc_call_start(srv.ch, MBT_HEALTH_CHECK, NULL, mbt_ms(5000));
    mbc_call_close_send(c);
    mbt_call_end(c, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "missing");
    mbc_call_free(c);

    /* Two requests on a unary and on a server-streaming method: a protocol
     * error (issue 10, defect 18), answered INTERNAL as other gRPC servers
     * do, before any handler runs. */
    const char *one_request[] = {MBT_HEALTH_CHECK, MBT_HEALTH_WATCH};
    for (int i = 0; i < 2; i++) {
        c = mbc_call_start(srv.ch, one_request[i], NULL, mbt_ms(5000));
        mbc_call_send(c, "", 0);
        mbc_call_send(c, "", 0);
        mbc_call_close_send(c);
        mbt_call_end(c, &st);
        CHECK_STATUS(st, GRPC_STATUS_INTERNAL);
        CHECK_CONTAINS(st.msg, "more than one request message");
        mbc_call_free(c);
    }
    CHECK(mbt_health_ok(srv.ch));
}

/* The answer nghttp (nghttp2-client) gets for one request whose body is
 * the raw gRPC frame `body`, as its verbose output (caller frees). A C-core
 * client cannot write a frame header that lies, nghttp writes what it is
 * given. NULL when nghttp is not installed. */
static char *raw_health_check(const void *body, size_t len)
{
    if (system("command -v nghttp >/dev/null 2>&1") != 0)
        return NULL;
    char path[MBT_PATH + 32], cmd[2 * MBT_PATH + 256];
    snprintf(path, sizeof path, "%s/raw-body", srv.d.dir);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return NULL;
    fwrite(body, 1, len, f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "nghttp -v -H ':method: POST' -H 'content-type: application/grpc' -H 'te: trailers'"
             " -d '%s' http://%s/grpc.health.v1.Health/Check 2>&1",
             path, srv.d.target);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return NULL;
    char *out = calloc(1, 65536);
    size_t n = out != NULL ? fread(out, 1, 65535, p) : 0;
    pclose(p);
    /* The response body holds NUL bytes: make the text searchable. */
    for (size_t i = 0; i < n; i++)
        if (out[i] == '\0')
            out[i] = '.';
    return out;
}

/* Issue 10, defect 18: a message flagged compressed in a call that names no
 * grpc-encoding is a protocol error (INTERNAL), not a request to guess at.
 * (An unknown flag byte never reaches minbill: gRPC 1.51 reads only the
 * compression bit.) */
static void test_compressed_flag_without_encoding(void)
{
    static const unsigned char plain[5] = {0, 0, 0, 0, 0}, flagged[5] = {1, 0, 0, 0, 0};
    char *ok = raw_health_check(plain, sizeof plain);
    if (ok == NULL) {
        fprintf(stderr, "  SKIP: nghttp is not installed (apt-get install nghttp2-client)\n");
        return;
    }
    CHECK_CONTAINS(ok, "grpc-status: 0");
    free(ok);
    char *bad = raw_health_check(flagged, sizeof flagged);
    CHECK(bad != NULL);
    if (bad != NULL) {
        CHECK_CONTAINS(bad, "grpc-status: 13");
        CHECK_CONTAINS(bad, "no grpc-encoding");
        free(bad);
    }
    CHECK(mbt_health_ok(srv.ch));
}

static void test_size_limit(void)
{
    const size_t limit = 65536;
    uint8_t *buf = malloc(100 * 1024 + 16);
    char *name = malloc(100 * 1024);
    memset(name, 'a', 100 * 1024);
    mb_error st;

    /* 100 KB against a 64 KiB limit. */
    size_t n = health_request(buf, name, 100 * 1024 - 4);
    mbt_call(small_srv.ch, MBT_HEALTH_CHECK, NULL, buf, n, &st);
    CHECK_STATUS(st, GRPC_STATUS_RESOURCE_EXHAUSTED);
    mbt_call(small_srv.ch, MBT_HEALTH_WATCH, NULL, buf, n, &st);
    CHECK_STATUS(st, GRPC_STATUS_RESOURCE_EXHAUSTED);
    mbt_call(small_srv.ch, "/minbill.v1.Metering/RecordUsage", small_platform_key, buf, n, &st);
    CHECK_STATUS(st, GRPC_STATUS_RESOURCE_EXHAUSTED);
    CHECK(mbt_health_ok(small_srv.ch));

    /* The boundary: exactly the limit is accepted (and parsed: the name is
     * merely unknown), one byte more is not. Tag + 3-byte length = 4. */
    n = health_request(buf, name, limit - 4);
    CHECK(n == limit);
    mbt_call(small_srv.ch, MBT_HEALTH_CHECK, NULL, buf, n, &st);
    CHECK_STATUS(st, GRPC_STATUS_NOT_FOUND);
    n = health_request(buf, name, limit - 3);
    CHECK(n == limit + 1);
    mbt_call(small_srv.ch, MBT_HEALTH_CHECK, NULL, buf, n, &st);
    CHECK_STATUS(st, GRPC_STATUS_RESOURCE_EXHAUSTED);

    /* The same 100 KB is fine for the daemon with the default 4 MiB. */
    n = health_request(buf, name, 100 * 1024 - 4);
    mbt_call(srv.ch, MBT_HEALTH_CHECK, NULL, buf, n, &st);
    CHECK_STATUS(st, GRPC_STATUS_NOT_FOUND);
    free(buf);
    free(name);
    CHECK(mbt_health_ok(small_srv.ch));
    CHECK(mbt_health_ok(srv.ch));
}

/* Refused for its decoded size (or as invalid); never served, never fatal. */
static void check_refused(const mb_error *st, const char *what)
{
    bool ok =
        st->code == GRPC_STATUS_RESOURCE_EXHAUSTED || st->code == GRPC_STATUS_INVALID_ARGUMENT;
    if (!ok)
        fprintf(stderr, "  %s: %s (%s)\n", what, mb_status_name(st->code), st->msg);
    CHECK(ok);
}

static void test_amplification(void)
{
    mb_error st;
    long peak_before = daemon_peak_kib(&srv);

    /* 1 MB of empty `service` fields: 512 Ki string allocations plus
     * protobuf-c's bookkeeping per occurrence, anonymous caller. */
    const size_t mb = 1 << 20;
    uint8_t *buf = repeat2(0x0a, 0x00, mb);
    mbt_call(srv.ch, MBT_HEALTH_CHECK, NULL, buf, mb, &st);
    check_refused(&st, "1 MB of empty service fields");
    free(buf);
    /* 1 MB of unknown varint fields: protobuf-c keeps each one. */
    buf = repeat2(0x10, 0x00, mb);
    mbt_call(srv.ch, MBT_HEALTH_CHECK, NULL, buf, mb, &st);
    check_refused(&st, "1 MB of unknown fields");
    mbt_call(srv.ch, MBT_HEALTH_WATCH, NULL, buf, mb, &st);
    check_refused(&st, "1 MB of unknown fields (Watch)");
    free(buf);
    /* Near the default limit: ~4 MiB would cost ~100 MB if decoded freely. */
    const size_t big = (4 << 20) - 64;
    buf = repeat2(0x0a, 0x00, big);
    mbt_call(srv.ch, MBT_HEALTH_CHECK, NULL, buf, big, &st);
    check_refused(&st, "4 MiB of empty service fields");
    free(buf);

    /* The same against the small daemon (decode budget ~4x 64 KiB). */
    buf = repeat2(0x0a, 0x00, 65536);
    mbt_call(small_srv.ch, MBT_HEALTH_CHECK, NULL, buf, 65536, &st);
    check_refused(&st, "64 KiB of empty service fields");
    free(buf);

    /* minbill.v1 requests: 1 MB of empty repeated messages (~64 bytes
     * each decoded), nested or not, of repeated singular strings, of
     * unknown fields. Where a handler is not built yet the request is never
     * decoded (UNIMPLEMENTED); once it is, it must be refused like above. */
    static const struct {
        const char *method;
        const char *key;
        uint8_t p0, p1;
        bool wrap; /* inside field 1 (UpsertAccountRequest.account) */
    } targets[] = {
        {"/minbill.v1.Metering/RecordUsage", platform_key, 0x0a, 0x00, false},
        {"/minbill.v1.Accounts/UpsertAccount", platform_key, 0x42, 0x00, true},
        {"/minbill.v1.Accounts/GetAccount", support_key, 0x0a, 0x00, false},
        {"/minbill.v1.Audit/VerifyAuditChain", privacy_key, 0x10, 0x00, false},
        {"/minbill.v1.Audit/ListAuditEvents", privacy_key, 0xf8, 0x01, false},
    };
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
        size_t len = mb;
        buf = repeat2(targets[i].p0, targets[i].p1, mb);
        if (targets[i].wrap) {
            /* 0a + 3-byte length + the fields. */
            size_t inner = mb - 4;
            buf[0] = 0x0a;
            buf[1] = (uint8_t)(0x80 | (inner & 0x7f));
            buf[2] = (uint8_t)(0x80 | ((inner >> 7) & 0x7f));
            buf[3] = (uint8_t)(inner >> 14);
        }
        mbt_call(srv.ch, targets[i].method, targets[i].key, buf, len, &st);
        if (st.code != GRPC_STATUS_UNIMPLEMENTED)
            check_refused(&st, targets[i].method);
        free(buf);
    }

    CHECK(mbt_health_ok(srv.ch));
    CHECK(mbt_health_ok(small_srv.ch));

    /* Memory stays bounded by the decode budget (~16 MiB per call), far
     * from the ~100 MB an unbounded decode of the 4 MiB request costs.
     * Only meaningful without valgrind or ASan (their own memory counts). */
    long peak_after = daemon_peak_kib(&srv);
    if (!mbt_instrumented() && peak_before > 0) {
        fprintf(stderr, "  daemon peak RSS %ld -> %ld KiB\n", peak_before, peak_after);
        CHECK(peak_after - peak_before < 64 * 1024);
    }
}

static void test_unknown_methods(void)
{
    char longpath[3000];
    memset(longpath, 'x', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[1500] = '/';
    longpath[sizeof longpath - 1] = '\0';
    const char *const paths[] = {
        "/minbill.v1.Nope/Nope",
        "/minbill.v1.Accounts/Nope",
        "/minbill.v1.Accounts/getAccount",
        "/grpc.health.v1.Health/Nope",
        "/grpc.health.v1.Health/Check/",
        "/grpc.reflection.v1.ServerReflection/Nope",
        "/nonsense",
        longpath,
    };
    mb_error st;
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        mbt_call(srv.ch, paths[i], NULL, "", 0, &st);
        if (st.code != GRPC_STATUS_UNIMPLEMENTED)
            fprintf(stderr, "  %.80s\n", paths[i]);
        CHECK_STATUS(st, GRPC_STATUS_UNIMPLEMENTED);
        if (i < 7)
            CHECK_CONTAINS(st.msg, paths[i]);
        /* With a key, even an unknown one: still just unknown. */
        mbt_call(srv.ch, paths[i], platform_key, "\xff", 1, &st);
        CHECK_STATUS(st, GRPC_STATUS_UNIMPLEMENTED);
    }
    /* A path that tries to forge logfmt fields: the call line must keep
     * one method= field and its real status. */
    mbt_call(srv.ch, "/x.Y/Z status=OK key=forged\"", NULL, "", 0, &st);
    CHECK_STATUS(st, GRPC_STATUS_UNIMPLEMENTED);

    /* A client stream of several messages to an unknown method. */
    mbc_call_t *c = mbc_call_start(srv.ch, "/minbill.v1.Nope/Stream", NULL, mbt_ms(5000));
    for (int i = 0; i < 5; i++)
        mbc_call_send(c, "\x0a\x01x", 3);
    mbc_call_close_send(c);
    mbt_call_end(c, &st);
    CHECK_STATUS(st, GRPC_STATUS_UNIMPLEMENTED);
    mbc_call_free(c);
    CHECK(mbt_health_ok(srv.ch));
}

/* After the stop: the log holds one line per call, none forged. */
static void test_log(void)
{
    /* Fields are separated by spaces; the path's own are replaced. */
    CHECK(mbt_log_count(&srv, " key=forged", NULL) == 0);
    CHECK(mbt_log_count(&srv, "method=/x.Y/Z", " status=UNIMPLEMENTED") >= 1);
    CHECK(mbt_log_count(&srv, "method=/x.Y/Z", " status=OK") == 0);
    /* Every call line names exactly one method and one status. */
    char *log = mbt_read_file(srv.d.log);
    int bad = 0;
    for (char *line = log, *next; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (strstr(line, "event=call ") == NULL)
            continue;
        const char *m = strstr(line, " method=");
        const char *st = strstr(line, " status=");
        if (m == NULL || strstr(m + 1, " method=") != NULL || st == NULL ||
            strstr(st + 1, " status=") != NULL) {
            if (bad++ < 3)
                fprintf(stderr, "  malformed call line: %.200s\n", line);
        }
    }
    CHECK(log != NULL && bad == 0);
    free(log);
}

int main(void)
{
    const char *const small[] = {"--max-message-bytes", "65536", NULL};
    if (mbt_up(&srv, NULL) != 0 || mbt_up(&small_srv, small) != 0) {
        CHECK(!"daemons started");
        mbt_down(&srv);
        mbt_down(&small_srv);
        return check_summary();
    }
    mbt_key(&srv, "platform", platform_key);
    mbt_key(&srv, "privacy", privacy_key);
    mbt_key(&srv, "support", support_key);
    mbt_key(&small_srv, "platform", small_platform_key);
    RUN(test_garbage);
    RUN(test_strings);
    RUN(test_nested_strings);
    RUN(test_message_count);
    RUN(test_compressed_flag_without_encoding);
    RUN(test_size_limit);
    RUN(test_amplification);
    RUN(test_unknown_methods);
    CHECK(mbt_health_ok(srv.ch));
    CHECK(mbt_stop(&srv, SIGTERM) == 0);
    RUN(test_log);
    CHECK(mbt_down(&srv) == 0);
    CHECK(mbt_down(&small_srv) == 0);
    return check_summary();
}

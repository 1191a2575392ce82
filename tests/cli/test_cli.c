/*
 * test_cli.c - client/cli: the command-line framework, driven in-process
 * with a table of fake commands (including two-word ones like the coming
 * `usage show`), checking what handlers receive, exit codes, and that every
 * failure is one stderr line that never shows the API key.
 */
#include <stdint.h>
#include <unistd.h>

#include "check.h"
#include "cli.h"

/* --- fake commands ------------------------------------------------------- */

static int calls;
static const cli_command *last_cmd;
static cli_args last_args;
static struct {
    char server[128];
    char api_key[128];
    bool have_key;
    int timeout_ms;
    bool json;
} last;

static int record(cli_ctx *ctx, const cli_args *args)
{
    calls++;
    last_cmd = ctx->cmd;
    last_args = *args;
    snprintf(last.server, sizeof last.server, "%s", ctx->server);
    last.have_key = ctx->api_key != NULL;
    snprintf(last.api_key, sizeof last.api_key, "%s", ctx->api_key ? ctx->api_key : "");
    last.timeout_ms = ctx->timeout_ms;
    last.json = ctx->json;
    return 0;
}

static int refuse(cli_ctx *ctx, const cli_args *args)
{
    calls++;
    return cli_fail(ctx, CLI_FAILED, "PERMISSION_DENIED: no");
}

enum { F_OPT, F_FLAG };
static const cli_flag fake_flags[] = {[F_OPT] = {"opt", "V"}, [F_FLAG] = {"flag", NULL}, {0}};

static const cli_command fake = {.name = "fake",
                                 .synopsis = "[--opt V] [--flag] [ARG...]",
                                 .summary = "a fake command",
                                 .help = "Fake help text.\n",
                                 .flags = fake_flags,
                                 .min_args = 0,
                                 .max_args = 3,
                                 .run = record};
static const cli_command grp_sub = {.name = "grp sub",
                                    .synopsis = "ID",
                                    .summary = "two words",
                                    .min_args = 1,
                                    .max_args = 1,
                                    .run = record};
static const cli_command grp_other = {
    .name = "grp other", .synopsis = "", .summary = "two words too", .run = record};
static const cli_command fails = {
    .name = "fails", .synopsis = "", .summary = "always refused", .run = refuse};
static const cli_command *const table[] = {&fake, &grp_sub, &grp_other, &fails};

/* --- running cli_main with stdout and stderr captured ---------------------- */

static char out_text[8192], err_text[8192];

static void read_back(FILE *f, char *buf, size_t size)
{
    rewind(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
}

static int run_words(const char **words)
{
    int argc = 0;
    while (words[argc] != NULL)
        argc++;
    calls = 0;
    last_cmd = NULL;
    memset(&last_args, 0, sizeof last_args);
    FILE *out = tmpfile(), *err = tmpfile();
    if (out == NULL || err == NULL) {
        fprintf(stderr, "tmpfile failed\n");
        exit(1);
    }
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(fileno(out), 1);
    dup2(fileno(err), 2);
    clearerr(stdout);
    int rc = cli_main(table, sizeof table / sizeof table[0], argc, (char **)words);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    read_back(out, out_text, sizeof out_text);
    read_back(err, err_text, sizeof err_text);
    fclose(out);
    fclose(err);
    return rc;
}

#define CLI(...) run_words((const char *[]){"minbill", __VA_ARGS__, NULL})

static int lines(const char *s)
{
    int n = 0;
    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/* A usage error: exit 2, no handler run, one stderr line with the hint. */
#define CHECK_USAGE(rc, hint)                                                                      \
    do {                                                                                           \
        CHECK((rc) == CLI_USAGE);                                                                  \
        CHECK(calls == 0);                                                                         \
        CHECK(lines(err_text) == 1);                                                               \
        CHECK_CONTAINS(err_text, "minbill: ");                                                     \
        CHECK_CONTAINS(err_text, hint);                                                            \
    } while (0)

static void clear_env(void)
{
    unsetenv("MINBILL_SERVER");
    unsetenv("MINBILL_API_KEY");
}

/* --- tests ----------------------------------------------------------------- */

static void test_defaults(void)
{
    CHECK(CLI("fake") == 0);
    CHECK(calls == 1 && last_cmd == &fake);
    CHECK(strcmp(last.server, CLI_DEFAULT_SERVER) == 0);
    CHECK(!last.have_key);
    CHECK(last.timeout_ms == CLI_DEFAULT_TIMEOUT_MS);
    CHECK(!last.json);
    CHECK(last_args.flag[F_OPT] == NULL && last_args.flag[F_FLAG] == NULL);
    CHECK(last_args.n_args == 0);
    CHECK(err_text[0] == '\0' && out_text[0] == '\0');
}

static void test_flags_anywhere(void)
{
    CHECK(CLI("--server", "h:1", "fake", "a", "--opt=v", "--json", "b", "--timeout", "0.25",
              "--flag") == 0);
    CHECK(calls == 1);
    CHECK(strcmp(last.server, "h:1") == 0);
    CHECK(last.json);
    CHECK(last.timeout_ms == 250);
    CHECK(last_args.flag[F_OPT] != NULL && strcmp(last_args.flag[F_OPT], "v") == 0);
    CHECK(last_args.flag[F_FLAG] != NULL && last_args.flag[F_FLAG][0] == '\0');
    CHECK(last_args.n_args == 2);
    CHECK(strcmp(last_args.arg[0], "a") == 0 && strcmp(last_args.arg[1], "b") == 0);

    /* Separate value, repeated flag (last wins), global after the command. */
    CHECK(CLI("fake", "--opt", "x", "--opt", "y", "--server=h:2", "--api-key", "k1") == 0);
    CHECK(strcmp(last_args.flag[F_OPT], "y") == 0);
    CHECK(strcmp(last.server, "h:2") == 0);
    CHECK(last.have_key && strcmp(last.api_key, "k1") == 0);

    /* "--" ends the flags; "-" is an argument (stdin, by convention). */
    CHECK(CLI("fake", "-", "--", "--opt", "-x") == 0);
    CHECK(last_args.n_args == 3 && last_args.flag[F_OPT] == NULL);
    CHECK(strcmp(last_args.arg[0], "-") == 0 && strcmp(last_args.arg[1], "--opt") == 0);
    CHECK(CLI("--", "fake") == 0);
    CHECK(calls == 1);
}

static void test_environment(void)
{
    setenv("MINBILL_SERVER", "env:1", 1);
    setenv("MINBILL_API_KEY", "envkey", 1);
    CHECK(CLI("fake") == 0);
    CHECK(strcmp(last.server, "env:1") == 0);
    CHECK(strcmp(last.api_key, "envkey") == 0);
    CHECK(CLI("--server", "flag:2", "fake", "--api-key", "flagkey") == 0);
    CHECK(strcmp(last.server, "flag:2") == 0);
    CHECK(strcmp(last.api_key, "flagkey") == 0);
    /* Set but empty counts as unset, as for minbilld's MINBILL_* variables. */
    setenv("MINBILL_SERVER", "", 1);
    setenv("MINBILL_API_KEY", "", 1);
    CHECK(CLI("fake") == 0);
    CHECK(strcmp(last.server, CLI_DEFAULT_SERVER) == 0);
    CHECK(!last.have_key);
    /* A bad key from the environment names the variable, not the key. */
    setenv("MINBILL_API_KEY", "has space", 1);
    CHECK_USAGE(CLI("fake"), "MINBILL_API_KEY");
    CHECK(strstr(err_text, "has space") == NULL);
    clear_env();
}

static void test_two_word_commands(void)
{
    CHECK(CLI("grp", "sub", "ID1") == 0);
    CHECK(last_cmd == &grp_sub && last_args.n_args == 1);
    CHECK(strcmp(last_args.arg[0], "ID1") == 0);
    CHECK(CLI("--json", "grp", "other") == 0);
    CHECK(last_cmd == &grp_other && last.json);
    CHECK_USAGE(CLI("grp"), "'grp' needs a subcommand (see minbill --help)");
    CHECK_USAGE(CLI("grp", "--json"), "'grp' needs a subcommand");
    CHECK_USAGE(CLI("grp", "nope"), "unknown command 'grp nope' (see minbill --help)");
    CHECK_USAGE(CLI("grp", "sub"), "grp sub: missing argument; usage: minbill grp sub ID");
    CHECK_USAGE(CLI("grp", "sub", "a", "b"), "(see minbill grp sub --help)");
}

static void test_usage_errors(void)
{
    CHECK_USAGE(run_words((const char *[]){"minbill", NULL}), "no command given");
    CHECK_USAGE(CLI("nosuch"), "minbill: unknown command 'nosuch' (see minbill --help)");
    CHECK_USAGE(CLI("--bogus", "fake"), "minbill: unknown flag '--bogus' (see minbill --help)");
    CHECK_USAGE(CLI("-x", "fake"), "unknown flag '-x'");
    CHECK_USAGE(CLI("fake", "--bogus"),
                "minbill: fake: unknown flag '--bogus' (see minbill fake --help)");
    CHECK_USAGE(CLI("fake", "--opt"), "--opt needs a value (V)");
    CHECK_USAGE(CLI("--server"), "--server needs a value (HOST:PORT)");
    CHECK_USAGE(CLI("fake", "--flag=1"), "--flag takes no value");
    CHECK_USAGE(CLI("--json=yes", "fake"), "--json takes no value");
    CHECK_USAGE(CLI("fake", "1", "2", "3", "4"), "unexpected argument '4'");
    CHECK_USAGE(CLI("fails", "x"), "fails: unexpected argument 'x'");
    CHECK_USAGE(CLI("--server", "", "fake"), "--server: must be HOST:PORT");
    CHECK_USAGE(CLI("--server", "h:65536", "fake"), "--server: PORT must be a number from 1");
    CHECK_USAGE(CLI("--server", "h h:1", "fake"), "--server: HOST may hold");
    CHECK_USAGE(CLI("--api-key", "", "fake"), "--api-key: must be 1 to");
    CHECK_USAGE(CLI("--api-key", "a\tb", "fake"), "--api-key: must be");
    const char *bad_timeouts[] = {"0",   "0.0", "-1", "abc",   "",        "1e3",  "inf",
                                  "nan", " 1",  "1 ", "1.2.3", "86400.5", "0x10", "."};
    for (size_t i = 0; i < sizeof bad_timeouts / sizeof bad_timeouts[0]; i++) {
        CHECK_USAGE(CLI("--timeout", bad_timeouts[i], "fake"), "--timeout: ");
        CHECK_USAGE(CLI("fake", "--timeout", bad_timeouts[i]), "(see minbill --help)");
    }
}

static void test_help(void)
{
    CHECK(CLI("--help") == 0 && calls == 0);
    CHECK_CONTAINS(out_text, "usage: minbill [--server HOST:PORT]");
    CHECK_CONTAINS(out_text, "  fake          a fake command\n");
    CHECK_CONTAINS(out_text, "  grp sub       two words\n");
    CHECK_CONTAINS(out_text, "  help COMMAND");
    CHECK(err_text[0] == '\0');
    CHECK(CLI("-h") == 0 && calls == 0);
    CHECK(CLI("help") == 0 && calls == 0);
    CHECK_CONTAINS(out_text, "commands:");
    /* --help after the command's arguments still shows its help. */
    CHECK(CLI("fake", "a", "--help") == 0 && calls == 0);
    CHECK_CONTAINS(out_text, "usage: minbill [GLOBAL FLAGS] fake [--opt V] [--flag] [ARG...]\n"
                             "\nA fake command.\n\nFake help text.\n");
    char first[sizeof out_text];
    memcpy(first, out_text, sizeof first);
    CHECK(CLI("help", "fake") == 0 && calls == 0);
    CHECK(strcmp(first, out_text) == 0);
    CHECK(CLI("--json", "grp", "sub", "-h") == 0 && calls == 0);
    CHECK_CONTAINS(out_text, "usage: minbill [GLOBAL FLAGS] grp sub ID\n");
    CHECK(CLI("help", "grp", "sub") == 0 && calls == 0);
    CHECK_CONTAINS(out_text, "grp sub ID");
    /* A group's help is each of its commands' help. */
    CHECK(CLI("help", "grp") == 0 && calls == 0);
    CHECK_CONTAINS(out_text, "usage: minbill [GLOBAL FLAGS] grp sub ID\n");
    CHECK_CONTAINS(out_text, "usage: minbill [GLOBAL FLAGS] grp other");
    CHECK(CLI("grp", "--help") == 0 && calls == 0);
    CHECK_CONTAINS(out_text, "usage: minbill [GLOBAL FLAGS] grp other");
    CHECK_USAGE(CLI("help", "nosuch"), "unknown command 'nosuch'");
    CHECK_USAGE(CLI("help", "fake", "more"), "help: unexpected argument 'more'");
}

static void test_handler_result(void)
{
    CHECK(CLI("fails") == CLI_FAILED);
    CHECK(calls == 1);
    CHECK(strcmp(err_text, "minbill: fails: PERMISSION_DENIED: no\n") == 0);
}

/* Whatever the user typed, a key never reaches stderr. */
static void test_key_never_shown(void)
{
    CHECK_USAGE(CLI("--api-key", "mbk_sekrit_1", "fake", "--bogus=mbk_sekrit_1"), "'--bogus'");
    CHECK(strstr(err_text, "sekrit") == NULL);
    CHECK_USAGE(CLI("--api-kee=mbk_sekrit_2", "fake"), "unknown flag '--api-kee'");
    CHECK(strstr(err_text, "sekrit") == NULL);
    CHECK_USAGE(CLI("--api-key", "plainsekrit", "plainsekrit"), "unknown command '(hidden)'");
    CHECK(strstr(err_text, "sekrit") == NULL);
    CHECK_USAGE(CLI("fake", "1", "2", "3", "mbk_sekrit_3"), "unexpected argument '(hidden)'");
    CHECK(strstr(err_text, "sekrit") == NULL);
    CHECK_USAGE(CLI("--api-key", "has sekrit space", "fake"), "--api-key: must be");
    CHECK(strstr(err_text, "sekrit") == NULL);
    CHECK_USAGE(CLI("--timeout", "mbk_sekrit_4", "fake"), "--timeout: '(hidden)'");
    CHECK(strstr(err_text, "sekrit") == NULL);
}

/* Nor an e-mail address or phone number typed where it does not belong. */
static void test_personal_data_never_shown(void)
{
    CHECK_USAGE(CLI("fake", "1", "2", "3", "jane.doe@example.de"),
                "unexpected argument '(hidden)'");
    CHECK(strstr(err_text, "jane") == NULL);
    CHECK_USAGE(CLI("jane.doe@example.de"), "unknown command '(hidden)'");
    CHECK(strstr(err_text, "jane") == NULL);
    CHECK_USAGE(CLI("fake", "--jane.doe@example.de"), "unknown flag '(hidden)'");
    CHECK(strstr(err_text, "jane") == NULL);
    CHECK_USAGE(CLI("grp", "+49 151 12345667"), "unknown command 'grp (hidden)'");
    CHECK(strstr(err_text, "12345667") == NULL);
}

static void test_parse_timeout(void)
{
    struct {
        const char *s;
        int ms;
    } good[] = {{"10", 10000}, {"0.5", 500},  {".5", 500},         {"5.", 5000},
                {"0.0001", 1}, {"0.0015", 2}, {"86400", 86400000}, {"007", 7000}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int ms = -1;
        CHECK(cli_parse_timeout(good[i].s, &ms) == 0);
        if (ms != good[i].ms) {
            check_failed++;
            fprintf(stderr, "FAILED: timeout %s gave %d ms, want %d\n", good[i].s, ms, good[i].ms);
        }
    }
    int ms = 42;
    CHECK(cli_parse_timeout("0", &ms) == -1);
    CHECK(cli_parse_timeout("86401", &ms) == -1);
    CHECK(ms == 42); /* untouched on failure */
}

static void test_word(void)
{
    char buf[16];
    cli_ctx ctx = {.api_key = "topsecret"};
    CHECK(strcmp(cli_word(&ctx, "plain", buf, sizeof buf), "plain") == 0);
    CHECK(strcmp(cli_word(&ctx, "a\nb\x1b", buf, sizeof buf), "a?b?") == 0);
    CHECK(strcmp(cli_word(&ctx, "abcdefghijklmnopqrst", buf, sizeof buf), "abcdefghijkl...") == 0);
    /* Cut before a multi-byte character rather than through it. */
    CHECK(strcmp(cli_word(&ctx, "abcdefghijk\xc3\xa9xyz", buf, sizeof buf), "abcdefghijk...") == 0);
    /* Personal data typed in the wrong place is not repeated either. */
    CHECK(strcmp(cli_word(&ctx, "jane.doe@example.de", buf, sizeof buf), "(hidden)") == 0);
    CHECK(strcmp(cli_word(&ctx, "+4915112345667", buf, sizeof buf), "(hidden)") == 0);
    CHECK(strcmp(cli_word(&ctx, "DE89370400440532013000", buf, sizeof buf), "(hidden)") == 0);
    CHECK(strcmp(cli_word(&ctx, "INV-2026-000042", buf, sizeof buf), "INV-2026-000042") == 0);
    CHECK(strcmp(cli_word(&ctx, "x-topsecret-y", buf, sizeof buf), "(hidden)") == 0);
    CHECK(strcmp(cli_word(&ctx, "mbk_anything", buf, sizeof buf), "(hidden)") == 0);
    CHECK(strcmp(cli_word(NULL, "fine", buf, sizeof buf), "fine") == 0);
}

int main(void)
{
    clear_env();
    RUN(test_defaults);
    RUN(test_flags_anywhere);
    RUN(test_environment);
    RUN(test_two_word_commands);
    RUN(test_usage_errors);
    RUN(test_help);
    RUN(test_handler_result);
    RUN(test_key_never_shown);
    RUN(test_personal_data_never_shown);
    RUN(test_parse_timeout);
    RUN(test_word);
    return check_summary();
}

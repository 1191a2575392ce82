/*
 * cli.c - see cli.h.
 *
 * The parser is written out rather than built on getopt_long because the
 * tool needs two things getopt makes awkward: global flags that are also
 * accepted after the command name (next to the command's own flags), and
 * error messages that can name the offending flag without ever echoing a
 * value that might be a secret.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/hostport.h"
#include "base/utf8.h"
#include "cli_rpc.h"

#define MESSAGE_MAX 512 /* one stderr line */
/* rpc_client formats "Bearer KEY" into a 512-byte buffer; a longer key would
 * be cut silently and refused as unknown. Real keys are far shorter. */
#define API_KEY_MAX 400

/* The global flags, accepted before and after the command name. */
enum { G_SERVER, G_API_KEY, G_TIMEOUT, G_JSON, G_TLS_CA, G_TLS_CERT, G_TLS_KEY };
static const cli_flag global_flags[] = {
    {"server", "HOST:PORT"}, {"api-key", "KEY"},   {"timeout", "S"},    {"json", NULL},
    {"tls-ca", "FILE"},      {"tls-cert", "FILE"}, {"tls-key", "FILE"}, {NULL, NULL},
};

int cli_remaining_ms(const cli_ctx *ctx)
{
    int64_t left = ctx->deadline_ms - mb_mono_ns() / 1000000;
    return left < 1 ? 1 : (int)left; /* never above CLI_MAX_TIMEOUT_S * 1000 */
}

/* C0, DEL and C1 controls drive the terminal (C1 0x9b alone is CSI); the bidi
 * embeddings, overrides and isolates make a line display as something other
 * than what it holds. */
static bool unsafe(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

void cli_clean(char *s)
{
    uint8_t *p = (uint8_t *)s, *o = p;
    size_t len = strlen(s);
    while (len > 0) {
        uint32_t cp;
        size_t n = mb_utf8_next(p, len, &cp);
        if (n == 0 || unsafe(cp)) {
            *o++ = '?'; /* one '?' per bad byte or unsafe character: never longer */
            n = n == 0 ? 1 : n;
        } else {
            memmove(o, p, n);
            o += n;
        }
        p += n;
        len -= n;
    }
    *o = '\0';
}

__attribute__((format(printf, 4, 0))) static int say(const cli_ctx *ctx, int code, bool hint,
                                                      const char *fmt, va_list ap)
{
    char msg[MESSAGE_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    cli_clean(msg); /* server messages reach the terminal through here */
    const char *cmd = ctx != NULL && ctx->cmd != NULL ? ctx->cmd->name : NULL;
    fprintf(stderr, "minbill: %s%s%s%s%s%s\n", cmd ? cmd : "", cmd ? ": " : "", msg,
            hint ? " (see minbill " : "", hint && cmd ? cmd : "",
            hint ? (cmd ? " --help)" : "--help)") : "");
    return code;
}

int cli_fail(const cli_ctx *ctx, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(ctx, code, false, fmt, ap);
    va_end(ap);
    return code;
}

int cli_usage_error(const cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(ctx, CLI_USAGE, true, fmt, ap);
    va_end(ap);
    return CLI_USAGE;
}

const char *cli_word(const cli_ctx *ctx, const char *word, char *buf, size_t size)
{
    const char *key = ctx != NULL ? ctx->api_key : NULL;
    if (size == 0)
        return buf;
    mb_error ignored;
    if (strstr(word, "mbk_") != NULL || (key != NULL && key[0] != '\0' && strstr(word, key)) ||
        check_no_personal_data("word", word, &ignored) != 0) {
        snprintf(buf, size, "(hidden)");
        return buf;
    }
    size_t n = 0;
    for (; word[n] != '\0' && n + 1 < size; n++)
        buf[n] = word[n];
    buf[n] = '\0';
    if (word[n] != '\0' && n >= 3) {
        /* Cut on a character boundary so the message stays valid UTF-8. */
        size_t cut = n - 3;
        while (cut > 0 && ((unsigned char)buf[cut] & 0xc0) == 0x80)
            cut--;
        memcpy(buf + cut, "...", 4);
    }
    cli_clean(buf);
    return buf;
}

int cli_parse_timeout(const char *s, int *ms)
{
    /* Only digits and one '.': strtod alone would also take "inf", "nan",
     * hex floats and leading spaces, none of which a person means here. */
    size_t digits = strspn(s, "0123456789");
    const char *rest = s + digits;
    if (*rest == '.') {
        size_t frac = strspn(rest + 1, "0123456789");
        digits += frac;
        rest += 1 + frac;
    }
    if (digits == 0 || *rest != '\0')
        return -1;
    errno = 0;
    double v = strtod(s, NULL);
    if (errno != 0 || !(v > 0) || v > CLI_MAX_TIMEOUT_S)
        return -1;
    double m = v * 1000;
    int whole = (int)m;
    *ms = whole < m ? whole + 1 : whole; /* round up: 0.0001 s is 1 ms, not 0 (no deadline) */
    if (*ms < 1)
        *ms = 1;
    return 0;
}

/* If arg is "--NAME" or "--NAME=VALUE" for one of flags (NULL: none),
 * returns its index and sets *inline_value (NULL without "="); else -1. */
static int find_flag(const cli_flag *flags, const char *arg, const char **inline_value)
{
    if (flags == NULL || strncmp(arg, "--", 2) != 0)
        return -1;
    const char *name = arg + 2;
    size_t n = strcspn(name, "=");
    /* The bound keeps a table longer than cli_args can hold from writing
     * past args->flag: its extra flags are simply unknown. */
    for (int i = 0; i < CLI_MAX_FLAGS && flags[i].name != NULL; i++) {
        if (strlen(flags[i].name) == n && strncmp(flags[i].name, name, n) == 0) {
            *inline_value = name[n] == '=' ? name + n + 1 : NULL;
            return i;
        }
    }
    return -1;
}

/* Stores the value of flag f, found at argv[*i], in *value and moves *i past
 * the flag and its value. 0, or -1 (message printed). mctx: the context for
 * the message prefix (NULL for a global flag). */
static int take_value(const cli_ctx *mctx, const cli_flag *f, const char *inline_value, int argc,
                      char **argv, int *i, const char **value)
{
    if (f->metavar == NULL) {
        if (inline_value != NULL) {
            cli_usage_error(mctx, "--%s takes no value", f->name);
            return -1;
        }
        *value = "";
    } else if (inline_value != NULL) {
        *value = inline_value;
    } else if (*i + 1 < argc) {
        *value = argv[++*i];
    } else {
        cli_usage_error(mctx, "--%s needs a value (%s)", f->name, f->metavar);
        return -1;
    }
    ++*i;
    return 0;
}

static int apply_global(cli_ctx *ctx, int idx, const char *value)
{
    char w[CLI_WORD_MAX];
    switch (idx) {
    case G_SERVER:
        ctx->server = value;
        break;
    case G_API_KEY:
        ctx->api_key = value;
        ctx->api_key_source = "--api-key";
        break;
    case G_TIMEOUT:
        if (cli_parse_timeout(value, &ctx->timeout_ms) != 0) {
            cli_usage_error(NULL,
                            "--timeout: '%s' is not a number of seconds above 0 and at most %d "
                            "(e.g. 10 or 0.5)",
                            cli_word(ctx, value, w, sizeof w), CLI_MAX_TIMEOUT_S);
            return -1;
        }
        break;
    case G_JSON:
        ctx->json = true;
        break;
    case G_TLS_CA:
        ctx->tls_ca = value;
        break;
    case G_TLS_CERT:
        ctx->tls_cert = value;
        break;
    case G_TLS_KEY:
        ctx->tls_key = value;
        break;
    }
    return 0;
}

/* Takes the flag at argv[*i]: a global flag, or one of ctx->cmd's flags
 * (stored in args). 0, or -1 (message printed) for an unknown flag or a bad
 * value. */
static int take_flag(cli_ctx *ctx, cli_args *args, int argc, char **argv, int *i)
{
    const char *inline_value = NULL, *value = NULL;
    int idx = find_flag(global_flags, argv[*i], &inline_value);
    if (idx >= 0) {
        if (take_value(NULL, &global_flags[idx], inline_value, argc, argv, i, &value) != 0)
            return -1;
        return apply_global(ctx, idx, value);
    }
    const cli_flag *flags = ctx->cmd != NULL ? ctx->cmd->flags : NULL;
    idx = find_flag(flags, argv[*i], &inline_value);
    if (idx >= 0)
        return take_value(ctx, &flags[idx], inline_value, argc, argv, i, &args->flag[idx]);
    /* Name only the flag: what follows a '=' may be a secret. */
    char name[CLI_WORD_MAX], w[CLI_WORD_MAX];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(argv[*i], "="), argv[*i]);
    cli_usage_error(ctx, "unknown flag '%s'", cli_word(ctx, name, w, sizeof w));
    return -1;
}

/* The number of words at argv that spell name ("usage show": 2), or 0 if
 * they do not. */
static int name_words(const char *name, int argc, char *const *argv)
{
    int k = 0;
    const char *p = name;
    while (*p != '\0') {
        size_t n = strcspn(p, " ");
        if (k >= argc || strlen(argv[k]) != n || strncmp(argv[k], p, n) != 0)
            return 0;
        k++;
        p += n;
        p += strspn(p, " ");
    }
    return k;
}

/* The command named by the words at argv (argc >= 1); *used receives how
 * many words its name took. The longest match wins, so "usage show" would
 * beat a plain "usage". NULL (message printed) if no command matches. */
static const cli_command *find_command(const cli_ctx *ctx, const cli_command *const *cmds,
                                       size_t n_cmds, int argc, char **argv, int *used)
{
    const cli_command *best = NULL;
    int best_words = 0;
    bool group = false; /* argv[0] is the first word of a two-word name */
    size_t len0 = strlen(argv[0]);
    for (size_t i = 0; i < n_cmds; i++) {
        int w = name_words(cmds[i]->name, argc, argv);
        if (w > best_words) {
            best = cmds[i];
            best_words = w;
        }
        if (strncmp(cmds[i]->name, argv[0], len0) == 0 && cmds[i]->name[len0] == ' ')
            group = true;
    }
    if (best != NULL) {
        *used = best_words;
        return best;
    }
    char w0[CLI_WORD_MAX], w1[CLI_WORD_MAX];
    cli_word(ctx, argv[0], w0, sizeof w0);
    if (group && (argc < 2 || argv[1][0] == '-'))
        cli_usage_error(ctx, "'%s' needs a subcommand", w0);
    else if (group)
        cli_usage_error(ctx, "unknown command '%s %s'", w0, cli_word(ctx, argv[1], w1, sizeof w1));
    else
        cli_usage_error(ctx, "unknown command '%s'", w0);
    return NULL;
}

static bool is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

static void print_main_help(const cli_command *const *cmds, size_t n_cmds)
{
    static const char help_name[] = "help COMMAND";
    int width = (int)strlen(help_name);
    for (size_t i = 0; i < n_cmds; i++)
        if ((int)strlen(cmds[i]->name) > width)
            width = (int)strlen(cmds[i]->name);
    printf("usage: minbill [--server HOST:PORT] [--api-key KEY] [--json] [--timeout S] "
           "COMMAND ...\n"
           "\n"
           "The minbill client: asks a minbilld server over gRPC.\n"
           "\n"
           "global flags (also accepted after the command):\n"
           "  --server HOST:PORT  the server (env MINBILL_SERVER; default %s)\n"
           "  --api-key KEY       sent as 'authorization: Bearer KEY' (env MINBILL_API_KEY;\n"
           "                      prefer the environment: other users can see command lines)\n"
           "  --json              print the result as one JSON document\n"
           "  --timeout S         give up after S seconds, fractions allowed (default %d)\n"
           "  --tls-ca FILE       talk TLS to a server whose certificate FILE's CA signed\n"
           "                      (env MINBILL_TLS_CA)\n"
           "  --tls-cert FILE --tls-key FILE\n"
           "                      present this client certificate (env MINBILL_TLS_CERT,\n"
           "                      MINBILL_TLS_KEY); it can stand for an API key\n"
           "  -h, --help          show this help\n"
           "\n"
           "commands:\n",
           CLI_DEFAULT_SERVER, CLI_DEFAULT_TIMEOUT_MS / 1000);
    for (size_t i = 0; i < n_cmds; i++)
        printf("  %-*s  %s\n", width, cmds[i]->name, cmds[i]->summary);
    printf("  %-*s  %s\n", width, help_name, "show a command's usage (same as COMMAND --help)");
    printf("\n"
           "exit status: 0 ok, 1 the server refused the request, 2 usage error,\n"
           "3 cannot connect; every failure prints one line on stderr.\n");
}

static const char *synopsis_of(const cli_command *c)
{
    return c->synopsis != NULL ? c->synopsis : "";
}

static void print_command_help(const cli_command *c)
{
    /* The summary is a list entry ("ask the server ..."); here it opens a
     * paragraph, so it gets a capital and a full stop. */
    const char *syn = synopsis_of(c);
    printf("usage: minbill [GLOBAL FLAGS] %s%s%s\n\n%c%s.\n", c->name, syn[0] ? " " : "", syn,
           toupper((unsigned char)c->summary[0]), c->summary + 1);
    if (c->help != NULL && c->help[0] != '\0')
        printf("\n%s", c->help);
    printf("\nglobal flags: --server HOST:PORT, --api-key KEY, --json, --timeout S "
           "(see minbill --help)\n");
}

/* `minbill help GROUP` for a group of two-word commands ("account"): each
 * one's help. False (nothing printed) if group names no group. */
static bool print_group_help(const cli_command *const *cmds, size_t n_cmds, const char *group)
{
    size_t len = strlen(group);
    bool any = false;
    for (size_t i = 0; i < n_cmds; i++) {
        if (strncmp(cmds[i]->name, group, len) != 0 || cmds[i]->name[len] != ' ')
            continue;
        if (any)
            printf("\n");
        print_command_help(cmds[i]);
        any = true;
    }
    return any;
}

/* `minbill help [COMMAND]`: words are the words after "help". */
static int help_command(cli_ctx *ctx, const cli_command *const *cmds, size_t n_cmds, int argc,
                        char **argv)
{
    if (argc == 0) {
        print_main_help(cmds, n_cmds);
        return CLI_OK;
    }
    if (argc == 1 && print_group_help(cmds, n_cmds, argv[0]))
        return CLI_OK;
    int used = 0;
    const cli_command *c = find_command(ctx, cmds, n_cmds, argc, argv, &used);
    if (c == NULL)
        return CLI_USAGE;
    if (used < argc) {
        char w[CLI_WORD_MAX];
        return cli_usage_error(ctx, "help: unexpected argument '%s'",
                               cli_word(ctx, argv[used], w, sizeof w));
    }
    print_command_help(c);
    return CLI_OK;
}

/* Checks what the flags and the environment gave, once all are in. */
static int check_settings(const cli_ctx *ctx)
{
    char why[128];
    if (mb_hostport_check(ctx->server, 1, why, sizeof why) != 0) {
        cli_usage_error(NULL, "--server: %s", why);
        return -1;
    }
    if ((ctx->tls_cert == NULL) != (ctx->tls_key == NULL)) {
        cli_usage_error(NULL, "--tls-cert and --tls-key go together");
        return -1;
    }
    if (ctx->api_key != NULL) {
        /* The key travels as an HTTP/2 header value; gRPC would reject the
         * call with a vague error. Say so here, without showing the key. */
        size_t n = strlen(ctx->api_key);
        bool ok = n > 0 && n <= API_KEY_MAX;
        for (size_t i = 0; ok && i < n; i++)
            ok = ctx->api_key[i] > 0x20 && ctx->api_key[i] < 0x7f;
        if (!ok) {
            cli_usage_error(NULL, "%s: must be 1 to %d printable ASCII characters without spaces",
                            ctx->api_key_source, API_KEY_MAX);
            return -1;
        }
    }
    return 0;
}

/* Output goes to a pipe or file more often than not; a full disk must not
 * look like success. Reports (once) when nothing else failed first. */
static int finish_output(int rc)
{
    if (rc != CLI_OK)
        return rc; /* its line is printed; a second one would bury it */
    if (fflush(stdout) != 0)
        return cli_fail(NULL, CLI_FAILED, "cannot write the output: %s", strerror(errno));
    /* An earlier flush (json_out_finish) failed: errno is long gone. */
    if (ferror(stdout))
        return cli_fail(NULL, CLI_FAILED, "cannot write the output");
    return rc;
}

static const char *env_or_null(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

int cli_main(const cli_command *const *cmds, size_t n_cmds, int argc, char **argv)
{
    cli_ctx ctx = {.server = CLI_DEFAULT_SERVER, .timeout_ms = CLI_DEFAULT_TIMEOUT_MS};
    cli_args args;
    memset(&args, 0, sizeof args);
    if (env_or_null("MINBILL_SERVER") != NULL)
        ctx.server = env_or_null("MINBILL_SERVER");
    if ((ctx.api_key = env_or_null("MINBILL_API_KEY")) != NULL)
        ctx.api_key_source = "MINBILL_API_KEY";
    ctx.tls_ca = env_or_null("MINBILL_TLS_CA");
    ctx.tls_cert = env_or_null("MINBILL_TLS_CERT");
    ctx.tls_key = env_or_null("MINBILL_TLS_KEY");

    /* Global flags before the command name. */
    int i = 1;
    while (i < argc && argv[i][0] == '-' && argv[i][1] != '\0') {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (is_help(argv[i])) {
            print_main_help(cmds, n_cmds);
            return finish_output(CLI_OK);
        }
        if (take_flag(&ctx, &args, argc, argv, &i) != 0)
            return CLI_USAGE;
    }
    if (i == argc)
        return cli_usage_error(NULL, "no command given");
    if (strcmp(argv[i], "help") == 0)
        return finish_output(help_command(&ctx, cmds, n_cmds, argc - i - 1, argv + i + 1));
    if (i + 1 < argc && is_help(argv[i + 1]) && print_group_help(cmds, n_cmds, argv[i]))
        return finish_output(CLI_OK);
    int used = 0;
    ctx.cmd = find_command(&ctx, cmds, n_cmds, argc - i, argv + i, &used);
    if (ctx.cmd == NULL)
        return CLI_USAGE;
    i += used;

    /* The command's flags and arguments, global flags among them. */
    bool only_args = false;
    while (i < argc) {
        const char *a = argv[i];
        if (!only_args && strcmp(a, "--") == 0) {
            only_args = true;
            i++;
        } else if (!only_args && is_help(a)) {
            print_command_help(ctx.cmd);
            return finish_output(CLI_OK);
        } else if (!only_args && a[0] == '-' && a[1] != '\0') {
            if (take_flag(&ctx, &args, argc, argv, &i) != 0)
                return CLI_USAGE;
        } else if (args.n_args == ctx.cmd->max_args || args.n_args == CLI_MAX_ARGS) {
            char w[CLI_WORD_MAX];
            return cli_usage_error(&ctx, "unexpected argument '%s'",
                                   cli_word(&ctx, a, w, sizeof w));
        } else {
            args.arg[args.n_args++] = a;
            i++;
        }
    }
    if (args.n_args < ctx.cmd->min_args)
        return cli_usage_error(&ctx, "missing argument; usage: minbill %s %s", ctx.cmd->name,
                               synopsis_of(ctx.cmd));
    if (check_settings(&ctx) != 0)
        return CLI_USAGE;

    ctx.deadline_ms = mb_mono_ns() / 1000000 + ctx.timeout_ms;
    int rc = ctx.cmd->run(&ctx, &args);
    cli_rpc_close(&ctx);
    return finish_output(rc);
}

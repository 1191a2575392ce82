/*
 * cli.h - the `minbill` command-line framework: global flags, the command
 * table, flag parsing, help and exit codes.
 *
 *   minbill [--server HOST:PORT] [--api-key KEY] [--json] [--timeout S] COMMAND ...
 *
 * A command is one cli_command value (name, synopsis, summary, help text,
 * flags, how many arguments it takes, a handler); main.c lists them.
 * cli_main() reads MINBILL_SERVER / MINBILL_API_KEY, parses the global flags
 * (before or after the command name), finds the command (names may be two
 * words, "usage show"), parses its flags and arguments, answers --help and
 * `minbill help COMMAND`, and only then calls the handler, so a handler gets
 * validated input and does its one job.
 *
 * Exit codes (api.md): 0 ok, 1 the server refused (or said "no"), 2 usage
 * error, 3 cannot connect. Every failure prints exactly one line on stderr,
 * "minbill: [COMMAND: ]message"; usage errors end with "(see minbill
 * [COMMAND] --help)".
 *
 * Must never print the API key: words typed by the user are echoed only
 * through cli_word(), which hides anything that could be a key.
 */
#ifndef MB_CLI_H
#define MB_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc_client.h"

enum {
    CLI_OK = 0,
    CLI_FAILED = 1, /* the server refused the request (or answered "no"), or output failed */
    CLI_USAGE = 2,
    CLI_NO_CONNECT = 3,
};

#define CLI_DEFAULT_SERVER "127.0.0.1:50051"
#define CLI_DEFAULT_TIMEOUT_MS 10000
#define CLI_MAX_TIMEOUT_S 86400
#define CLI_MAX_FLAGS 16 /* dsar rectify: every personal field of an account */
#define CLI_MAX_ARGS 8

/* A flag of a command: --NAME VALUE (or --NAME=VALUE), or a switch --NAME. */
typedef struct cli_flag {
    const char *name;    /* "service" for --service; NULL ends a list */
    const char *metavar; /* "NAME" for a flag that takes a value; NULL for a switch */
} cli_flag;

/* What the command line gave a command. */
typedef struct cli_args {
    /* flag[i] belongs to cmd->flags[i]: its value, "" for a given switch,
     * NULL if absent. A repeated flag keeps its last value. */
    const char *flag[CLI_MAX_FLAGS];
    const char *arg[CLI_MAX_ARGS]; /* the positional arguments */
    int n_args;
} cli_args;

typedef struct cli_ctx cli_ctx;

typedef struct cli_command {
    const char *name;       /* "health"; "usage show" for a two-word command */
    const char *synopsis;   /* after the name in the usage line: "[--service NAME]" */
    const char *summary;    /* one line for `minbill --help` */
    const char *help;       /* the rest of `minbill help NAME`: arguments, output, exit status */
    const cli_flag *flags;  /* at most CLI_MAX_FLAGS, NULL-name terminated; NULL for none */
    int min_args, max_args; /* positional arguments, max_args <= CLI_MAX_ARGS */
    /* Returns the exit code; any failure has printed its line (cli_fail). */
    int (*run)(cli_ctx *ctx, const cli_args *args);
} cli_command;

/* The global settings, valid while a handler runs. */
struct cli_ctx {
    const char *server;         /* HOST:PORT (mb_hostport_check) */
    const char *api_key;        /* NULL: send no authorization metadata */
    const char *api_key_source; /* "--api-key" or "MINBILL_API_KEY", for messages */
    int timeout_ms;
    /* TLS: the server's CA, and a client certificate and its key (files);
     * all NULL: plaintext. */
    const char *tls_ca, *tls_cert, *tls_key;
    bool json;
    const cli_command *cmd; /* NULL until the command is known */
    int64_t deadline_ms;    /* CLOCK_MONOTONIC: the whole command ends by then */
    mbc_channel_t *ch;      /* opened and closed by cli_rpc, on first use */
};

/* Runs the tool: parses argv against the table cmds[0..n) and returns the
 * process exit code. */
int cli_main(const cli_command *const *cmds, size_t n_cmds, int argc, char **argv);

/* Prints "minbill: COMMAND: message" on stderr (without "COMMAND: " if ctx
 * or ctx->cmd is NULL) and returns code. Control characters in the message
 * (say, from a server's status text) become '?', so it stays one line and
 * cannot drive the terminal. */
int cli_fail(const cli_ctx *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like cli_fail with CLI_USAGE, adding "(see minbill [COMMAND] --help)". */
int cli_usage_error(const cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Room for a user's word (a server address, a file name) in a message;
 * longer words are cut with "..." (see cli_word). */
#define CLI_WORD_MAX 128

/* Makes text from a server or a user safe for a terminal, in place: each
 * byte of invalid UTF-8 and each control or bidi override character becomes
 * '?', so the text never grows. */
void cli_clean(char *s);

/* Milliseconds left before ctx->deadline_ms; at least 1, so an exhausted
 * budget gives a call that fails with DEADLINE_EXCEEDED, never one without a
 * deadline. */
int cli_remaining_ms(const cli_ctx *ctx);

/* Parses a --timeout value: seconds as digits with an optional fraction
 * ("10", "0.5"), greater than 0 and at most CLI_MAX_TIMEOUT_S. Returns 0 and
 * sets *ms (rounded up, at least 1), or -1. */
int cli_parse_timeout(const char *s, int *ms);

/* A user's word made fit for an error message, in buf: a word that contains
 * the configured API key or looks like one ("mbk_"), or anything shaped like
 * an e-mail address, phone, card number or IBAN (check_no_personal_data),
 * becomes "(hidden)", control characters become '?', and long words are
 * cut. Returns buf. */
const char *cli_word(const cli_ctx *ctx, const char *word, char *buf, size_t size);

#endif

/*
 * cli_rpc.c - see cli_rpc.h.
 */
#include "cli_rpc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <grpc/support/log.h>
#include <sodium.h>

#include "base/error.h"

#define PEM_MAX (1 << 20)

/* The whole file at path, NUL-terminated, in locked memory that free_pem
 * wipes (one of them is a private key); NULL after saying which flag's file
 * could not be read. */
static char *read_pem(const cli_ctx *ctx, const char *flag, const char *path)
{
    char w[CLI_WORD_MAX];
    if (sodium_init() < 0) {
        cli_fail(NULL, CLI_FAILED, "libsodium failed to initialise");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf = NULL;
    bool ok = fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size <= PEM_MAX &&
              (buf = sodium_malloc((size_t)st.st_size + 1)) != NULL &&
              read(fd, buf, (size_t)st.st_size) == (ssize_t)st.st_size;
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (!ok) {
        sodium_free(buf);
        cli_fail(NULL, CLI_USAGE, "--%s: cannot read %s%s%s", flag,
                 cli_word(ctx, path, w, sizeof w), fd < 0 ? ": " : " (empty or over 1 MiB)",
                 fd < 0 ? strerror(e) : "");
        return NULL;
    }
    buf[st.st_size] = '\0';
    return buf;
}

static void free_pem(char *pem)
{
    sodium_free(pem); /* wipes; takes NULL */
}

/* gRPC's own log lines (a failed TLS handshake, say) would put a raw
 * second line on stderr; the tool's one line says what failed. */
static void drop_core_log(gpr_log_func_args *args)
{
    (void)args;
}

/* A channel as the global flags say: TLS if any --tls-* was given. */
static int open_channel(cli_ctx *ctx)
{
    gpr_set_log_function(drop_core_log);
    if (ctx->tls_ca == NULL && ctx->tls_cert == NULL) {
        ctx->ch = mbc_channel_new(ctx->server);
        return CLI_OK;
    }
    char *ca = NULL, *cert = NULL, *key = NULL;
    int rc = CLI_USAGE;
    if ((ctx->tls_ca == NULL || (ca = read_pem(ctx, "tls-ca", ctx->tls_ca)) != NULL) &&
        (ctx->tls_cert == NULL || ((cert = read_pem(ctx, "tls-cert", ctx->tls_cert)) != NULL &&
                                   (key = read_pem(ctx, "tls-key", ctx->tls_key)) != NULL))) {
        mbc_tls tls = {.ca_pem = ca, .cert_pem = cert, .key_pem = key};
        ctx->ch = mbc_channel_new_tls(ctx->server, &tls);
        rc = CLI_OK;
    }
    free_pem(ca);
    free_pem(cert);
    free_pem(key);
    return rc;
}

/* Opens the channel and waits for it to be ready. Waiting first is what
 * tells "nothing answers at that address" (exit 3) apart from "the server
 * answered no" (exit 1): a call on a dead channel would only fail with
 * UNAVAILABLE or DEADLINE_EXCEEDED, which the server can return too. */
int cli_rpc_connect(cli_ctx *ctx)
{
    if (ctx->ch != NULL)
        return CLI_OK;
    if (open_channel(ctx) != CLI_OK)
        return CLI_USAGE;
    if (ctx->ch == NULL || mbc_channel_wait_ready(ctx->ch, cli_remaining_ms(ctx)) != 0) {
        char w[CLI_WORD_MAX];
        cli_rpc_close(ctx); /* a later call tries afresh, never on a dead channel */
        return cli_fail(NULL, CLI_NO_CONNECT, "cannot connect to %s",
                        cli_word(ctx, ctx->server, w, sizeof w));
    }
    return CLI_OK;
}

int cli_rpc_unary(cli_ctx *ctx, const char *method, const ProtobufCMessage *req,
                  const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp)
{
    int rc = cli_rpc_connect(ctx);
    if (rc != CLI_OK)
        return rc;
    mb_error status;
    mb_error_clear(&status);
    *resp = NULL;
    if (mbc_unary(ctx->ch, method, ctx->api_key, req, resp_desc, cli_remaining_ms(ctx), resp,
                  &status) != 0)
        return cli_rpc_fail_status(ctx, &status);
    return CLI_OK;
}

int cli_rpc_fail_status(const cli_ctx *ctx, const mb_error *status)
{
    return cli_fail(ctx, CLI_FAILED, "%s%s%s", mb_status_name(status->code),
                    status->msg[0] != '\0' ? ": " : "", status->msg);
}

void cli_rpc_close(cli_ctx *ctx)
{
    mbc_channel_free(ctx->ch);
    ctx->ch = NULL;
}

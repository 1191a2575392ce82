/*
 * cli_rpc.c - see cli_rpc.h.
 */
#include "cli_rpc.h"

#include "base/error.h"


/* Opens the channel and waits for it to be ready. Waiting first is what
 * tells "nothing answers at that address" (exit 3) apart from "the server
 * answered no" (exit 1): a call on a dead channel would only fail with
 * UNAVAILABLE or DEADLINE_EXCEEDED, which the server can return too. */
int cli_rpc_connect(cli_ctx *ctx)
{
    if (ctx->ch != NULL)
        return CLI_OK;
    ctx->ch = mbc_channel_new(ctx->server);
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
        return cli_fail(ctx, CLI_FAILED, "%s%s%s", mb_status_name(status.code),
                        status.msg[0] != '\0' ? ": " : "", status.msg);
    return CLI_OK;
}

void cli_rpc_close(cli_ctx *ctx)
{
    mbc_channel_free(ctx->ch);
    ctx->ch = NULL;
}

/*
 * cli_rpc.h - how a `minbill` command talks to the server.
 *
 * Owns the tool's one channel: opened on a command's first call (so usage
 * errors and --help never touch the network) and closed by cli_main().
 * Every call carries the configured API key and gets only the time left in
 * the command's --timeout budget, so the whole command, connecting included,
 * ends within --timeout.
 *
 * Failures come back as exit codes with their line already printed:
 * CLI_NO_CONNECT "minbill: cannot connect to HOST:PORT", or CLI_FAILED
 * "minbill: COMMAND: CODE: server message".
 */
#ifndef MB_CLI_RPC_H
#define MB_CLI_RPC_H

#include <protobuf-c/protobuf-c.h>

#include "base/error.h"
#include "cli.h"

/* One unary call. On CLI_OK, *resp holds the answer; free it with
 * protobuf_c_message_free_unpacked(*resp, NULL). */
/* Opens the channel (once) and waits up to the command's remaining time
 * for it to connect: CLI_OK, or CLI_NO_CONNECT with the one-line message. */
int cli_rpc_connect(cli_ctx *ctx);

int cli_rpc_unary(cli_ctx *ctx, const char *method, const ProtobufCMessage *req,
                  const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp);

/* Prints "minbill: COMMAND: CODE: server message" for a failed call's
 * status and returns CLI_FAILED. */
int cli_rpc_fail_status(const cli_ctx *ctx, const mb_error *status);

/* Closes the channel if one was opened. */
void cli_rpc_close(cli_ctx *ctx);

#endif

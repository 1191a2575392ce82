/*
 * cmd_account.h - `minbill account show ACCOUNT_ID [--reveal]`: one account,
 * its state and its contacts, from minbill.v1.Accounts/GetAccount.
 */
#ifndef MB_CMD_ACCOUNT_H
#define MB_CMD_ACCOUNT_H

#include <protobuf-c/protobuf-c.h>

#include "cli.h"

extern const cli_command cmd_account_show;

/* The human form of an Account message (msg), as `account show` prints it:
 * label/value rows, then a table of contacts, each marked when restricted or
 * objecting to marketing. arg is unused (table_show's signature). Returns
 * 0, or -1 if memory ran out. `dsar rectify` prints its answer with it. */
int cmd_account_print(const ProtobufCMessage *msg, const void *arg);

#endif

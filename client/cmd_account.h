/*
 * cmd_account.h - `minbill account show ACCOUNT_ID [--reveal]`: one account,
 * its state and its contacts, from minbill.v1.Accounts/GetAccount.
 */
#ifndef MB_CMD_ACCOUNT_H
#define MB_CMD_ACCOUNT_H

#include "cli.h"

extern const cli_command cmd_account_show;

#endif

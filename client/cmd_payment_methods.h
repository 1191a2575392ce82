/*
 * cmd_payment_methods.h - `minbill payment-methods list ACCOUNT_ID`: an
 * account's payment methods (token and clear metadata, never a PAN or IBAN)
 * from minbill.v1.Accounts/ListPaymentMethods.
 */
#ifndef MB_CMD_PAYMENT_METHODS_H
#define MB_CMD_PAYMENT_METHODS_H

#include "cli.h"

extern const cli_command cmd_payment_methods_list;

#endif

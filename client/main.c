/*
 * main.c - minbill: the command-line client of minbilld.
 *
 *   minbill [--server HOST:PORT] [--api-key KEY] [--json] [--timeout S] COMMAND ...
 *
 * This file is only the command table; cli.c does the parsing, help and exit
 * codes. To add a command: write cmd_NAME.{c,h} defining one cli_command,
 * list it below, and add the .c to client/CMakeLists.txt.
 */
#include "cli.h"
#include "cmd_account.h"
#include "cmd_dsar.h"
#include "cmd_health.h"
#include "cmd_invoices.h"
#include "cmd_payment_methods.h"
#include "cmd_usage.h"

/* In the order `minbill --help` lists them. */
static const cli_command *const commands[] = {
    &cmd_health,
    &cmd_account_show,
    &cmd_payment_methods_list,
    &cmd_usage_show,
    &cmd_usage_import,
    &cmd_invoices_run,
    &cmd_invoices_list,
    &cmd_invoice_show,
    &cmd_invoice_render,
    &cmd_invoice_credit,
    &cmd_dsar_open,
    &cmd_dsar_list,
    &cmd_dsar_show,
    &cmd_dsar_export,
    &cmd_dsar_rectify,
    &cmd_dsar_restrict,
    &cmd_dsar_erase,
    &cmd_dsar_complete,
    &cmd_dsar_reject,
    &cmd_dsar_extend,
};

int main(int argc, char **argv)
{
    return cli_main(commands, sizeof commands / sizeof commands[0], argc, argv);
}

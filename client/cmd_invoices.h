/*
 * cmd_invoices.h - the finance commands: invoices run, invoices list,
 * invoice show, invoice render, invoice credit.
 */
#ifndef MB_CMD_INVOICES_H
#define MB_CMD_INVOICES_H

#include "cli.h"

extern const cli_command cmd_invoices_run;
extern const cli_command cmd_invoices_list;
extern const cli_command cmd_invoice_show;
extern const cli_command cmd_invoice_render;
extern const cli_command cmd_invoice_credit;

#endif

/*
 * cmd_dsar.h - the `minbill dsar` commands: data-subject requests (GDPR
 * Art. 12-21) over minbill.v1.Privacy, for the privacy officer (support may
 * open requests).
 *
 *   dsar open (--email E | --contact [ACCOUNT_ID/]CONTACT_ID | --account ID)
 *             --kind KIND --verified-by WHO
 *   dsar list [--overdue] [--state STATE] [--kind KIND] [--account ID]
 *   dsar show ID              dsar export ID --out FILE
 *   dsar rectify ID [--account ID] [account fields] [--contact CID contact fields]
 *   dsar restrict ID          dsar erase ID [--yes]
 *   dsar complete ID [--reason TEXT]    dsar reject ID --reason TEXT
 *   dsar extend ID --months 1|2 --reason TEXT
 *
 * Owns turning flags into Privacy requests (the dsar_build_* functions, kept
 * apart from the calls so tests can check them), the export file (it
 * appears whole, mode 0600, or not at all), and the erase confirmation.
 * Usage errors name the flag and the rule, never a value: what a person
 * types here is often an e-mail address or a phone number.
 */
#ifndef MB_CMD_DSAR_H
#define MB_CMD_DSAR_H

#include <stddef.h>

#include "cli.h"
#include "minbill/v1/privacy.pb-c.h"

extern const cli_command cmd_dsar_open;
extern const cli_command cmd_dsar_list;
extern const cli_command cmd_dsar_show;
extern const cli_command cmd_dsar_export;
extern const cli_command cmd_dsar_rectify;
extern const cli_command cmd_dsar_restrict;
extern const cli_command cmd_dsar_erase;
extern const cli_command cmd_dsar_complete;
extern const cli_command cmd_dsar_reject;
extern const cli_command cmd_dsar_extend;

/* The builders take args as cli_main parsed them for the command named, and
 * fill req with pointers into args (nothing to free). Each returns 0, or -1
 * with why set to the usage error (flag and rule, no value). */

/* cmd_dsar_open: exactly one subject flag; --kind and --verified-by. */
int dsar_build_open(const cli_args *args, Minbill__V1__OpenSubjectRequestRequest *req, char *why,
                    size_t why_size);

/* cmd_dsar_list: the filters; page_size and page_token are the caller's. */
int dsar_build_list(const cli_args *args, Minbill__V1__ListSubjectRequestsRequest *req, char *why,
                    size_t why_size);

/* What RectifySubjectRequest.changes and .clear point to: the account, its
 * address, the one contact a command line can change, and the fields
 * --clear names (each clearable field once at most). */
#define DSAR_ID_MAX 64 /* service/base/check.h: check_id */
#define DSAR_CLEAR_MAX 5
typedef struct dsar_changes {
    Minbill__V1__Account account;
    Minbill__V1__PostalAddress address;
    Minbill__V1__Contact contact;
    Minbill__V1__Contact *contacts[1];
    Minbill__V1__ClearedField clear[DSAR_CLEAR_MAX];
    Minbill__V1__ClearedField *clears[DSAR_CLEAR_MAX];
    size_t n_clear;
    char account_id[DSAR_ID_MAX + 1]; /* from --contact ACCOUNT_ID/CONTACT_ID */
} dsar_changes;

/* cmd_dsar_rectify: req->changes and req->clear point into *c. The account
 * is --account or the ACCOUNT_ID part of --contact; only the fields given
 * are set (the server keeps the rest), and --clear names those to remove. */
int dsar_build_rectify(const cli_args *args, dsar_changes *c,
                       Minbill__V1__RectifySubjectRequest *req, char *why, size_t why_size);

/* cmd_dsar_extend: --months 1 or 2, --reason. */
int dsar_build_extend(const cli_args *args, Minbill__V1__ExtendSubjectRequestRequest *req,
                      char *why, size_t why_size);

#endif

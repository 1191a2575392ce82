/*
 * inventory.c - see inventory.h. Keep this table in step with migrations/:
 * tests/unit/inventory checks that every declared column exists.
 */
#include "inventory/inventory.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "crypto/mask.h"

#define SUP INV_PURPOSE(PURPOSE_SUPPORT)
#define INV INV_PURPOSE(PURPOSE_INVOICING)
#define EXP INV_PURPOSE(PURPOSE_EXPORT)
#define PAY INV_PURPOSE(PURPOSE_PAYMENT)
#define MKT INV_PURPOSE(PURPOSE_MARKETING)

/* Non-personal columns: ids, states, settings, key references. */
#define PLAIN(t, c, p)                                                                             \
    {                                                                                              \
        .table = t, .column = c, .name = c, .personal = false, .purposes = p                       \
    }

static const char CONTRACT[] = "Art. 6(1)(b) GDPR: performance of the billing contract";
static const char LEGAL_DUTY[] =
    "Art. 6(1)(c) GDPR: invoicing duties (Art. 226 VAT Directive, §14 UStG)";
static const char PLATFORM_SOURCE[] = "the dealer's account on the messaging platform";
/* The recipients the privacy policy names: minbill's processors, and for
 * invoices the tax authorities. */
#define PROCESSORS                                                                                 \
    "processors acting for the platform: hosting, data storage, database monitoring and "          \
    "customer-support software"
static const char TO_PROCESSORS[] = PROCESSORS;
static const char TO_INVOICE_RECIPIENTS[] =
    "the recipient of the invoice; tax authorities on audit; " PROCESSORS;
static const char TO_BANK[] = "the payment processor or bank, when collecting; " PROCESSORS;

const inv_field inventory_fields[] = {
    PLAIN("accounts", "account_id", SUP | INV | EXP | PAY),
    PLAIN("accounts", "state", SUP | INV | EXP),
    PLAIN("accounts", "currency", SUP | INV | EXP),
    PLAIN("accounts", "plan_id", SUP | INV | EXP),
    PLAIN("accounts", "dek_id", SUP | INV | EXP),
    PLAIN("accounts", "default_payment_method", SUP | INV | EXP | PAY),
    PLAIN("accounts", "created_at", SUP | INV | EXP),
    PLAIN("accounts", "updated_at", SUP | INV | EXP),
    PLAIN("accounts", "closed_at", SUP | INV | EXP),
    {.table = "accounts",
     .column = "legal_name_ct",
     .name = "account legal name",
     .personal = true,
     .purposes = SUP | INV | EXP,
     .category = "identity (sole traders)",
     .why = "to name the invoice recipient",
     .legal_basis = LEGAL_DUTY,
     .recipients = TO_INVOICE_RECIPIENTS,
     .source = PLATFORM_SOURCE,
     .mask = MASK_NONE,
     .export_as = EXPORT_SEALED,
     .portable = true},
    {.table = "accounts",
     .column = "address_ct",
     .name = "billing address",
     .personal = true,
     .purposes = INV | EXP,
     .category = "contact details (sole traders)",
     .why = "the invoice must state the recipient's address",
     .legal_basis = LEGAL_DUTY,
     .recipients = TO_INVOICE_RECIPIENTS,
     .source = PLATFORM_SOURCE,
     .mask = MASK_HIDDEN,
     .export_as = EXPORT_ADDRESS,
     .portable = true},
    {.table = "accounts",
     .column = "vat_id_ct",
     .name = "VAT identification number",
     .personal = true,
     .purposes = INV | EXP,
     .category = "tax identifiers",
     .why = "reverse-charge invoices must state the recipient's VAT id",
     .legal_basis = LEGAL_DUTY,
     .recipients = TO_INVOICE_RECIPIENTS,
     .source = PLATFORM_SOURCE,
     .mask = MASK_HIDDEN,
     .export_as = EXPORT_SEALED,
     .portable = true},

    PLAIN("contacts", "account_id", MKT | SUP | EXP),
    PLAIN("contacts", "contact_id", MKT | SUP | EXP),
    PLAIN("contacts", "role", MKT | SUP | EXP),
    PLAIN("contacts", "dek_id", MKT | EXP),
    PLAIN("contacts", "created_at", SUP | EXP),
    PLAIN("contacts", "updated_at", SUP | EXP),
    {.table = "contacts",
     .column = "name_ct",
     .name = "contact name",
     .personal = true,
     .purposes = EXP | MKT,
     .category = "identity",
     .why = "to address billing questions to a person",
     .legal_basis = CONTRACT,
     .recipients = TO_PROCESSORS,
     .source = PLATFORM_SOURCE,
     .mask = MASK_NAME,
     .export_as = EXPORT_SEALED,
     .portable = true},
    {.table = "contacts",
     .column = "email_ct",
     .name = "contact e-mail",
     .personal = true,
     .purposes = EXP | MKT,
     .category = "contact details",
     .why = "to send invoices and billing notices; product news unless the contact objects",
     .legal_basis = CONTRACT,
     .recipients = TO_PROCESSORS,
     .source = PLATFORM_SOURCE,
     .mask = MASK_EMAIL,
     .export_as = EXPORT_SEALED,
     .portable = true},
    {.table = "contacts",
     .column = "phone_ct",
     .name = "contact phone",
     .personal = true,
     .purposes = EXP,
     .category = "contact details",
     .why = "to resolve billing problems",
     .legal_basis = CONTRACT,
     .recipients = TO_PROCESSORS,
     .source = PLATFORM_SOURCE,
     .mask = MASK_PHONE,
     .export_as = EXPORT_SEALED,
     .portable = true},
    {.table = "contacts",
     .column = "name_masked",
     .name = "contact name (masked)",
     .personal = true,
     .purposes = SUP,
     .category = "identity (pseudonymised)",
     .why = "lets support recognise a contact without seeing it",
     .legal_basis = CONTRACT,
     .recipients = TO_PROCESSORS,
     .source = "derived from the contact name",
     .mask = MASK_NONE,
     .export_as = EXPORT_OMIT,
     .portable = false},
    {.table = "contacts",
     .column = "email_masked",
     .name = "contact e-mail (masked)",
     .personal = true,
     .purposes = SUP,
     .category = "contact details (pseudonymised)",
     .why = "lets support recognise a contact without seeing it",
     .legal_basis = CONTRACT,
     .recipients = TO_PROCESSORS,
     .source = "derived from the contact e-mail",
     .mask = MASK_NONE,
     .export_as = EXPORT_OMIT,
     .portable = false},
    {.table = "contacts",
     .column = "phone_masked",
     .name = "contact phone (masked)",
     .personal = true,
     .purposes = SUP,
     .category = "contact details (pseudonymised)",
     .why = "lets support recognise a contact without seeing it",
     .legal_basis = CONTRACT,
     .recipients = TO_PROCESSORS,
     .source = "derived from the contact phone",
     .mask = MASK_NONE,
     .export_as = EXPORT_OMIT,
     .portable = false},
    {.table = "contacts",
     .column = "email_bidx",
     .name = "contact e-mail (keyed hash)",
     .personal = true,
     .purposes = EXP,
     .category = "contact details (pseudonymised)",
     .why = "to find every record of a person who asks by e-mail",
     .legal_basis = CONTRACT,
     .recipients = TO_PROCESSORS,
     .source = "derived from the contact e-mail",
     .mask = MASK_HIDDEN,
     .export_as = EXPORT_OMIT,
     .portable = false},

    PLAIN("payment_methods", "method_id", EXP | PAY),
    PLAIN("payment_methods", "token", SUP | INV | EXP | PAY),
    PLAIN("payment_methods", "account_id", SUP | INV | EXP | PAY),
    PLAIN("payment_methods", "type", SUP | INV | EXP | PAY),
    PLAIN("payment_methods", "brand", SUP | INV | EXP | PAY),
    PLAIN("payment_methods", "exp_month", SUP | INV | EXP | PAY),
    PLAIN("payment_methods", "exp_year", SUP | INV | EXP | PAY),
    PLAIN("payment_methods", "country_code", SUP | INV | EXP | PAY),
    PLAIN("payment_methods", "bic", INV | EXP | PAY),
    PLAIN("payment_methods", "mandate_signed_us", INV | EXP | PAY),
    PLAIN("payment_methods", "dek_id", EXP | PAY),
    PLAIN("payment_methods", "created_us", SUP | INV | EXP | PAY),
    {.table = "payment_methods",
     .column = "last4",
     .name = "card or account number (last 4)",
     .personal = true,
     .purposes = SUP | INV | EXP | PAY,
     .category = "payment data (truncated)",
     .why = "lets the dealer and support recognise the payment method",
     .legal_basis = CONTRACT,
     .recipients = TO_PROCESSORS,
     .source = PLATFORM_SOURCE,
     .mask = MASK_NONE,
     .export_as = EXPORT_VALUE,
     .portable = true},
    {.table = "payment_methods",
     .column = "mandate_reference",
     .name = "SEPA mandate reference",
     .personal = true,
     .purposes = SUP | INV | EXP | PAY,
     .category = "payment data",
     .why = "a SEPA direct debit must cite its mandate",
     .legal_basis = CONTRACT,
     .recipients = TO_BANK,
     .source = PLATFORM_SOURCE,
     .mask = MASK_NONE,
     .export_as = EXPORT_VALUE,
     .portable = true},
    {.table = "payment_methods",
     .column = "fingerprint",
     .name = "payment number (keyed hash)",
     .personal = true,
     .purposes = SUP | INV | EXP | PAY,
     .category = "payment data (pseudonymised)",
     .why = "recognises the same card or account without revealing it",
     .legal_basis = CONTRACT,
     .recipients = TO_PROCESSORS,
     .source = "derived from the number",
     .mask = MASK_HIDDEN,
     .export_as = EXPORT_OMIT,
     .portable = false},
    /* Tokens issued before migration 0006, which do not carry their row id:
     * only a lookup by token reads them, and only payment collection looks
     * methods up by token on a read connection (reveal). */
    PLAIN("payment_token_legacy", "token", PAY),
    PLAIN("payment_token_legacy", "method_id", PAY),
    /* The export reads the holder name (Art. 15), never the number. */
    PLAIN("payment_vault", "method_id", EXP | PAY),
    {.table = "payment_vault",
     .column = "number_ct",
     .name = "card number (PAN) or IBAN",
     .personal = true,
     .purposes = PAY,
     .category = "payment data",
     .why = "to collect the dealer's payments",
     .legal_basis = CONTRACT,
     .recipients = TO_BANK,
     .source = PLATFORM_SOURCE,
     .mask = MASK_LAST4,
     .export_as = EXPORT_OMIT,
     .portable = false},
    {.table = "payment_vault",
     .column = "holder_ct",
     .name = "card or account holder name",
     .personal = true,
     .purposes = EXP | PAY,
     .category = "identity",
     .why = "card and SEPA payments name the holder",
     .legal_basis = CONTRACT,
     .recipients = TO_BANK,
     .source = PLATFORM_SOURCE,
     .mask = MASK_NAME,
     .export_as = EXPORT_SEALED,
     .portable = true},

    /* Plans and usage counters are about dealers' accounts, not persons. */
    PLAIN("plans", "plan_id", SUP | INV),
    PLAIN("plans", "currency", SUP | INV),
    PLAIN("plans", "base_fee_minor", SUP | INV),
    PLAIN("plans", "created_at", SUP | INV),
    PLAIN("plans", "updated_at", SUP | INV),
    PLAIN("plan_prices", "plan_id", SUP | INV),
    PLAIN("plan_prices", "metric", SUP | INV),
    PLAIN("plan_prices", "position", SUP | INV),
    PLAIN("plan_prices", "description", SUP | INV),
    PLAIN("plan_prices", "unit_price_micros", SUP | INV),
    PLAIN("plan_prices", "included_quantity", SUP | INV),
    PLAIN("plan_tiers", "plan_id", SUP | INV),
    PLAIN("plan_tiers", "metric", SUP | INV),
    PLAIN("plan_tiers", "position", SUP | INV),
    PLAIN("plan_tiers", "up_to", SUP | INV),
    PLAIN("plan_tiers", "unit_price_micros", SUP | INV),
    PLAIN("usage_counters", "account_id", SUP | INV | EXP),
    PLAIN("usage_counters", "period", SUP | INV | EXP),
    PLAIN("usage_counters", "metric", SUP | INV | EXP),
    PLAIN("usage_counters", "quantity", SUP | INV | EXP),
    PLAIN("usage_counters", "invoiced_quantity", SUP | INV | EXP),
    PLAIN("invoiced_periods", "account_id", SUP | INV | EXP),
    PLAIN("invoiced_periods", "period", SUP | INV | EXP),
    PLAIN("invoiced_periods", "invoice_number", SUP | INV | EXP),
    PLAIN("invoiced_periods", "issued_at", SUP | INV | EXP),

    /* The audit chain's head and purge anchors (0010): no personal data;
     * only the audit module reads them, on the internal connections. */
    PLAIN("audit_head", "id", 0),
    PLAIN("audit_head", "seq", 0),
    PLAIN("audit_head", "hash", 0),
    PLAIN("audit_head", "mac", 0),
    PLAIN("audit_anchors", "id", 0),
    PLAIN("audit_anchors", "through_seq", 0),
    PLAIN("audit_anchors", "through_hash", 0),
    PLAIN("audit_anchors", "purged_total", 0),
    PLAIN("audit_anchors", "purged_us", 0),
    PLAIN("audit_anchors", "mac", 0),

    /* Issued invoices and credit notes: the clear columns carry no personal
     * data; the sealed document holds the recipient snapshot the law
     * requires (legal name, address, VAT id), kept for the seller's
     * retention period under a key of its retention class. */
    PLAIN("invoices", "invoice_number", SUP | INV | EXP),
    PLAIN("invoices", "type", SUP | INV | EXP),
    PLAIN("invoices", "account_id", SUP | INV | EXP),
    PLAIN("invoices", "period", SUP | INV | EXP),
    PLAIN("invoices", "issue_date", SUP | INV | EXP),
    PLAIN("invoices", "currency", SUP | INV | EXP),
    PLAIN("invoices", "net_minor", SUP | INV | EXP),
    PLAIN("invoices", "tax_minor", SUP | INV | EXP),
    PLAIN("invoices", "gross_minor", SUP | INV | EXP),
    PLAIN("invoices", "original_number", SUP | INV | EXP),
    PLAIN("invoices", "retention_class", SUP | INV | EXP),
    PLAIN("invoices", "retain_until", SUP | INV | EXP),
    PLAIN("invoices", "created_us", SUP | INV | EXP),
    {.table = "invoices",
     .column = "document_ct",
     .name = "issued invoice (recipient snapshot)",
     .personal = true,
     .purposes = SUP | INV | EXP,
     .category = "identity, address and tax identifiers on invoices",
     .why = "an issued invoice must be kept as issued",
     .legal_basis = LEGAL_DUTY,
     .recipients = TO_INVOICE_RECIPIENTS,
     .source = PLATFORM_SOURCE,
     .mask = MASK_HIDDEN,
     .export_as = EXPORT_OMIT,
     .portable = false},
    PLAIN("retention_keys", "class", SUP | INV | EXP),
    PLAIN("retention_keys", "dek_id", SUP | INV | EXP),
    PLAIN("retention_keys", "retain_until", SUP | INV | EXP),
    /* Numbering is the writer's alone. */
    PLAIN("invoice_series", "series", 0),
    PLAIN("invoice_series", "last", 0),

    /* Access requests: ids, dates and staff notes (checked free text). */
    PLAIN("subject_requests", "request_id", EXP),
    PLAIN("subject_requests", "kind", EXP),
    PLAIN("subject_requests", "state", EXP),
    PLAIN("subject_requests", "subject_type", EXP),
    PLAIN("subject_requests", "verified_by", EXP),
    PLAIN("subject_requests", "received_us", EXP),
    PLAIN("subject_requests", "due_us", EXP),
    PLAIN("subject_requests", "original_due_us", EXP),
    PLAIN("subject_requests", "extension_reason", EXP),
    PLAIN("subject_requests", "completed_us", EXP),
    PLAIN("subject_requests", "outcome_reason", EXP),
    PLAIN("subject_request_scope", "request_id", EXP),
    PLAIN("subject_request_scope", "account_id", EXP),
    PLAIN("subject_request_scope", "contact_id", EXP),
    PLAIN("subject_request_notices", "request_id", EXP),
    PLAIN("subject_request_notices", "recipient", EXP),
    PLAIN("accounts", "restricted_us", SUP | INV | EXP),
    PLAIN("contacts", "restricted_us", SUP | EXP | MKT),
    PLAIN("contacts", "objected_us", SUP | EXP | MKT),
    PLAIN("payment_methods", "restricted_us", SUP | INV | EXP | PAY),
    PLAIN("settings", "name", EXP),
    PLAIN("settings", "value", EXP),
    PLAIN("settings", "updated_us", 0),

    /* The audit trail: ids, roles, codes and checked free text, never
     * personal values; an export shows who acted on the subject's account. */
    PLAIN("audit_events", "seq", EXP),
    PLAIN("audit_events", "occurred_us", EXP),
    PLAIN("audit_events", "actor_key_id", EXP),
    PLAIN("audit_events", "actor_role", EXP),
    PLAIN("audit_events", "action", EXP),
    PLAIN("audit_events", "account_id", EXP),
    PLAIN("audit_events", "target_id", EXP),
    PLAIN("audit_events", "purpose", EXP),
    PLAIN("audit_events", "request_id", EXP),
    PLAIN("audit_events", "prev_hash", 0),
    PLAIN("audit_events", "hash", 0),
    PLAIN("audit_purge_gate", "opened_by", 0),

    /* minbill's own bookkeeping: read on internal connections only. */
    PLAIN("schema_migrations", "version", 0),
    PLAIN("schema_migrations", "name", 0),
    PLAIN("schema_migrations", "applied_at", 0),
    PLAIN("api_keys", "key_id", 0),
    PLAIN("api_keys", "name", 0),
    PLAIN("api_keys", "role", 0),
    PLAIN("api_keys", "kind", 0),
    PLAIN("api_keys", "secret_hash", 0),
    PLAIN("api_keys", "created_at", 0),
    PLAIN("api_keys", "revoked_at", 0),
    PLAIN("keyring_secrets", "name", 0),
    PLAIN("keyring_secrets", "master_version", 0),
    PLAIN("keyring_secrets", "nonce", 0),
    PLAIN("keyring_secrets", "wrapped", 0),
    PLAIN("keyring_secrets", "created_at", 0),
    PLAIN("keyring_master", "created_at", 0),
    PLAIN("data_keys", "created_at", 0),
    /* Idempotency keys are stored as keyed hashes: nothing to read back. */
    PLAIN("usage_idem_runs", "run", 0),
    PLAIN("usage_idem_runs", "first_day", 0),
    PLAIN("usage_idem_runs", "last_day", 0),
    PLAIN("usage_idem_runs", "nonce", 0),
    PLAIN("usage_idem", "run", 0),
    PLAIN("usage_idem", "hash", 0),

    /* Unwrapping may need to learn a new master key version (rotation). */
    PLAIN("keyring_master", "version", SUP | INV | EXP | PAY | MKT),
    PLAIN("keyring_master", "key_id", SUP | INV | EXP | PAY | MKT),
    PLAIN("data_keys", "dek_id", SUP | INV | EXP | PAY | MKT),
    PLAIN("data_keys", "master_version", SUP | INV | EXP | PAY | MKT),
    PLAIN("data_keys", "nonce", SUP | INV | EXP | PAY | MKT),
    PLAIN("data_keys", "wrapped", SUP | INV | EXP | PAY | MKT),
};

const size_t inventory_count = sizeof inventory_fields / sizeof inventory_fields[0];

/* Settings (table settings) that hold the amounts of retention rules; the
 * daemon stores them at start and `minbilld purge` reads them. */
#define GRACE_DAYS "closed_account_grace_days"

#define SUBJECT_KEYED(t, key, ad, erase, rows_rule)                                                \
    .table = t, .account_col = "account_id", .key_col = key, .ad_row_sql = ad, .erasure = erase,   \
    .rows = rows_rule, .restricted_col = "restricted_us"

/* Texts of rules whose amount is a setting state no figure: the export
 * adds the stored one (what the purges use). */
static const char KEPT_WHILE_ACCOUNT[] =
    "until erased on request, or the grace period after the account is closed (an issued "
    "invoice keeps its own copy)";

static const char PAYMENT_KEPT[] =
    "until the payment method is detached or erased, or the grace period after the account is "
    "closed";

const inv_table inventory_tables[] = {
    {SUBJECT_KEYED("accounts", "dek_id", "r.account_id", ERASE_FIELDS, ROWS_MASK),
     .retention = {.trigger = RETAIN_UNTIL_ERASED, .setting = GRACE_DAYS},
     .retention_text = KEPT_WHILE_ACCOUNT},
    {SUBJECT_KEYED("contacts", "dek_id", "r.account_id || '/' || r.contact_id", ERASE_ROWS,
                   ROWS_HIDE),
     .contact_col = "contact_id", .objected_col = "objected_us",
     .retention = {.trigger = RETAIN_UNTIL_ERASED, .setting = GRACE_DAYS},
     .retention_text = KEPT_WHILE_ACCOUNT},
    {SUBJECT_KEYED("payment_methods", "dek_id", "r.token", ERASE_ROWS, ROWS_HIDE),
     .retention = {.trigger = RETAIN_UNTIL_ERASED, .setting = GRACE_DAYS},
     .retention_text = PAYMENT_KEPT},
    /* The vault row is sealed under its method's key, with the token as
     * its row id; it goes with its method. */
    {.table = "payment_vault",
     .parent_table = "payment_methods",
     .parent_col = "method_id",
     .key_col = "dek_id",
     .ad_row_sql = "p.token",
     .erasure = ERASE_ROWS,
     .rows = ROWS_PARENT,
     .retention = {.trigger = RETAIN_UNTIL_ERASED, .setting = GRACE_DAYS},
     .retention_text = PAYMENT_KEPT},
    {.table = "payment_token_legacy",
     .parent_table = "payment_methods",
     .parent_col = "method_id",
     .erasure = ERASE_ROWS,
     .rows = ROWS_PARENT},
    /* Issued documents: sealed under their retention class's key, never the
     * account's; an erasure keeps them, restricted, until retention ends.
     * They cannot be updated, so they follow their account's restriction. */
    {.table = "invoices",
     .account_col = "account_id",
     .parent_table = "accounts",
     .parent_col = "account_id",
     .ad_row_sql = "r.invoice_number",
     .erasure = ERASE_RETAIN,
     .rows = ROWS_PARENT,
     .retain_until_col = "retain_until",
     .retention = {.trigger = RETAIN_AFTER_ISSUE_YEAR, .amount = 8},
     .retention_text = "the seller's retention period for invoices (NL 7, DE 8 years, "
                       "§14b UStG / §147 AO), counted from the end of the year of issue; then "
                       "destroyed with its retention class key"},
    {.table = "usage_counters", .account_col = "account_id"},
    {.table = "invoiced_periods", .account_col = "account_id"},
    {.table = "usage_idem",
     .retention = {.trigger = RETAIN_WINDOW, .setting = "acceptance_window_days"}},
    {.table = "audit_events",
     .account_col = "account_id",
     .retention = {.trigger = RETAIN_AFTER_EVENT, .setting = "audit_retention_days"},
     .retention_text = "a period after each event (the proof that requests were answered and "
                       "who saw what)"},
    {.table = "subject_requests",
     .retention = {.trigger = RETAIN_AFTER_COMPLETION, .setting = "subject_request_retention_days"},
     .retention_text = "a period after the request was closed (the limitation period, §195 "
                       "BGB)"},
};

const size_t inventory_tables_count = sizeof inventory_tables / sizeof inventory_tables[0];

const inv_table *inventory_table(const char *table)
{
    for (size_t i = 0; i < inventory_tables_count; i++)
        if (strcmp(inventory_tables[i].table, table) == 0)
            return &inventory_tables[i];
    return NULL;
}

bool inventory_purpose_restricted(int purpose)
{
    return purpose != PURPOSE_EXPORT && purpose != PURPOSE_INVOICING;
}

const char *inventory_purpose_name(inv_purpose p)
{
    static const char *const names[PURPOSE_COUNT] = {
        [PURPOSE_SUPPORT] = "support",     [PURPOSE_INVOICING] = "invoicing",
        [PURPOSE_EXPORT] = "export",       [PURPOSE_PAYMENT] = "payment",
        [PURPOSE_MARKETING] = "marketing",
    };
    return (unsigned)p < PURPOSE_COUNT ? names[p] : "unknown";
}

bool inventory_readable(int purpose, const char *table, const char *column)
{
    if (purpose < 0 || purpose >= PURPOSE_COUNT || table == NULL || column == NULL)
        return false;
    /* SQLite asks about a table with an empty column name when a statement
     * reads rows without naming a column (a rowid alias, count(*)): that
     * is allowed where the purpose may read some column of the table. */
    bool whole_table = column[0] == '\0';
    for (size_t i = 0; i < inventory_count; i++) {
        const inv_field *f = &inventory_fields[i];
        if (strcmp(f->table, table) != 0 || (!whole_table && strcmp(f->column, column) != 0))
            continue;
        if ((f->purposes & INV_PURPOSE(purpose)) != 0 || !whole_table)
            return (f->purposes & INV_PURPOSE(purpose)) != 0;
    }
    return false;
}

void inventory_mask(const char *table, const char *column, const char *value, char *out,
                    size_t size)
{
    inv_mask rule = MASK_HIDDEN; /* an undeclared column shows nothing */
    for (size_t i = 0; i < inventory_count; i++)
        if (strcmp(inventory_fields[i].table, table) == 0 &&
            strcmp(inventory_fields[i].column, column) == 0)
            rule = inventory_fields[i].mask;
    if (size == 0)
        return;
    out[0] = '\0';
    if (value == NULL || value[0] == '\0')
        return;
    switch (rule) {
    case MASK_NONE:
        snprintf(out, size, "%s", value);
        break;
    case MASK_EMAIL:
        mask_email(value, out, size);
        break;
    case MASK_PHONE:
        mask_phone(value, out, size);
        break;
    case MASK_NAME:
        mask_name(value, out, size);
        break;
    case MASK_LAST4: {
        size_t n = strlen(value);
        snprintf(out, size, "%s", value + (n > 4 ? n - 4 : 0));
        break;
    }
    case MASK_HIDDEN:
        break;
    }
}

/* Appends printf-style text to the view SQL being built. */
static void views_add(char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void views_add(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, size - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len = *len + (size_t)n < size ? *len + (size_t)n : size - 1;
}

/* The view of one table for a restricted purpose: every declared column of
 * the table (the authorizer decides which the purpose may read, on the
 * view), rows or personal values of restricted rows left out. */
static void view_of(const inv_table *t, int purpose, char *buf, size_t size, size_t *len)
{
    views_add(buf, size, len, "CREATE TEMP VIEW %s AS SELECT ", t->table);
    bool first = true;
    for (size_t i = 0; i < inventory_count; i++) {
        const inv_field *f = &inventory_fields[i];
        if (strcmp(f->table, t->table) != 0)
            continue;
        if (t->rows == ROWS_MASK && f->personal)
            views_add(buf, size, len, "%sCASE WHEN r.%s IS NULL THEN r.%s END AS %s",
                      first ? "" : ", ", t->restricted_col, f->column, f->column);
        else
            views_add(buf, size, len, "%sr.%s", first ? "" : ", ", f->column);
        first = false;
    }
    views_add(buf, size, len, " FROM main.%s r", t->table);
    if (t->rows == ROWS_HIDE) {
        views_add(buf, size, len, " WHERE r.%s IS NULL", t->restricted_col);
        if (purpose == PURPOSE_MARKETING && t->objected_col != NULL)
            views_add(buf, size, len, " AND r.%s IS NULL", t->objected_col);
    } else if (t->rows == ROWS_PARENT) {
        /* A seek in the parent's key per row read. NOT IN (SELECT ... WHERE
         * restricted) scanned the whole parent table on every statement: a
         * reveal read payment_methods twice (vault and legacy token views),
         * ~15 ms at 100,000 methods. The joining columns are NOT NULL, so
         * the two say the same. */
        const inv_table *p = inventory_table(t->parent_table);
        views_add(
            buf, size, len,
            " WHERE NOT EXISTS (SELECT 1 FROM main.%s p WHERE p.%s = r.%s AND p.%s IS NOT NULL)",
            p->table, t->parent_col, t->parent_col, p->restricted_col);
    }
    views_add(buf, size, len, ";\n");
}

static char views_sql[PURPOSE_COUNT][8192];
static pthread_once_t views_once = PTHREAD_ONCE_INIT;

static void views_build(void)
{
    for (int p = 0; p < PURPOSE_COUNT; p++) {
        size_t len = 0;
        if (!inventory_purpose_restricted(p))
            continue;
        for (size_t i = 0; i < inventory_tables_count; i++)
            if (inventory_tables[i].rows != ROWS_ALL)
                view_of(&inventory_tables[i], p, views_sql[p], sizeof views_sql[p], &len);
    }
}

const char *inventory_views_sql(int purpose)
{
    if (purpose < 0 || purpose >= PURPOSE_COUNT)
        return "";
    pthread_once(&views_once, views_build);
    return views_sql[purpose];
}

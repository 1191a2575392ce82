/*
 * inventory.c - see inventory.h. Keep this table in step with migrations/:
 * tests/unit/inventory checks that every declared column exists.
 */
#include "inventory/inventory.h"

#include <stdio.h>
#include <string.h>

#include "crypto/mask.h"

#define SUP INV_PURPOSE(PURPOSE_SUPPORT)
#define INV INV_PURPOSE(PURPOSE_INVOICING)
#define EXP INV_PURPOSE(PURPOSE_EXPORT)
#define PAY INV_PURPOSE(PURPOSE_PAYMENT)

/* Non-personal columns: ids, states, settings, key references. */
#define PLAIN(t, c, p) {.table = t, .column = c, .name = c, .personal = false, .purposes = p}

static const char CONTRACT[] = "Art. 6(1)(b) GDPR: performance of the billing contract";
static const char LEGAL_DUTY[] =
    "Art. 6(1)(c) GDPR: invoicing duties (Art. 226 VAT Directive, §14 UStG)";
static const char PLATFORM_SOURCE[] = "the dealer's account on the messaging platform";
static const char UNTIL_ERASED[] =
    "while the account is active; erased on request or on account closure, unless an issued "
    "invoice must keep it (8 years, §14b UStG / §147 AO)";

static const char INVOICE_RETENTION[] =
    "the seller's retention period for invoices (NL 7, DE 8 years), counted from the end of "
    "the year of issue; then destroyed with its retention class key";

static const char UNTIL_DETACHED[] =
    "until the payment method is detached or the account erased";

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
    {.table = "accounts", .column = "legal_name_ct", .name = "account legal name",
     .personal = true, .purposes = SUP | INV | EXP, .category = "identity (sole traders)",
     .why = "to name the invoice recipient", .legal_basis = LEGAL_DUTY,
     .recipients = "the recipient of the invoice; tax authorities on audit",
     .source = PLATFORM_SOURCE, .retention = UNTIL_ERASED, .mask = MASK_NONE},
    {.table = "accounts", .column = "address_ct", .name = "billing address", .personal = true,
     .purposes = INV | EXP, .category = "contact details (sole traders)",
     .why = "the invoice must state the recipient's address", .legal_basis = LEGAL_DUTY,
     .recipients = "the recipient of the invoice; tax authorities on audit",
     .source = PLATFORM_SOURCE, .retention = UNTIL_ERASED, .mask = MASK_HIDDEN},
    {.table = "accounts", .column = "vat_id_ct", .name = "VAT identification number",
     .personal = true, .purposes = INV | EXP, .category = "tax identifiers",
     .why = "reverse-charge invoices must state the recipient's VAT id",
     .legal_basis = LEGAL_DUTY, .recipients = "tax authorities on audit",
     .source = PLATFORM_SOURCE, .retention = UNTIL_ERASED, .mask = MASK_HIDDEN},

    PLAIN("contacts", "account_id", SUP | EXP),
    PLAIN("contacts", "contact_id", SUP | EXP),
    PLAIN("contacts", "role", SUP | EXP),
    PLAIN("contacts", "dek_id", EXP),
    PLAIN("contacts", "created_at", SUP | EXP),
    PLAIN("contacts", "updated_at", SUP | EXP),
    {.table = "contacts", .column = "name_ct", .name = "contact name", .personal = true,
     .purposes = EXP, .category = "identity", .why = "to address billing questions to a person",
     .legal_basis = CONTRACT, .recipients = "none outside minbill", .source = PLATFORM_SOURCE,
     .retention = UNTIL_ERASED, .mask = MASK_NAME},
    {.table = "contacts", .column = "email_ct", .name = "contact e-mail", .personal = true,
     .purposes = EXP, .category = "contact details",
     .why = "to send invoices and billing notices", .legal_basis = CONTRACT,
     .recipients = "none outside minbill", .source = PLATFORM_SOURCE,
     .retention = UNTIL_ERASED, .mask = MASK_EMAIL},
    {.table = "contacts", .column = "phone_ct", .name = "contact phone", .personal = true,
     .purposes = EXP, .category = "contact details", .why = "to resolve billing problems",
     .legal_basis = CONTRACT, .recipients = "none outside minbill", .source = PLATFORM_SOURCE,
     .retention = UNTIL_ERASED, .mask = MASK_PHONE},
    {.table = "contacts", .column = "name_masked", .name = "contact name (masked)",
     .personal = true, .purposes = SUP, .category = "identity (pseudonymised)",
     .why = "lets support recognise a contact without seeing it", .legal_basis = CONTRACT,
     .recipients = "support staff", .source = "derived from the contact name",
     .retention = UNTIL_ERASED, .mask = MASK_NONE},
    {.table = "contacts", .column = "email_masked", .name = "contact e-mail (masked)",
     .personal = true, .purposes = SUP, .category = "contact details (pseudonymised)",
     .why = "lets support recognise a contact without seeing it", .legal_basis = CONTRACT,
     .recipients = "support staff", .source = "derived from the contact e-mail",
     .retention = UNTIL_ERASED, .mask = MASK_NONE},
    {.table = "contacts", .column = "phone_masked", .name = "contact phone (masked)",
     .personal = true, .purposes = SUP, .category = "contact details (pseudonymised)",
     .why = "lets support recognise a contact without seeing it", .legal_basis = CONTRACT,
     .recipients = "support staff", .source = "derived from the contact phone",
     .retention = UNTIL_ERASED, .mask = MASK_NONE},
    {.table = "contacts", .column = "email_bidx", .name = "contact e-mail (keyed hash)",
     .personal = true, .purposes = EXP, .category = "contact details (pseudonymised)",
     .why = "to find every record of a person who asks by e-mail", .legal_basis = CONTRACT,
     .recipients = "none", .source = "derived from the contact e-mail",
     .retention = UNTIL_ERASED, .mask = MASK_HIDDEN},

    PLAIN("payment_methods", "method_id", PAY),
    PLAIN("payment_methods", "token", SUP | INV | EXP | PAY),
    PLAIN("payment_methods", "account_id", SUP | INV | EXP | PAY),
    PLAIN("payment_methods", "type", SUP | INV | EXP | PAY),
    PLAIN("payment_methods", "brand", SUP | INV | EXP | PAY),
    PLAIN("payment_methods", "exp_month", SUP | INV | EXP | PAY),
    PLAIN("payment_methods", "exp_year", SUP | INV | EXP | PAY),
    PLAIN("payment_methods", "country_code", SUP | INV | EXP | PAY),
    PLAIN("payment_methods", "bic", INV | EXP | PAY),
    PLAIN("payment_methods", "mandate_signed_us", INV | EXP | PAY),
    PLAIN("payment_methods", "dek_id", PAY),
    PLAIN("payment_methods", "created_us", SUP | INV | EXP | PAY),
    {.table = "payment_methods", .column = "last4", .name = "card or account number (last 4)",
     .personal = true, .purposes = SUP | INV | EXP | PAY, .category = "payment data (truncated)",
     .why = "lets the dealer and support recognise the payment method",
     .legal_basis = CONTRACT, .recipients = "support staff", .source = PLATFORM_SOURCE,
     .retention = UNTIL_DETACHED, .mask = MASK_NONE},
    {.table = "payment_methods", .column = "mandate_reference", .name = "SEPA mandate reference",
     .personal = true, .purposes = SUP | INV | EXP | PAY, .category = "payment data",
     .why = "a SEPA direct debit must cite its mandate", .legal_basis = CONTRACT,
     .recipients = "the dealer's bank, with each direct debit", .source = PLATFORM_SOURCE,
     .retention = UNTIL_DETACHED, .mask = MASK_NONE},
    {.table = "payment_methods", .column = "fingerprint", .name = "payment number (keyed hash)",
     .personal = true, .purposes = SUP | INV | EXP | PAY, .category = "payment data (pseudonymised)",
     .why = "recognises the same card or account without revealing it",
     .legal_basis = CONTRACT, .recipients = "none", .source = "derived from the number",
     .retention = UNTIL_DETACHED, .mask = MASK_HIDDEN},
    /* Tokens issued before migration 0006, which do not carry their row id:
     * only a lookup by token reads them, and only payment collection looks
     * methods up by token on a read connection (reveal). */
    PLAIN("payment_token_legacy", "token", PAY),
    PLAIN("payment_token_legacy", "method_id", PAY),
    PLAIN("payment_vault", "method_id", PAY),
    {.table = "payment_vault", .column = "number_ct", .name = "card number (PAN) or IBAN",
     .personal = true, .purposes = PAY, .category = "payment data",
     .why = "to collect the dealer's payments", .legal_basis = CONTRACT,
     .recipients = "the payment processor or bank, when collecting",
     .source = PLATFORM_SOURCE, .retention = UNTIL_DETACHED, .mask = MASK_LAST4},
    {.table = "payment_vault", .column = "holder_ct", .name = "card or account holder name",
     .personal = true, .purposes = PAY, .category = "identity",
     .why = "card and SEPA payments name the holder", .legal_basis = CONTRACT,
     .recipients = "the payment processor or bank, when collecting",
     .source = PLATFORM_SOURCE, .retention = UNTIL_DETACHED, .mask = MASK_NAME},

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
    {.table = "invoices", .column = "document_ct", .name = "issued invoice (recipient snapshot)",
     .personal = true, .purposes = SUP | INV | EXP,
     .category = "identity, address and tax identifiers on invoices",
     .why = "an issued invoice must be kept as issued", .legal_basis = LEGAL_DUTY,
     .recipients = "the recipient of the invoice; tax authorities on audit",
     .source = PLATFORM_SOURCE, .retention = INVOICE_RETENTION, .mask = MASK_HIDDEN},
    PLAIN("retention_keys", "class", SUP | INV | EXP),
    PLAIN("retention_keys", "dek_id", SUP | INV | EXP),
    PLAIN("retention_keys", "retain_until", SUP | INV | EXP),
    /* Numbering is the writer's alone. */
    PLAIN("invoice_series", "series", 0),
    PLAIN("invoice_series", "last", 0),

    /* Unwrapping may need to learn a new master key version (rotation). */
    PLAIN("keyring_master", "version", SUP | INV | EXP | PAY),
    PLAIN("keyring_master", "key_id", SUP | INV | EXP | PAY),
    PLAIN("data_keys", "dek_id", SUP | INV | EXP | PAY),
    PLAIN("data_keys", "master_version", SUP | INV | EXP | PAY),
    PLAIN("data_keys", "nonce", SUP | INV | EXP | PAY),
    PLAIN("data_keys", "wrapped", SUP | INV | EXP | PAY),
};

const size_t inventory_count = sizeof inventory_fields / sizeof inventory_fields[0];

const char *inventory_purpose_name(inv_purpose p)
{
    static const char *const names[PURPOSE_COUNT] = {
        [PURPOSE_SUPPORT] = "support",
        [PURPOSE_INVOICING] = "invoicing",
        [PURPOSE_EXPORT] = "export",
        [PURPOSE_PAYMENT] = "payment",
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
    case MASK_NONE: snprintf(out, size, "%s", value); break;
    case MASK_EMAIL: mask_email(value, out, size); break;
    case MASK_PHONE: mask_phone(value, out, size); break;
    case MASK_NAME: mask_name(value, out, size); break;
    case MASK_LAST4: {
        size_t n = strlen(value);
        snprintf(out, size, "%s", value + (n > 4 ? n - 4 : 0));
        break;
    }
    case MASK_HIDDEN: break;
    }
}

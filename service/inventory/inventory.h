/*
 * inventory.h - the data inventory: every column minbill stores that a read
 * purpose may see, declared once.
 *
 * For personal data each entry says what it is (category), why we hold it
 * (purpose), on what legal basis, who receives it, where it comes from, how
 * long it is kept and how it is masked: the facts GDPR Art. 15 asks us to
 * give a data subject. The SQLite authorizer of each purpose-bound reader
 * connection allows exactly the columns whose entry names that purpose; the
 * access-request export and the retention purge read the same table. Nothing
 * else in minbill keeps a list of personal fields.
 *
 * A column that is not declared here cannot be read by any purpose.
 */
#ifndef MB_INVENTORY_H
#define MB_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>

/* The purposes minbill reads data for. */
typedef enum {
    PURPOSE_SUPPORT,   /* support staff looking an account up (masked) */
    PURPOSE_INVOICING, /* producing invoices (a legal duty) */
    PURPOSE_EXPORT,    /* answering a data subject's access request */
    PURPOSE_PAYMENT,   /* collecting a payment (reveal of PAN/IBAN) */
    PURPOSE_MARKETING, /* telling customers about products (objectable) */
    PURPOSE_COUNT
} inv_purpose;

#define INV_PURPOSE(p) (1u << (p))

typedef enum { MASK_NONE, MASK_EMAIL, MASK_PHONE, MASK_NAME, MASK_LAST4, MASK_HIDDEN } inv_mask;

/* How an access-request export shows a personal column. */
typedef enum {
    EXPORT_VALUE,   /* the stored value as it is */
    EXPORT_SEALED,  /* sealed text: opened with the row's data key */
    EXPORT_ADDRESS, /* sealed minbill.v1.PostalAddress: opened and decoded */
    EXPORT_OMIT,    /* derived from another column (masks, keyed hashes) or
                     * never handed out (the full card number or IBAN): the
                     * export names it but shows no value */
} inv_export;

typedef struct inv_field {
    const char *table;
    const char *column;
    const char *name; /* as shown to a data subject, e.g. "contact e-mail" */
    bool personal;
    unsigned purposes;    /* INV_PURPOSE() bits that may read the column */
    const char *category; /* personal data only, from here on */
    const char *why;
    const char *legal_basis;
    const char *recipients;
    const char *source;
    inv_mask mask;
    inv_export export_as;
    bool portable; /* provided by the subject: Art. 20's portable subset */
} inv_field;

extern const inv_field inventory_fields[];
extern const size_t inventory_count;

/* What starts the clock of a retention rule. */
typedef enum {
    RETAIN_NOT_PERSONAL,     /* not personal data: kept as long as minbill needs it */
    RETAIN_UNTIL_ERASED,     /* until erased, or `days` after the account closed */
    RETAIN_AFTER_ISSUE_YEAR, /* `years` after the end of the year of issue */
    RETAIN_AFTER_EVENT,      /* `days` after the row was written */
    RETAIN_AFTER_COMPLETION, /* `days` after the request was closed */
    RETAIN_WINDOW,           /* the metering acceptance window */
} inv_trigger;

typedef struct inv_retention {
    inv_trigger trigger;
    const char *setting; /* settings.name holding the amount (serve stores
                          * it; its default is purge_setting_defs'), or NULL */
    int amount;          /* the amount of a rule without a setting */
} inv_retention;

/* What the purposes that must not process restricted data (all but the
 * export and legal duties) see of a restricted row. */
typedef enum {
    ROWS_ALL,    /* nothing is restricted in this table */
    ROWS_HIDE,   /* restricted rows are left out */
    ROWS_MASK,   /* restricted rows show their personal columns as NULL */
    ROWS_PARENT, /* the row follows its parent row (parent_table) */
} inv_rows;

/* What an erasure does to a subject's rows. */
typedef enum {
    ERASE_NONE,   /* nothing personal, or no subject */
    ERASE_ROWS,   /* destroy the rows' data keys, delete the rows */
    ERASE_FIELDS, /* keep the row (others refer to it), destroy its key and
                   * clear its personal columns */
    ERASE_RETAIN, /* a legal duty keeps it: restricted until retention ends */
} inv_erase;

/* One table: how its rows belong to a data subject, which key seals them
 * and with what associated data, what erasure and restriction do, and how
 * long its personal data is kept. */
typedef struct inv_table {
    const char *table;
    const char *account_col;  /* the account a row belongs to, or NULL */
    const char *contact_col;  /* with account_col: the contact it is about */
    const char *parent_table; /* a row that belongs to its parent's subject */
    const char *parent_col;   /* joining column, both sides */
    const char *key_col;      /* data key of its sealed columns (data_keys) */
    const char *ad_row_sql;   /* SQL for the row id in the sealed columns'
                               * associated data (table, column, row, key) */
    inv_erase erasure;
    inv_rows rows;
    const char *restricted_col; /* set when the row is restricted */
    const char *objected_col;   /* set when a contact objects to marketing */
    inv_retention retention;
    /* The same rule, for a data subject; without a figure when the rule's
     * amount is a setting (the export states the stored one). */
    const char *retention_text;
    const char *retain_until_col; /* ERASE_RETAIN: the date a row's retention ends */
} inv_table;

extern const inv_table inventory_tables[];
extern const size_t inventory_tables_count;

const inv_table *inventory_table(const char *table);

const char *inventory_purpose_name(inv_purpose p);

/* Whether purpose p must not see restricted rows (Art. 18(2): everything
 * but the export and legal duties). */
bool inventory_purpose_restricted(int purpose);

/* The masked form of value, a value of table.column, by that column's mask
 * rule, into out ("" for an empty value or a hidden one). Masks are applied
 * where values are written, so masked reads never need the clear value. */
void inventory_mask(const char *table, const char *column, const char *value, char *out,
                    size_t size);

/* The authorizer's question: may purpose p read table.column? */
bool inventory_readable(int purpose, const char *table, const char *column);

/* SQL creating purpose p's row filters: one TEMP view per table with
 * restricted rows, named as the table, so every query of that purpose reads
 * through it (store.c lets the main table be read from inside the view
 * only). "" when the purpose sees every row. Owned by the inventory. */
const char *inventory_views_sql(int purpose);

#endif

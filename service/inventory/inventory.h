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
    PURPOSE_INVOICING, /* producing invoices */
    PURPOSE_EXPORT,    /* answering a data subject's access request */
    PURPOSE_PAYMENT,   /* collecting a payment (reveal of PAN/IBAN) */
    PURPOSE_COUNT
} inv_purpose;

#define INV_PURPOSE(p) (1u << (p))

typedef enum { MASK_NONE, MASK_EMAIL, MASK_PHONE, MASK_NAME, MASK_LAST4, MASK_HIDDEN } inv_mask;

typedef struct inv_field {
    const char *table;
    const char *column;
    const char *name;     /* as shown to a data subject, e.g. "contact e-mail" */
    bool personal;
    unsigned purposes;    /* INV_PURPOSE() bits that may read the column */
    const char *category; /* personal data only, from here on */
    const char *why;
    const char *legal_basis;
    const char *recipients;
    const char *source;
    const char *retention;
    inv_mask mask;
} inv_field;

extern const inv_field inventory_fields[];
extern const size_t inventory_count;

const char *inventory_purpose_name(inv_purpose p);

/* The masked form of value, a value of table.column, by that column's mask
 * rule, into out ("" for an empty value or a hidden one). Masks are applied
 * where values are written, so masked reads never need the clear value. */
void inventory_mask(const char *table, const char *column, const char *value, char *out,
                    size_t size);

/* The authorizer's question: may purpose p read table.column? */
bool inventory_readable(int purpose, const char *table, const char *column);

#endif

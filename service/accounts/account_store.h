/*
 * account_store.h - accounts and contacts in SQLite: the SQL, the sealing of
 * personal fields under their owner's data key, and the three views an
 * account is read in.
 *
 * Writes run on the writer connection. Reads run on a purpose-bound
 * connection whose authorizer decides what the view may touch: the masked
 * view needs only what the support purpose may read (no contact ciphertext,
 * no address, no VAT id), the full view what the export purpose may read.
 */
#ifndef MB_ACCOUNT_STORE_H
#define MB_ACCOUNT_STORE_H

#include <stdbool.h>

#include "base/arena.h"
#include "base/error.h"
#include "crypto/keyring.h"
#include "minbill/v1/common.pb-c.h"
#include "store/store.h"

/* Validated, normalised input of one contact. */
typedef struct contact_in {
    const char *contact_id;
    const char *role; /* "billing", "owner", "technical" */
    const char *name;
    const char *email; /* normalised; "" if none */
    const char *phone; /* E.164; "" if none */
} contact_in;

/* Validated, normalised input of UpsertAccount. */
typedef struct account_in {
    const char *account_id;
    const char *legal_name;
    const Minbill__V1__PostalAddress *address;
    const char *vat_id; /* normalised; "" if none */
    const char *currency;
    const char *plan_id;
    contact_in *contacts;
    size_t n_contacts;
} account_in;

typedef enum {
    ACCOUNT_VIEW_MASKED, /* support lookup: legal name, masked contacts */
    ACCOUNT_VIEW_FULL,   /* reveal / export: everything, decrypted */
} account_view;

/* Creates or updates the account and merges its contacts. FAILED_PRECONDITION
 * if the account is closed. */
int account_store_upsert(store_conn_t *conn, keyring_t *kr, const account_in *in,
                         mb_error *err);

/* Deletes a contact and destroys its data key. NOT_FOUND if absent. */
int account_store_remove_contact(store_conn_t *conn, const char *account_id,
                                 const char *contact_id, mb_error *err);

/* Marks the account closed (idempotent). NOT_FOUND if absent. */
int account_store_close(store_conn_t *conn, const char *account_id, mb_error *err);

/* Reads the account in the given view into arena memory. NOT_FOUND if
 * absent. */
int account_store_read(store_conn_t *conn, keyring_t *kr, const char *account_id,
                       account_view view, mb_arena_t *arena, Minbill__V1__Account **out,
                       mb_error *err);

#endif

/*
 * account_store.c - see account_store.h.
 *
 * Row ids in the associated data: an account's fields are bound to
 * "<account_id>", a contact's to "<account_id>/<contact_id>".
 */
#include "accounts/account_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/dek.h"
#include "inventory/inventory.h"

#define NOW "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
#define ROW_ID_MAX 140
#define MASK_MAX 96

static const char SQL_ACCOUNT_KEY[] = "SELECT state, dek_id FROM accounts WHERE account_id = ?1";
static const char SQL_ACCOUNT_UPSERT[] =
    "INSERT INTO accounts(account_id, currency, plan_id, dek_id, legal_name_ct, address_ct,"
    " vat_id_ct) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    " ON CONFLICT(account_id) DO UPDATE SET currency = excluded.currency,"
    " plan_id = excluded.plan_id, dek_id = excluded.dek_id, legal_name_ct = excluded.legal_name_ct,"
    " address_ct = excluded.address_ct, vat_id_ct = excluded.vat_id_ct, updated_at = " NOW;
static const char SQL_CONTACT_KEY[] =
    "SELECT dek_id FROM contacts WHERE account_id = ?1 AND contact_id = ?2";
static const char SQL_CONTACT_UPSERT[] =
    "INSERT INTO contacts(account_id, contact_id, role, dek_id, name_ct, email_ct, phone_ct,"
    " name_masked, email_masked, phone_masked, email_bidx)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    " ON CONFLICT(account_id, contact_id) DO UPDATE SET role = excluded.role,"
    " name_ct = excluded.name_ct, email_ct = excluded.email_ct, phone_ct = excluded.phone_ct,"
    " name_masked = excluded.name_masked, email_masked = excluded.email_masked,"
    " phone_masked = excluded.phone_masked, email_bidx = excluded.email_bidx,"
    " updated_at = " NOW;
static const char SQL_CONTACT_DELETE[] =
    "DELETE FROM contacts WHERE account_id = ?1 AND contact_id = ?2";
static const char SQL_ACCOUNT_CLOSE[] =
    "UPDATE accounts SET state = 'closed', closed_at = coalesce(closed_at, " NOW "),"
    " updated_at = " NOW " WHERE account_id = ?1";

static const char SQL_READ_MASKED[] =
    "SELECT state, currency, plan_id, default_payment_method, dek_id, legal_name_ct,"
    " restricted_us FROM accounts WHERE account_id = ?1";
static const char SQL_READ_FULL[] =
    "SELECT state, currency, plan_id, default_payment_method, dek_id, legal_name_ct,"
    " restricted_us, address_ct, vat_id_ct FROM accounts WHERE account_id = ?1";
static const char SQL_COUNT_CONTACTS[] = "SELECT count(*) FROM contacts WHERE account_id = ?1";
static const char SQL_CONTACTS_MASKED[] =
    "SELECT contact_id, role, name_masked, email_masked, phone_masked, restricted_us,"
    " objected_us FROM contacts WHERE account_id = ?1 ORDER BY contact_id";
static const char SQL_CONTACTS_FULL[] =
    "SELECT c.contact_id, c.role, c.name_ct, c.email_ct, c.phone_ct, c.restricted_us,"
    " c.objected_us, k.dek_id, k.master_version, k.nonce, k.wrapped"
    " FROM contacts c JOIN data_keys k ON k.dek_id = c.dek_id"
    " WHERE c.account_id = ?1 ORDER BY c.contact_id";

static const char *const role_names[] = {"", "billing", "owner", "technical"};

static int role_enum(const char *name)
{
    for (int i = 1; i < 4; i++)
        if (name != NULL && strcmp(name, role_names[i]) == 0)
            return i;
    return 0;
}

static void contact_row_id(char *out, const char *account_id, const char *contact_id)
{
    snprintf(out, ROW_ID_MAX, "%s/%s", account_id, contact_id);
}

/* Loads the row's data key, or creates one when the row is new. *exists
 * tells which; *state (optional) receives the account state. */
static int owner_key(store_conn_t *conn, keyring_t *kr, const char *sql, const char *a,
                     const char *b, dek *key, bool *exists, char *state, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, sql, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (b != NULL)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int key_col = b != NULL ? 0 : 1;
    /* An account whose own fields were erased has no key: it gets a new
     * one when they are written again. */
    bool keyed = rc == SQLITE_ROW && sqlite3_column_type(st, key_col) != SQLITE_NULL;
    int64_t id = keyed ? sqlite3_column_int64(st, key_col) : 0;
    if (rc == SQLITE_ROW && state != NULL)
        snprintf(state, 16, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_error(conn, err, "reading a data key reference");
    *exists = rc == SQLITE_ROW;
    return keyed ? dek_load(conn, kr, id, key, err) : dek_create(conn, kr, key, err);
}

static int seal_address(sqlite3_stmt *st, int idx, const dek *key, const char *account_id,
                        const Minbill__V1__PostalAddress *addr, mb_error *err)
{
    size_t n = protobuf_c_message_get_packed_size(&addr->base);
    unsigned char *plain = malloc(n + 1), *ct = malloc(n + DEK_SEAL_OVERHEAD);
    if (plain == NULL || ct == NULL) {
        free(plain);
        free(ct);
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    protobuf_c_message_pack(&addr->base, plain);
    dek_seal(key, "accounts", "address_ct", account_id, plain, n, ct);
    free(plain);
    sqlite3_bind_blob(st, idx, ct, (int)(n + DEK_SEAL_OVERHEAD), free);
    return 0;
}

static int upsert_contact(store_conn_t *conn, keyring_t *kr, const char *account_id,
                          const contact_in *c, mb_error *err)
{
    dek key = {0};
    bool exists;
    char row[ROW_ID_MAX], nm[MASK_MAX], em[MASK_MAX], ph[MASK_MAX];
    unsigned char bidx[32];
    if (owner_key(conn, kr, SQL_CONTACT_KEY, account_id, c->contact_id, &key, &exists, NULL,
                  err) != 0)
        return -1;
    contact_row_id(row, account_id, c->contact_id);
    inventory_mask("contacts", "name_ct", c->name, nm, sizeof nm);
    inventory_mask("contacts", "email_ct", c->email, em, sizeof em);
    inventory_mask("contacts", "phone_ct", c->phone, ph, sizeof ph);
    int ret = -1;
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_CONTACT_UPSERT, err);
    if (st == NULL)
        goto out;
    sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->contact_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->role, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, key.id);
    if (dek_bind_sealed(st, 5, &key, "contacts", "name_ct", row, c->name, err) != 0 ||
        dek_bind_sealed(st, 6, &key, "contacts", "email_ct", row, c->email, err) != 0 ||
        dek_bind_sealed(st, 7, &key, "contacts", "phone_ct", row, c->phone, err) != 0)
        goto out;
    sqlite3_bind_text(st, 8, nm, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, em, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 10, ph, -1, SQLITE_TRANSIENT);
    if (c->email[0] != '\0') {
        keyring_mac(kr, KEYRING_SECRET_BLIND_INDEX, c->email, strlen(c->email), bidx,
                    sizeof bidx);
        sqlite3_bind_blob(st, 11, bidx, sizeof bidx, SQLITE_TRANSIENT);
    }
    int rc = sqlite3_step(st);
    ret = rc == SQLITE_DONE ? 0 : store_error(conn, err, "writing a contact");
out:
    if (st != NULL)
        sqlite3_reset(st);
    dek_release(&key);
    return ret;
}

int account_store_upsert(store_conn_t *conn, keyring_t *kr, const account_in *in,
                         mb_error *err)
{
    dek key = {0};
    bool exists;
    char state[16] = "";
    if (owner_key(conn, kr, SQL_ACCOUNT_KEY, in->account_id, NULL, &key, &exists, state, err) !=
        0)
        return -1;
    int ret = -1;
    sqlite3_stmt *st = NULL;
    if (exists && strcmp(state, "closed") == 0) {
        mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                     "account.account_id: the account is closed");
        goto out;
    }
    if ((st = store_conn_prepare(conn, SQL_ACCOUNT_UPSERT, err)) == NULL)
        goto out;
    sqlite3_bind_text(st, 1, in->account_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, in->currency, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, in->plan_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, key.id);
    if (dek_bind_sealed(st, 5, &key, "accounts", "legal_name_ct", in->account_id,
                        in->legal_name, err) != 0 ||
        seal_address(st, 6, &key, in->account_id, in->address, err) != 0 ||
        dek_bind_sealed(st, 7, &key, "accounts", "vat_id_ct", in->account_id, in->vat_id, err) !=
            0)
        goto out;
    if (sqlite3_step(st) != SQLITE_DONE) {
        store_error(conn, err, "writing the account");
        goto out;
    }
    sqlite3_reset(st);
    st = NULL;
    for (size_t i = 0; i < in->n_contacts; i++) {
        if (upsert_contact(conn, kr, in->account_id, &in->contacts[i], err) != 0) {
            mb_error_prefix(err, "account.contacts[%zu]: ", i);
            goto out;
        }
    }
    ret = 0;
out:
    if (st != NULL)
        sqlite3_reset(st);
    dek_release(&key);
    return ret;
}

int account_store_remove_contact(store_conn_t *conn, const char *account_id,
                                 const char *contact_id, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_CONTACT_KEY, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, contact_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int64_t dek_id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return mb_error_set(err, GRPC_STATUS_NOT_FOUND,
                            "contact_id: no such contact on account %s", account_id);
    if (rc != SQLITE_ROW)
        return store_error(conn, err, "reading the contact");
    if (store_exec_text(conn, SQL_CONTACT_DELETE, account_id, contact_id, "deleting the contact",
                        err) != 0)
        return -1;
    /* The row is gone (secure_delete overwrites it); destroying the key
     * also makes any copy in the WAL or a backup unreadable. */
    return dek_destroy(conn, dek_id, err);
}

int account_store_close(store_conn_t *conn, const char *account_id, mb_error *err)
{
    if (store_exec_text(conn, SQL_ACCOUNT_CLOSE, account_id, NULL, "closing the account", err) !=
        0)
        return -1;
    if (sqlite3_changes(store_conn_db_borrow(conn)) == 0)
        return mb_error_set(err, GRPC_STATUS_NOT_FOUND, "account_id: no such account");
    return 0;
}

static char *column_copy(mb_arena_t *a, sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    return mb_arena_printf(a, "%s", s != NULL ? s : "");
}

static int read_contacts(store_conn_t *conn, keyring_t *kr, const char *account_id,
                         account_view view, mb_arena_t *a, Minbill__V1__Account *acc,
                         mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_COUNT_CONTACTS, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
    size_t n = sqlite3_step(st) == SQLITE_ROW ? (size_t)sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    acc->contacts = mb_arena_alloc(a, (n ? n : 1) * sizeof *acc->contacts);
    if (acc->contacts == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    bool full = view == ACCOUNT_VIEW_FULL;
    if ((st = store_conn_prepare(conn, full ? SQL_CONTACTS_FULL : SQL_CONTACTS_MASKED, err)) ==
        NULL)
        return -1;
    sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
    int rc, ret = 0;
    while (acc->n_contacts < n && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        Minbill__V1__Contact *c = mb_arena_alloc(a, sizeof *c);
        if (c == NULL) {
            ret = mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
            break;
        }
        minbill__v1__contact__init(c);
        c->contact_id = column_copy(a, st, 0);
        c->role = role_enum((const char *)sqlite3_column_text(st, 1));
        c->restricted = sqlite3_column_type(st, 5) != SQLITE_NULL;
        c->marketing_objection = sqlite3_column_type(st, 6) != SQLITE_NULL;
        if (!full) {
            c->name = column_copy(a, st, 2);
            c->email = column_copy(a, st, 3);
            c->phone = column_copy(a, st, 4);
        } else {
            char row[ROW_ID_MAX];
            dek key;
            contact_row_id(row, account_id, c->contact_id);
            if (dek_from_row(conn, kr, st, 7, &key, err) != 0) {
                ret = -1;
                break;
            }
            ret = dek_column_open(st, 2, &key, "contacts", "name_ct", row, a, &c->name, err) |
                  dek_column_open(st, 3, &key, "contacts", "email_ct", row, a, &c->email, err) |
                  dek_column_open(st, 4, &key, "contacts", "phone_ct", row, a, &c->phone, err);
            dek_release(&key);
            if (ret != 0)
                break;
        }
        acc->contacts[acc->n_contacts++] = c;
    }
    sqlite3_reset(st);
    return ret;
}

static const char *state_text_enum(const char *state, Minbill__V1__AccountState *out)
{
    *out = state != NULL && strcmp(state, "closed") == 0 ? MINBILL__V1__ACCOUNT_STATE__ACCOUNT_STATE_CLOSED
                                                          : MINBILL__V1__ACCOUNT_STATE__ACCOUNT_STATE_ACTIVE;
    return state;
}

int account_store_read(store_conn_t *conn, keyring_t *kr, const char *account_id,
                       account_view view, mb_arena_t *a, Minbill__V1__Account **out,
                       mb_error *err)
{
    bool full = view == ACCOUNT_VIEW_FULL;
    sqlite3_stmt *st = store_conn_prepare(conn, full ? SQL_READ_FULL : SQL_READ_MASKED, err);
    if (st == NULL)
        return -1;
    Minbill__V1__Account *acc = mb_arena_alloc(a, sizeof *acc);
    if (acc == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    minbill__v1__account__init(acc);
    sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
    int ret = -1;
    dek key = {0};
    if (store_step_one(conn, st, "account_id: no such account", "reading the account", err) != 0)
        goto out;
    acc->account_id = mb_arena_printf(a, "%s", account_id);
    state_text_enum((const char *)sqlite3_column_text(st, 0), &acc->state);
    acc->currency = column_copy(a, st, 1);
    acc->plan_id = column_copy(a, st, 2);
    acc->default_payment_method = column_copy(a, st, 3);
    acc->restricted = sqlite3_column_type(st, 6) != SQLITE_NULL;
    /* Erased own fields leave no key and no values: nothing to open. */
    if ((sqlite3_column_type(st, 4) != SQLITE_NULL &&
         dek_load(conn, kr, sqlite3_column_int64(st, 4), &key, err) != 0) ||
        dek_column_open(st, 5, &key, "accounts", "legal_name_ct", account_id, a,
                        &acc->legal_name, err) != 0)
        goto out;
    if (full) {
        char *addr_bytes;
        ProtobufCAllocator al = mb_arena_allocator(a);
        if (dek_column_open(st, 7, &key, "accounts", "address_ct", account_id, a, &addr_bytes,
                            err) != 0 ||
            dek_column_open(st, 8, &key, "accounts", "vat_id_ct", account_id, a, &acc->vat_id,
                            err) != 0)
            goto out;
        int n = sqlite3_column_bytes(st, 7) - DEK_SEAL_OVERHEAD;
        acc->billing_address = n > 0 ? (Minbill__V1__PostalAddress *)protobuf_c_message_unpack(
                                           &minbill__v1__postal_address__descriptor, &al,
                                           (size_t)n, (const uint8_t *)addr_bytes)
                                     : NULL;
    }
    sqlite3_reset(st);
    st = NULL;
    ret = read_contacts(conn, kr, account_id, view, a, acc, err);
out:
    if (st != NULL)
        sqlite3_reset(st);
    dek_release(&key);
    if (ret == 0)
        *out = acc;
    return ret;
}

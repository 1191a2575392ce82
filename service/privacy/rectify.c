/*
 * rectify.c - see rectify.h.
 *
 * The changes are merged into the stored account on the writer (so no
 * concurrent write is lost), and the merged account is validated whole
 * like an UpsertAccount: a field another rule made invalid cannot slip in
 * through a rectification. Errors name the request's fields ("changes.",
 * "clear[i].").
 *
 * An empty field in changes means "keep", so removing a stored value is
 * asked for by name (clear): only fields UpsertAccount accepts empty can
 * be cleared, and what a clear removes is told to the same recipients as
 * what a change replaces.
 */
#include "privacy/rectify.h"

#include <stdio.h>
#include <string.h>

#include "accounts/accounts.h"
#include "app.h"
#include "audit/audit_rpc.h"
#include "base/check.h"
#include "minbill/v1/privacy.pb-c.h"
#include "privacy/notices.h"
#include "privacy/requests.h"
#include "rpc/write.h"

static int fail(rpc_call_t *call, const mb_error *err)
{
    rpc_call_finish(call, NULL, err);
    return RPC_CONTINUE;
}

/* accounts_check and account_store name UpsertAccount's fields
 * ("account."); the request's are "changes.", as long. */
static void rename_fields(mb_error *err)
{
    static const char from[] = "account.", to[] = "changes.";
    _Static_assert(sizeof from == sizeof to, "same length");
    if (strncmp(err->msg, from, sizeof from - 1) == 0)
        memcpy(err->msg, to, sizeof to - 1);
}

static bool in_scope(const privacy_request *r, const char *account_id, const char *contact_id)
{
    for (size_t i = 0; i < r->n_scope; i++)
        if (strcmp(r->scope[i].account_id, account_id) == 0 &&
            strcmp(r->scope[i].contact_id, contact_id) == 0)
            return true;
    return false;
}

/* The fields a rectification may clear: those UpsertAccount accepts
 * empty. The others are required: they can be replaced, not removed. */
typedef enum clearable {
    CLEAR_VAT_ID,
    CLEAR_ADDRESS_LINE2,
    CLEAR_NAME,
    CLEAR_EMAIL,
    CLEAR_PHONE,
    CLEAR_N
} clearable;

static const struct {
    const char *field, *table, *column;
    bool contact;
} CLEARABLE[CLEAR_N] = {
    [CLEAR_VAT_ID] = {"vat_id", "accounts", "vat_id_ct", false},
    [CLEAR_ADDRESS_LINE2] = {"billing_address.line2", "accounts", "address_ct", false},
    [CLEAR_NAME] = {"name", "contacts", "name_ct", true},
    [CLEAR_EMAIL] = {"email", "contacts", "email_ct", true},
    [CLEAR_PHONE] = {"phone", "contacts", "phone_ct", true},
};

/* Where field k is in an account's own fields (acc) or a contact's (c);
 * NULL for an address line of an account without an address. */
static char **clearable_at(clearable k, Minbill__V1__Account *acc, Minbill__V1__Contact *c)
{
    switch (k) {
    case CLEAR_VAT_ID: return &acc->vat_id;
    case CLEAR_ADDRESS_LINE2:
        return acc->billing_address != NULL ? &acc->billing_address->line2 : NULL;
    case CLEAR_NAME: return &c->name;
    case CLEAR_EMAIL: return &c->email;
    default: return &c->phone;
    }
}

/* The field clear[i] names, or INVALID_ARGUMENT saying which may be
 * cleared. */
static int clearable_find(const Minbill__V1__ClearedField *f, size_t i, clearable *out,
                          mb_error *err)
{
    bool contact = f->contact_id[0] != '\0';
    for (int k = 0; k < CLEAR_N; k++)
        if (CLEARABLE[k].contact == contact && strcmp(CLEARABLE[k].field, f->field) == 0) {
            *out = (clearable)k;
            return 0;
        }
    return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                        contact ? "clear[%zu].field: a contact's name, email or phone can be "
                                  "cleared; other fields only replaced"
                                : "clear[%zu].field: an account's vat_id or "
                                  "billing_address.line2 can be cleared (contact fields with "
                                  "contact_id); other fields only replaced",
                        i);
}

/* value replaces *stored when given and different; the column's
 * recipients are then told. */
static void take(const char *value, char **stored, const char *table, const char *column,
                 privacy_recipients *notify)
{
    if (value[0] == '\0' || strcmp(value, *stored) == 0)
        return;
    *stored = (char *)value;
    privacy_recipients_add(notify, table, column);
}

/* A stored value is removed; told like a replacement. */
static void take_clear(clearable k, char **stored, privacy_recipients *notify)
{
    if (stored == NULL || (*stored)[0] == '\0')
        return;
    *stored = "";
    privacy_recipients_add(notify, CLEARABLE[k].table, CLEARABLE[k].column);
}

static int merge_address(mb_arena_t *a, const Minbill__V1__PostalAddress *ch,
                         Minbill__V1__Account *m, privacy_recipients *notify)
{
    Minbill__V1__PostalAddress *addr = mb_arena_alloc(a, sizeof *addr);
    if (addr == NULL)
        return -1;
    minbill__v1__postal_address__init(addr);
    if (m->billing_address != NULL)
        *addr = *m->billing_address;
    const char *const given[] = {ch->line1, ch->line2, ch->postal_code, ch->city, ch->country_code};
    char **stored[] = {&addr->line1, &addr->line2, &addr->postal_code, &addr->city,
                       &addr->country_code};
    for (size_t i = 0; i < sizeof given / sizeof given[0]; i++)
        take(given[i], stored[i], "accounts", "address_ct", notify);
    m->billing_address = addr;
    return 0;
}

typedef struct rectify {
    const char *request_id;
    const Minbill__V1__Account *changes;
    Minbill__V1__ClearedField **clear;
    size_t n_clear;
    clearable *fields; /* what clear[i] names */
} rectify;

/* The contacts a rectification changes: copies of m's, each once. */
typedef struct taken {
    Minbill__V1__Contact *copy; /* room for every change and clear */
    Minbill__V1__Contact **out;
    size_t n;
} taken;

/* m's contact with that id, copied into t (once), if the request covers
 * it; NULL otherwise. */
static Minbill__V1__Contact *contact_take(const privacy_request *r, const Minbill__V1__Account *m,
                                          const char *contact_id, taken *t)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->out[i]->contact_id, contact_id) == 0)
            return t->out[i];
    if (!in_scope(r, m->account_id, contact_id))
        return NULL;
    for (size_t j = 0; j < m->n_contacts; j++)
        if (strcmp(m->contacts[j]->contact_id, contact_id) == 0) {
            t->copy[t->n] = *m->contacts[j];
            t->out[t->n] = &t->copy[t->n];
            return t->out[t->n++];
        }
    return NULL;
}

/* The changed and cleared contacts, merged into their stored fields,
 * replace m's contacts (upsert leaves the others as they are). */
static int merge_contacts(mb_arena_t *a, const privacy_request *r, const rectify *x,
                          Minbill__V1__Account *m, privacy_recipients *notify, mb_error *err)
{
    const Minbill__V1__Account *ch = x->changes;
    size_t room = ch->n_contacts + x->n_clear + 1;
    taken t = {.copy = mb_arena_alloc(a, room * sizeof *t.copy),
               .out = mb_arena_alloc(a, room * sizeof *t.out)};
    if (t.copy == NULL || t.out == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < ch->n_contacts; i++) {
        const Minbill__V1__Contact *c = ch->contacts[i];
        if (check_id("contact_id", c->contact_id, err) != 0) {
            mb_error_prefix(err, "changes.contacts[%zu].", i);
            return -1;
        }
        Minbill__V1__Contact *cur = contact_take(r, m, c->contact_id, &t);
        if (cur == NULL)
            return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                                "changes.contacts[%zu].contact_id: not a contact request %s covers",
                                i, r->request_id);
        if (c->role != 0)
            cur->role = c->role;
        take(c->name, &cur->name, "contacts", "name_ct", notify);
        take(c->email, &cur->email, "contacts", "email_ct", notify);
        take(c->phone, &cur->phone, "contacts", "phone_ct", notify);
    }
    for (size_t i = 0; i < x->n_clear; i++) {
        const char *id = x->clear[i]->contact_id;
        if (!CLEARABLE[x->fields[i]].contact)
            continue;
        Minbill__V1__Contact *cur = contact_take(r, m, id, &t);
        if (cur == NULL)
            return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                                "clear[%zu].contact_id: not a contact request %s covers", i,
                                r->request_id);
        take_clear(x->fields[i], clearable_at(x->fields[i], m, cur), notify);
    }
    m->contacts = t.out;
    m->n_contacts = t.n;
    return 0;
}

/* The stored account with the changes applied; INVALID_ARGUMENT naming the
 * field when a change is outside the request. */
static int merge(store_conn_t *conn, rpc_call_t *call, const rectify *x, const privacy_request *r,
                 Minbill__V1__Account **out, privacy_recipients *notify, mb_error *err)
{
    mb_arena_t *a = rpc_call_arena(call);
    const Minbill__V1__Account *ch = x->changes;
    bool own = ch->legal_name[0] != '\0' || ch->billing_address != NULL || ch->vat_id[0] != '\0';
    bool own_clear = false;
    for (size_t i = 0; i < x->n_clear; i++)
        own_clear = own_clear || !CLEARABLE[x->fields[i]].contact;
    bool covered = privacy_scope_whole_account(r, ch->account_id);
    for (size_t i = 0; i < r->n_scope && !covered; i++)
        covered = strcmp(r->scope[i].account_id, ch->account_id) == 0;
    if (!covered)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "changes.account_id: not an account request %s covers", r->request_id);
    if ((own || own_clear) && !privacy_scope_whole_account(r, ch->account_id))
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "%s: request %s covers contacts of this account, not its own "
                            "fields (legal_name, billing_address, vat_id)",
                            own ? "changes" : "clear", r->request_id);
    Minbill__V1__Account *m;
    if (account_store_read(conn, ((mb_app *)rpc_call_app(call))->keyring, ch->account_id,
                           ACCOUNT_VIEW_FULL, a, &m, err) != 0)
        return -1;
    take(ch->legal_name, &m->legal_name, "accounts", "legal_name_ct", notify);
    take(ch->vat_id, &m->vat_id, "accounts", "vat_id_ct", notify);
    if (ch->billing_address != NULL && merge_address(a, ch->billing_address, m, notify) != 0)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    /* m is the call's own copy: its fields can be cleared in place. */
    for (size_t i = 0; i < x->n_clear; i++)
        if (!CLEARABLE[x->fields[i]].contact)
            take_clear(x->fields[i], clearable_at(x->fields[i], m, NULL), notify);
    if (merge_contacts(a, r, x, m, notify, err) != 0)
        return -1;
    *out = m;
    return 0;
}

static int rectify_run(store_conn_t *conn, rpc_call_t *call, void *arg, ProtobufCMessage **resp,
                       mb_error *err)
{
    static const char *const kinds[] = {"rectification", NULL};
    const rectify *x = arg;
    mb_app *app = rpc_call_app(call);
    mb_arena_t *a = rpc_call_arena(call);
    privacy_request r;
    privacy_recipients notify = {0};
    Minbill__V1__Account *m;
    account_in in;
    if (privacy_request_load(conn, x->request_id, a, &r, err) != 0 ||
        privacy_request_expect(&r, kinds, err) != 0 ||
        merge(conn, call, x, &r, &m, &notify, err) != 0)
        return -1;
    if (accounts_check(a, m, &in, err) != 0 ||
        account_store_upsert(conn, app->keyring, &in, err) != 0) {
        rename_fields(err);
        return -1;
    }
    audit_entry e = {.action = "subject.rectify",
                     .account_id = x->changes->account_id,
                     .purpose = "Art. 16 rectification",
                     .request_id = x->request_id};
    if (privacy_notices_record(conn, x->request_id, &notify, err) != 0 ||
        audit_call_append_entry(conn, call, &e, NULL, err) != 0 ||
        account_store_read(conn, app->keyring, x->changes->account_id, ACCOUNT_VIEW_FULL, a, &m,
                           err) != 0)
        return -1;
    if ((m->notified_recipients = mb_arena_alloc(a, (notify.n + 1) * sizeof(char *))) == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < notify.n; i++)
        m->notified_recipients[i] = (char *)notify.names[i];
    m->n_notified_recipients = notify.n;
    *resp = &m->base;
    return 0;
}

/* The value changes gives field k of clear f ("" if none); only read
 * through clearable_at's pointers. */
static const char *given(const Minbill__V1__Account *ch, const Minbill__V1__ClearedField *f,
                         clearable k)
{
    Minbill__V1__Account *acc = (Minbill__V1__Account *)ch;
    if (!CLEARABLE[k].contact) {
        char **v = clearable_at(k, acc, NULL);
        return v != NULL ? *v : "";
    }
    for (size_t i = 0; i < ch->n_contacts; i++)
        if (strcmp(ch->contacts[i]->contact_id, f->contact_id) == 0)
            return *clearable_at(k, acc, ch->contacts[i]);
    return "";
}

/* Each clear names a clearable field, not also given a value in changes. */
static int check_clear(const Minbill__V1__RectifySubjectRequest *req, clearable *fields,
                       mb_error *err)
{
    for (size_t i = 0; i < req->n_clear; i++) {
        const Minbill__V1__ClearedField *f = req->clear[i];
        if (f->contact_id[0] != '\0' && check_id("contact_id", f->contact_id, err) != 0) {
            mb_error_prefix(err, "clear[%zu].", i);
            return -1;
        }
        if (clearable_find(f, i, &fields[i], err) != 0)
            return -1;
        if (given(req->changes, f, fields[i])[0] != '\0')
            return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                                "clear[%zu].field: %s is also given a value in changes", i,
                                f->field);
    }
    return 0;
}

int privacy_rectify(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__RectifySubjectRequest *req = (const void *)msg;
    mb_error err;
    const Minbill__V1__Account *ch = req->changes;
    if (check_id("request_id", req->request_id, &err) != 0)
        return fail(call, &err);
    if (ch == NULL)
        return fail(call, &(mb_error){GRPC_STATUS_INVALID_ARGUMENT, "changes: required"});
    if (check_id("changes.account_id", ch->account_id, &err) != 0)
        return fail(call, &err);
    /* Billing settings are not personal data: UpsertAccount changes them. */
    if (ch->currency[0] != '\0' || ch->plan_id[0] != '\0')
        return fail(call, &(mb_error){GRPC_STATUS_INVALID_ARGUMENT,
                                      "changes.currency, changes.plan_id: not personal data; "
                                      "UpsertAccount changes them"});
    if (ch->legal_name[0] == '\0' && ch->billing_address == NULL && ch->vat_id[0] == '\0' &&
        ch->n_contacts == 0 && req->n_clear == 0)
        return fail(call, &(mb_error){GRPC_STATUS_INVALID_ARGUMENT,
                                      "changes, clear: name no field to rectify"});
    mb_arena_t *a = rpc_call_arena(call);
    rectify *x = mb_arena_alloc(a, sizeof *x);
    clearable *fields = mb_arena_alloc(a, (req->n_clear + 1) * sizeof *fields);
    if (x == NULL || fields == NULL)
        return fail(call, &(mb_error){GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory"});
    if (check_clear(req, fields, &err) != 0)
        return fail(call, &err);
    *x = (rectify){.request_id = req->request_id,
                   .changes = ch,
                   .clear = req->clear,
                   .n_clear = req->n_clear,
                   .fields = fields};
    rpc_call_write(call, ((mb_app *)rpc_call_app(call))->store, rectify_run, x);
    return RPC_CONTINUE;
}

/*
 * priv_util.c - see priv_util.h.
 */
#include "priv_util.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minbill/v1/audit.pb-c.h"

ProtobufCMessage *pu_call(const mbt_server *s, const char *key, const char *method,
                          const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp,
                          int timeout_ms, mb_error *st)
{
    ProtobufCMessage *out = NULL;
    mbc_unary(s->ch, method, key, req, resp, timeout_ms, &out, st);
    if (st->code != GRPC_STATUS_OK && out != NULL) {
        protobuf_c_message_free_unpacked(out, NULL);
        out = NULL;
    }
    return out;
}

void pu_free(void *msg)
{
    if (msg != NULL)
        protobuf_c_message_free_unpacked(msg, NULL);
}

int pu_open(const mbt_server *s, const char *key, Minbill__V1__SubjectRequestKind kind,
            const char *email, const char *contact_id, const char *account_id, char *request_id)
{
    Minbill__V1__OpenSubjectRequestRequest req = MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__INIT;
    req.kind = kind;
    req.verified_by = "staff-7 (ID card seen)";
    if (email != NULL) {
        req.subject_case = MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__SUBJECT_EMAIL;
        req.email = (char *)email;
    } else if (contact_id != NULL) {
        req.subject_case = MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__SUBJECT_CONTACT_ID;
        req.contact_id = (char *)contact_id;
    } else {
        req.subject_case = MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__SUBJECT_ACCOUNT_ID;
        req.account_id = (char *)account_id;
    }
    mb_error st;
    Minbill__V1__SubjectRequest *r = (void *)pu_call(
        s, key, PU_OPEN, &req.base, &minbill__v1__subject_request__descriptor, mbt_ms(10000), &st);
    snprintf(request_id, PU_ID_MAX, "%s", r != NULL ? r->request_id : "");
    if (r == NULL)
        fprintf(stderr, "  OpenSubjectRequest: %s %s\n", mb_status_name(st.code), st.msg);
    pu_free(r);
    return st.code;
}

Minbill__V1__SubjectRequest *pu_request(const mbt_server *s, const char *key, const char *id,
                                        mb_error *st)
{
    Minbill__V1__GetSubjectRequestRequest req = MINBILL__V1__GET_SUBJECT_REQUEST_REQUEST__INIT;
    req.request_id = (char *)id;
    return (void *)pu_call(s, key, PU_GET_REQUEST, &req.base,
                           &minbill__v1__subject_request__descriptor, mbt_ms(10000), st);
}

Minbill__V1__Account *pu_account(const mbt_server *s, const char *key, const char *account_id,
                                 bool reveal, mb_error *st)
{
    Minbill__V1__GetAccountRequest req = MINBILL__V1__GET_ACCOUNT_REQUEST__INIT;
    req.account_id = (char *)account_id;
    req.reveal = reveal;
    return (void *)pu_call(s, key, "/minbill.v1.Accounts/GetAccount", &req.base,
                           &minbill__v1__account__descriptor, mbt_ms(10000), st);
}

const Minbill__V1__Contact *pu_contact(const Minbill__V1__Account *acc, const char *contact_id)
{
    for (size_t i = 0; acc != NULL && i < acc->n_contacts; i++)
        if (strcmp(acc->contacts[i]->contact_id, contact_id) == 0)
            return acc->contacts[i];
    return NULL;
}

void pu_contact_init(Minbill__V1__Contact *c, const char *id, const char *name, const char *email,
                     const char *phone)
{
    minbill__v1__contact__init(c);
    c->contact_id = (char *)id;
    c->role = MINBILL__V1__CONTACT_ROLE__CONTACT_ROLE_BILLING;
    c->name = (char *)name;
    c->email = (char *)email;
    c->phone = (char *)phone;
}

bool pu_audit_intact(const mbt_server *s, const char *key)
{
    Minbill__V1__VerifyAuditChainRequest req = MINBILL__V1__VERIFY_AUDIT_CHAIN_REQUEST__INIT;
    mb_error st;
    Minbill__V1__VerifyAuditChainResponse *r =
        (void *)pu_call(s, key, "/minbill.v1.Audit/VerifyAuditChain", &req.base,
                        &minbill__v1__verify_audit_chain_response__descriptor, mbt_ms(20000), &st);
    bool ok = r != NULL && r->intact && r->events > 0;
    if (!ok)
        fprintf(stderr, "  VerifyAuditChain: %s %s (broken at %s)\n", mb_status_name(st.code),
                st.msg, r != NULL ? r->first_broken_event : "?");
    pu_free(r);
    return ok;
}

static void blobs_push(pu_blobs *b, const void *data, size_t len)
{
    if (b->n == PU_BLOBS_MAX || len == 0 || (b->data[b->n] = malloc(len)) == NULL)
        return;
    memcpy(b->data[b->n], data, len);
    b->len[b->n++] = len;
}

int pu_blobs_read(const char *db, const char *sql, const char *arg, pu_blobs *b)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    int before = b->n;
    int rc = sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(h, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            for (int i = 0; i < sqlite3_column_count(st); i++)
                blobs_push(b, sqlite3_column_blob(st, i), (size_t)sqlite3_column_bytes(st, i));
    }
    if (rc != SQLITE_DONE)
        fprintf(stderr, "  %s: %s\n", sql, h != NULL ? sqlite3_errmsg(h) : "cannot open");
    sqlite3_finalize(st);
    sqlite3_close(h); /* a reader left open would hold the WAL */
    return rc == SQLITE_DONE && b->n > before ? 0 : -1;
}

void pu_blobs_add(pu_blobs *b, const char *text)
{
    blobs_push(b, text, strlen(text));
}

void pu_blobs_free(pu_blobs *b)
{
    for (int i = 0; i < b->n; i++)
        free(b->data[i]);
    b->n = 0;
}

int pu_blobs_found(const pu_blobs *b, const char *const *paths)
{
    int n = 0;
    for (int i = 0; i < b->n; i++) {
        bool in = false;
        for (size_t p = 0; paths[p] != NULL && !in; p++)
            if ((in = mbt_file_contains_bytes(paths[p], b->data[i], b->len[i])) &&
                getenv("PU_DEBUG") != NULL)
                fprintf(stderr, "  byte string #%d (%zu bytes) is in %s\n", i, b->len[i], paths[p]);
        n += in;
    }
    return n;
}

bool pu_blobs_gone(const pu_blobs *b, const char *const *paths, const char *what)
{
    double t0 = mbt_now(), limit = mbt_ms(10000) / 1000.0;
    while (pu_blobs_found(b, paths) > 0 && mbt_now() - t0 < limit)
        mbt_sleep_ms(50);
    int left = pu_blobs_found(b, paths);
    fprintf(stderr, "  %s: %d of %d byte strings left after %.2f s\n", what, left, b->n,
            mbt_now() - t0);
    return left == 0;
}

void pu_export(const mbt_server *s, const char *key, const char *request_id, int pause_ms,
               pu_export_result *out)
{
    memset(out, 0, sizeof *out);
    Minbill__V1__ExportSubjectDataRequest req = MINBILL__V1__EXPORT_SUBJECT_DATA_REQUEST__INIT;
    req.request_id = (char *)request_id;
    mbc_call_t *call = mbc_call_start_request(s->ch, PU_EXPORT, key, mbt_ms(60000), &req.base);
    if (call == NULL) {
        out->code = GRPC_STATUS_UNAVAILABLE;
        return;
    }
    uint8_t *msg;
    size_t len;
    while (mbc_call_recv(call, &msg, &len) == 1) {
        Minbill__V1__ExportChunk *c = minbill__v1__export_chunk__unpack(NULL, len, msg);
        free(msg);
        if (c == NULL)
            continue;
        char *grown = realloc(out->doc, out->len + c->data.len + 1);
        if (grown != NULL) {
            out->doc = grown;
            memcpy(out->doc + out->len, c->data.data, c->data.len);
            out->len += c->data.len;
            out->doc[out->len] = '\0';
        }
        out->chunks++;
        if (c->data.len > out->max_chunk)
            out->max_chunk = c->data.len;
        minbill__v1__export_chunk__free_unpacked(c, NULL);
        if (pause_ms > 0)
            mbt_sleep_ms(pause_ms);
    }
    out->code = mbt_call_end(call, &out->st);
    mbc_call_free(call);
}

void pu_export_free(pu_export_result *r)
{
    free(r->doc);
    r->doc = NULL;
}

int pu_occurrences(const char *doc, const char *needle)
{
    int n = 0;
    for (const char *p = doc; p != NULL && (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

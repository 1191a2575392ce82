/*
 * priv_util.h - what the erasure, restriction and rectification tests do
 * against the real daemon: calls, requests opened, accounts read, and the
 * byte strings an erasure must leave nowhere.
 */
#ifndef MB_TEST_PRIV_UTIL_H
#define MB_TEST_PRIV_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"
#include "minbill/v1/accounts.pb-c.h"
#include "minbill/v1/privacy.pb-c.h"

#define PU_OPEN "/minbill.v1.Privacy/OpenSubjectRequest"
#define PU_GET_REQUEST "/minbill.v1.Privacy/GetSubjectRequest"
#define PU_ERASE "/minbill.v1.Privacy/EraseSubject"
#define PU_RESTRICT "/minbill.v1.Privacy/RestrictSubject"
#define PU_RECTIFY "/minbill.v1.Privacy/RectifySubject"
#define PU_EXPORT "/minbill.v1.Privacy/ExportSubjectData"

/* Unary call; the answer (free with pu_free) or NULL with *st set. */
ProtobufCMessage *pu_call(const mbt_server *s, const char *key, const char *method,
                          const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp,
                          int timeout_ms, mb_error *st);
void pu_free(void *msg);

/* OpenSubjectRequest of kind for the subject (exactly one of email,
 * contact_id, account_id not NULL); request_id (PU_ID_MAX) receives its
 * id, or "". Returns the status code. */
#define PU_ID_MAX 64
int pu_open(const mbt_server *s, const char *key, Minbill__V1__SubjectRequestKind kind,
            const char *email, const char *contact_id, const char *account_id, char *request_id);

/* An ExportSubjectData call read to its end. */
typedef struct pu_export_result {
    int code;
    mb_error st;
    char *doc; /* malloc'd, NUL-terminated; NULL if nothing came */
    size_t len;
    size_t chunks, max_chunk;
} pu_export_result;

/* Runs an export as key to its end; with pause_ms, waits that long after
 * each chunk (a slow reader). Free with pu_export_free. */
void pu_export(const mbt_server *s, const char *key, const char *request_id, int pause_ms,
               pu_export_result *out);
void pu_export_free(pu_export_result *r);

/* How many times needle is in doc (0 for a NULL doc). */
int pu_occurrences(const char *doc, const char *needle);

/* GetSubjectRequest as key; NULL with *st set. */
Minbill__V1__SubjectRequest *pu_request(const mbt_server *s, const char *key, const char *id,
                                        mb_error *st);

/* GetAccount (reveal as asked); NULL with *st set. */
Minbill__V1__Account *pu_account(const mbt_server *s, const char *key, const char *account_id,
                                 bool reveal, mb_error *st);

/* The contact of acc with that id, or NULL. */
const Minbill__V1__Contact *pu_contact(const Minbill__V1__Account *acc, const char *contact_id);

/* A contact (role billing) in c. */
void pu_contact_init(Minbill__V1__Contact *c, const char *id, const char *name, const char *email,
                     const char *phone);

/* VerifyAuditChain as key: true if intact (printed otherwise). */
bool pu_audit_intact(const mbt_server *s, const char *key);

/* Byte strings read from the database while they existed. */
#define PU_BLOBS_MAX 64
typedef struct pu_blobs {
    int n;
    size_t len[PU_BLOBS_MAX];
    unsigned char *data[PU_BLOBS_MAX];
} pu_blobs;

/* Appends every non-empty column of every row of sql (?1 = arg) on the
 * database at db. 0, or -1 (printed) if nothing could be read. */
int pu_blobs_read(const char *db, const char *sql, const char *arg, pu_blobs *b);
/* Appends a text. */
void pu_blobs_add(pu_blobs *b, const char *text);
void pu_blobs_free(pu_blobs *b);

/* How many of b are in any of the files (NULL-terminated list); with
 * $PU_DEBUG set, says which are where. */
int pu_blobs_found(const pu_blobs *b, const char *const *paths);

/* Waits (up to 10 s, stretched under valgrind) until none of b is in the
 * files; says how long it took. */
bool pu_blobs_gone(const pu_blobs *b, const char *const *paths, const char *what);

#endif

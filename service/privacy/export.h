/*
 * export.h - ExportSubjectData (GDPR Art. 15 and 20): everything minbill
 * holds about the subject of an OPEN access or portability request, as one
 * versioned JSON document (docs/export-schema.md) streamed in chunks.
 *
 * Owns the export document. The audit event ("subject.export", naming the
 * request and the accounts in scope) commits before any byte is sent; the
 * data is then read in one snapshot on an export-purpose reader and
 * written while it is read, so memory stays bounded by the stream's
 * window whatever the subject's history. What a table holds about a
 * subject, how it is sealed and what the subject is told about it come
 * from the inventory (inventory/inventory.h); only invoices (sealed
 * documents), usage, earlier requests and the audit trail are read here by
 * name.
 */
#ifndef MB_PRIVACY_EXPORT_H
#define MB_PRIVACY_EXPORT_H

#include "rpc/server.h"

/* The document's schema version (docs/export-schema.md). */
#define EXPORT_SCHEMA_VERSION 1

/* Bytes of the document per ExportChunk (at most). */
#define EXPORT_CHUNK_BYTES (32 * 1024)

/* Privacy/ExportSubjectData, a job method (it blocks on the stream). */
int privacy_export(rpc_call_t *call, const ProtobufCMessage *msg);

#endif

/*
 * invoice_json.h - an invoice or credit note as one JSON document
 * (RenderInvoice with INVOICE_FORMAT_JSON).
 *
 * Owns the JSON form of the Invoice message: the proto3 JSON mapping (field
 * names in lowerCamelCase as protoc's json_name, 64-bit integers as decimal
 * strings, enums by name, Timestamps as RFC 3339 UTC), except that every
 * field is written, default values included, so consumers see a stable set
 * of keys. It follows the message descriptor, so fields added to the proto
 * appear without a change here.
 */
#ifndef MB_INVOICING_INVOICE_JSON_H
#define MB_INVOICING_INVOICE_JSON_H

#include <stddef.h>

#include "base/arena.h"
#include "base/error.h"
#include "minbill/v1/invoicing.pb-c.h"

/* Renders inv into a NUL-terminated document allocated in a (*len bytes
 * without the NUL). RESOURCE_EXHAUSTED when memory or the arena's limit runs
 * out. */
int invoice_json_render(mb_arena_t *a, const Minbill__V1__Invoice *inv, char **out, size_t *len,
                        mb_error *err);

#endif

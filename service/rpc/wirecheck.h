/*
 * wirecheck.h - checks every string field of an encoded protobuf message.
 *
 * protobuf-c accepts any bytes in a `string` field, and an embedded NUL
 * silently truncates the C string it hands us, so strings must be checked on
 * the wire, before decoding, where their real length is still known. The
 * walk follows the message descriptors and names the offending field the way
 * api.md's errors do: `account.contacts[1].email: must be valid UTF-8 ...`.
 * Malformed wire data is left for protobuf_c_message_unpack() to reject,
 * except field number 0, which it lets through in a tag of two or more bytes.
 *
 * rpc_wire_decode() is the whole path untrusted request bytes take before a
 * handler sees them (the runtime calls it; tests/fuzz drives it directly).
 */
#ifndef MB_RPC_WIRECHECK_H
#define MB_RPC_WIRECHECK_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "base/arena.h"
#include "base/error.h"

/* Checks data with rpc_wire_check(), then decodes it into arena memory.
 * INVALID_ARGUMENT for a bad string or malformed data, RESOURCE_EXHAUSTED
 * when decoding would take more than the arena's limit (`limit`, for the
 * message). On success *out lives as long as the arena. */
int rpc_wire_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                    mb_arena_t *arena, size_t limit, ProtobufCMessage **out, mb_error *err);

int rpc_wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                   mb_error *err);

/* True if s[0..len) is well-formed UTF-8 (no overlongs, surrogates or
 * code points above U+10FFFF) and contains no NUL. */
int rpc_utf8_valid(const uint8_t *s, size_t len);

#endif

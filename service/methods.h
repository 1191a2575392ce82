/*
 * methods.h - the method table: every RPC minbilld serves, its kind, its
 * request type, the roles that may call it (api.md's role table, as data in
 * this one place) and its handler.
 */
#ifndef MB_METHODS_H
#define MB_METHODS_H

#include <stddef.h>

#include "rpc/server.h"

extern const rpc_method mb_methods[];
extern const size_t mb_methods_count;

#endif

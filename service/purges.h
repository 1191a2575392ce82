/*
 * purges.h - the one list of retention purges (purge/purge.h) that the
 * daemon runs on schedule and `minbilld purge` runs on demand.
 */
#ifndef MB_PURGES_H
#define MB_PURGES_H

#include "metering/metering.h"
#include "purge/purge.h"

/* Registers every domain's purge rule with p. metering: the daemon's (its
 * in-memory index follows the purge), or NULL in `minbilld purge`. */
int mb_purges_register(purge_t *p, metering_t *metering, mb_error *err)
    __attribute__((warn_unused_result));

#endif

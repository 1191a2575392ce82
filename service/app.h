/*
 * app.h - what every handler can reach: the daemon's long-lived objects.
 * Handlers get it with rpc_call_app(call).
 */
#ifndef MB_APP_H
#define MB_APP_H

#include "crypto/keyring.h"
#include "metering/metering.h"
#include "rpc/auth.h"
#include "rpc/health.h"
#include "rpc/reflection.h"
#include "store/store.h"

typedef struct mb_app {
    store_t *store;
    keyring_t *keyring;
    auth_t *auth;
    health_t *health;
    reflection_t *reflection;
    metering_t *metering;
    /* The seller invoices are issued by (invoicing/seller.h); NULL when not
     * configured: invoicing then answers FAILED_PRECONDITION. */
    const struct seller_config *seller;
} mb_app;

#endif

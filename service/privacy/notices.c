/*
 * notices.c - see notices.h.
 */
#include "privacy/notices.h"

#include <stdbool.h>
#include <string.h>

#include "inventory/inventory.h"

static const char SQL_NOTICE[] =
    "INSERT OR IGNORE INTO subject_request_notices(request_id, recipient) VALUES (?1, ?2)";

void privacy_recipients_add(privacy_recipients *out, const char *table, const char *column)
{
    for (size_t i = 0; i < inventory_count; i++) {
        const inv_field *f = &inventory_fields[i];
        if (!f->personal || f->recipients == NULL || strcmp(f->table, table) != 0 ||
            (column != NULL && strcmp(f->column, column) != 0))
            continue;
        bool known = false;
        for (size_t j = 0; j < out->n && !known; j++)
            known = strcmp(out->names[j], f->recipients) == 0;
        if (!known && out->n < PRIVACY_RECIPIENTS_MAX)
            out->names[out->n++] = f->recipients;
    }
}

int privacy_notices_record(store_conn_t *conn, const char *request_id, const privacy_recipients *r,
                           mb_error *err)
{
    for (size_t i = 0; i < r->n; i++)
        if (store_exec_text(conn, SQL_NOTICE, request_id, r->names[i],
                            "recording the recipients to notify", err) != 0)
            return -1;
    return 0;
}

/*
 * details.c - see details.h.
 */
#include "rpc/details.h"

#include <string.h>

#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"

/* Longest field path we split off; mb_error messages are shorter anyway. */
#define FIELD_MAX 256

grpc_slice rpc_details_bad_request(grpc_status_code code, const char *msg)
{
    char field[FIELD_MAX] = "";
    const char *description = msg;
    const char *sep = strstr(msg, ": ");
    if (sep != NULL && (size_t)(sep - msg) < sizeof field) {
        memcpy(field, msg, (size_t)(sep - msg));
        field[sep - msg] = '\0';
        description = sep + 2;
    }
    Google__Rpc__BadRequest__FieldViolation fv = GOOGLE__RPC__BAD_REQUEST__FIELD_VIOLATION__INIT;
    fv.field = field;
    fv.description = (char *)description;
    Google__Rpc__BadRequest__FieldViolation *fvs[1] = {&fv};
    Google__Rpc__BadRequest br = GOOGLE__RPC__BAD_REQUEST__INIT;
    br.n_field_violations = 1;
    br.field_violations = fvs;

    size_t br_len = google__rpc__bad_request__get_packed_size(&br);
    grpc_slice br_slice = grpc_slice_malloc(br_len);
    google__rpc__bad_request__pack(&br, GRPC_SLICE_START_PTR(br_slice));

    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = RPC_BAD_REQUEST_TYPE_URL;
    any.value.data = GRPC_SLICE_START_PTR(br_slice);
    any.value.len = br_len;
    Google__Protobuf__Any *anys[1] = {&any};
    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
    st.code = (int32_t)code;
    st.message = (char *)msg;
    st.n_details = 1;
    st.details = anys;
    grpc_slice out = grpc_slice_malloc(google__rpc__status__get_packed_size(&st));
    google__rpc__status__pack(&st, GRPC_SLICE_START_PTR(out));
    grpc_slice_unref(br_slice);
    return out;
}

/*
 * rectify.h - Privacy.RectifySubject (GDPR Art. 16): corrects a subject's
 * account and contact fields under an open rectification request, by the
 * rules UpsertAccount applies (accounts_check), and records the recipients
 * the inventory names for the corrected fields as to be told (Art. 19).
 * The request stays open: staff complete it once the subject is answered.
 */
#ifndef MB_PRIVACY_RECTIFY_H
#define MB_PRIVACY_RECTIFY_H

#include "rpc/server.h"

int privacy_rectify(rpc_call_t *call, const ProtobufCMessage *req);

#endif

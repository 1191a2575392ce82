/*
 * hostport.h - "HOST:PORT" addresses as the daemon's --listen and the
 * client's --server take them.
 *
 * gRPC parses the port itself and wraps one out of range (127.0.0.1:99999
 * listens on 34463), and a malformed address only shows as "cannot
 * connect" later: both are usage errors, found here first.
 */
#ifndef MB_BASE_HOSTPORT_H
#define MB_BASE_HOSTPORT_H

#include <stddef.h>

/* Checks s is HOST:PORT: HOST a name or IPv4 address (letters, digits, '.',
 * '-', '_') or an IPv6 address in brackets, PORT a decimal number from
 * min_port to 65535. 0, or -1 with why (no value echoed) in msg. */
int mb_hostport_check(const char *s, int min_port, char *msg, size_t msg_size);

#endif

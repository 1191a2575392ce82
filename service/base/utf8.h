/*
 * utf8.h - the one UTF-8 decoder (RFC 3629: no overlong forms, no UTF-16
 * surrogates, nothing above U+10FFFF), for the daemon's wire checks and the
 * client's JSON and terminal output alike.
 */
#ifndef MB_UTF8_H
#define MB_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The length (1..4) of the valid sequence at s, of which n bytes are
 * available, with its code point in *cp; 0 if s does not start one. */
size_t mb_utf8_next(const uint8_t *s, size_t n, uint32_t *cp);

#endif

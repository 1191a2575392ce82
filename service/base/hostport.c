/*
 * hostport.c - see hostport.h.
 */
#include "base/hostport.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool host_char(char c, bool bracketed)
{
    if (isalnum((unsigned char)c) || c == '.')
        return true;
    return bracketed ? c == ':' || c == '%' : c == '-' || c == '_';
}

int mb_hostport_check(const char *s, int min_port, char *msg, size_t msg_size)
{
    bool bracketed = s[0] == '[';
    const char *host = s + bracketed;
    const char *end = bracketed ? strchr(host, ']') : strrchr(host, ':');
    if (end == NULL || end == host || (bracketed && end[1] != ':')) {
        snprintf(msg, msg_size, "must be HOST:PORT (an IPv6 address in brackets: [::1]:PORT)");
        return -1;
    }
    for (const char *p = host; p < end; p++) {
        if (!host_char(*p, bracketed)) {
            snprintf(msg, msg_size,
                     "HOST may hold letters, digits, '.', '-' and '_' (an IPv6 address goes "
                     "in brackets)");
            return -1;
        }
    }
    const char *port = end + 1 + bracketed;
    size_t digits = strspn(port, "0123456789");
    long v = -1;
    if (digits >= 1 && digits <= 5 && port[digits] == '\0')
        sscanf(port, "%ld", &v);
    if (v < min_port || v > 65535) {
        snprintf(msg, msg_size, "PORT must be a number from %d to 65535", min_port);
        return -1;
    }
    return 0;
}

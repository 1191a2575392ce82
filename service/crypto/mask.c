/*
 * mask.c - see mask.h.
 */
#include "crypto/mask.h"

#include <stdio.h>
#include <string.h>

/* Length of the UTF-8 sequence starting at s (1 for invalid bytes). */
static size_t cp_len(const char *s)
{
    unsigned char c = (unsigned char)*s;
    size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 1;
    for (size_t i = 1; i < n; i++)
        if (s[i] == '\0')
            return i;
    return n;
}

void mask_email(const char *email, char *out, size_t size)
{
    const char *at = strrchr(email, '@');
    const char *tld = at != NULL ? strrchr(at, '.') : NULL;
    if (at == NULL || at == email || tld == NULL || tld == at + 1) {
        snprintf(out, size, "***");
        return;
    }
    snprintf(out, size, "%.*s***@%.*s***%s", (int)cp_len(email), email, (int)cp_len(at + 1),
             at + 1, tld);
}

void mask_phone(const char *e164, char *out, size_t size)
{
    size_t n = strlen(e164);
    if (n < 6 || e164[0] != '+') {
        snprintf(out, size, "***");
        return;
    }
    snprintf(out, size, "+%.2s *** *** %s", e164 + 1, e164 + n - 2);
}

void mask_name(const char *name, char *out, size_t size)
{
    size_t o = 0;
    int at_word = 1;
    if (size == 0)
        return;
    for (const char *p = name; *p != '\0';) {
        size_t n = cp_len(p);
        if (*p == ' ' || *p == '\t' || *p == '-') {
            at_word = 1;
        } else if (at_word) {
            if (o + n + 3 >= size)
                break;
            if (o > 0)
                out[o++] = ' ';
            memcpy(out + o, p, n);
            o += n;
            out[o++] = '.';
            at_word = 0;
        }
        p += n;
    }
    out[o] = '\0';
}

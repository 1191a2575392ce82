/*
 * mask.c - see mask.h.
 *
 * Every mask shows at most a fixed share of its value: a quarter of an
 * e-mail address's characters, a third of a phone number's digits or of a
 * name's letters. What a short value cannot afford is starred, so "a@b.de"
 * shows nothing of itself and "+12345678" only its last two digits.
 */
#include "crypto/mask.h"

#include <stdbool.h>
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

/* Characters (code points) in s[0..len). */
static size_t cp_count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i += cp_len(s + i))
        n++;
    return n;
}

/* Spends `cost` shown characters of *budget if it allows. */
static bool afford(size_t *budget, size_t cost)
{
    if (cost > *budget)
        return false;
    *budget -= cost;
    return true;
}

void mask_email(const char *email, char *out, size_t size)
{
    const char *at = strrchr(email, '@');
    const char *tld = at != NULL ? strrchr(at, '.') : NULL;
    if (at == NULL || at == email || tld == NULL || tld == at + 1) {
        snprintf(out, size, "***");
        return;
    }
    size_t budget = cp_count(email, strlen(email)) / 4;
    size_t local = cp_count(email, (size_t)(at - email));
    size_t domain = cp_count(at + 1, (size_t)(tld - at - 1));
    /* The top-level domain says least about the person, then the first
     * characters of each part; a part shorter than 4 keeps its first
     * character too. */
    bool show_tld = afford(&budget, strlen(tld + 1));
    bool show_local = local >= 4 && afford(&budget, 1);
    bool show_domain = domain >= 4 && afford(&budget, 1);
    snprintf(out, size, "%.*s***@%.*s***%s", show_local ? (int)cp_len(email) : 0, email,
             show_domain ? (int)cp_len(at + 1) : 0, at + 1, show_tld ? tld : "");
}

void mask_phone(const char *e164, char *out, size_t size)
{
    size_t n = strlen(e164);
    size_t digits = n > 0 ? n - 1 : 0;
    if (digits < 6 || e164[0] != '+') {
        snprintf(out, size, "***");
        return;
    }
    /* Country code and last two digits are 4 of 12 or more digits; shorter
     * numbers show only their last two (at most a third of 6). */
    if (digits >= 12)
        snprintf(out, size, "+%.2s *** *** %s", e164 + 1, e164 + n - 2);
    else
        snprintf(out, size, "+** *** *** %s", e164 + n - 2);
}

static bool name_separator(char c)
{
    return c == ' ' || c == '\t' || c == '-';
}

void mask_name(const char *name, char *out, size_t size)
{
    size_t o = 0, letters = 0;
    int at_word = 1;
    if (size == 0)
        return;
    for (const char *p = name; *p != '\0'; p += cp_len(p))
        letters += !name_separator(*p);
    size_t budget = letters / 3;
    for (const char *p = name; *p != '\0';) {
        size_t n = cp_len(p);
        if (name_separator(*p)) {
            at_word = 1;
        } else if (at_word) {
            bool show = afford(&budget, 1);
            size_t shown = show ? n : 1;
            if (o + shown + 3 >= size)
                break;
            if (o > 0)
                out[o++] = ' ';
            memcpy(out + o, show ? p : "*", shown);
            o += shown;
            out[o++] = '.';
            at_word = 0;
        }
        p += n;
    }
    out[o] = '\0';
}

/*
 * fuzz.c - see fuzz.h.
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
    abort();
}

static bool text_ok(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size;) {
        uint32_t cp;
        size_t n = mb_utf8_next(data + i, size - i, &cp);
        if (n == 0 || cp == 0)
            return false;
        i += n;
    }
    return true;
}

char *fuzz_text(const uint8_t *data, size_t size)
{
    if (!text_ok(data, size))
        return NULL;
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

void fuzz_split(const uint8_t *data, size_t size, char **head, char **rest)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t h = nl != NULL ? (size_t)(nl - data) : 0;
    size_t r = nl != NULL ? h + 1 : 0;
    *head = fuzz_text(data, h);
    *rest = *head != NULL ? fuzz_text(data + r, size - r) : NULL;
    if (*rest == NULL) {
        free(*head);
        *head = NULL;
    }
}

void fuzz_assert_field_error(const mb_error *err, const char *field)
{
    FUZZ_ASSERT(err->code == GRPC_STATUS_INVALID_ARGUMENT);
    const char *colon = strstr(err->msg, ": ");
    FUZZ_ASSERT(colon != NULL && colon[2] != '\0');
    if (field != NULL)
        FUZZ_ASSERT(strncmp(err->msg, field, strlen(field)) == 0 &&
                    err->msg + strlen(field) == colon);
}

static bool is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* msg with the names of the standards a rule cites ("ISO 4217", "E.164",
 * "RFC 5321") blanked out: their digits are the rule's, not the value's. */
static void blank_standards(const char *msg, char *out, size_t size)
{
    static const char *const prefixes[] = {"ISO ", "RFC ", "E.", "UNCL", "EN "};
    snprintf(out, size, "%s", msg);
    for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0]; p++) {
        size_t plen = strlen(prefixes[p]);
        for (char *at = strstr(out, prefixes[p]); at != NULL; at = strstr(at + 1, prefixes[p])) {
            char *d = at + plen;
            while ((*d >= '0' && *d <= '9') || ((*d == '-' || *d == '.') && d[1] >= '0' &&
                                                d[1] <= '9'))
                *d++ = ' ';
        }
    }
}

void fuzz_assert_no_echo(const char *msg_in, const char *value, size_t n)
{
    char msg[MB_ERROR_MSG_MAX + 1];
    blank_standards(msg_in, msg, sizeof msg);
    /* The field's path before ": " is the rule's too: "line1" once
     * matched an e-mail address holding "ne1" (CI, fuzz_request). */
    char *colon = strstr(msg, ": ");
    if (colon != NULL)
        memset(msg, ' ', (size_t)(colon - msg));
    size_t len = strlen(value);
    for (size_t i = 0; i + n <= len; i++) {
        bool alnum = true, digit = false;
        for (size_t k = i; k < i + n && alnum; k++) {
            alnum = is_alnum(value[k]);
            digit |= value[k] >= '0' && value[k] <= '9';
        }
        if (alnum && digit && memmem(msg, strlen(msg), value + i, n) != NULL) {
            fprintf(stderr, "message \"%s\" quotes \"%.*s\" of the value\n", msg_in, (int)n,
                    value + i);
            FUZZ_ASSERT(!"the error message echoes the value");
        }
    }
}

void fuzz_assert_digits_only(const char *msg, const char *const *allowed)
{
    for (const char *p = msg; *p != '\0';) {
        size_t n = strspn(p, "0123456789");
        if (n == 0) {
            p++;
            continue;
        }
        const char *const *a = allowed;
        while (*a != NULL && !(strlen(*a) == n && memcmp(*a, p, n) == 0))
            a++;
        if (*a == NULL) {
            fprintf(stderr, "message \"%s\" has digits \"%.*s\"\n", msg, (int)n, p);
            FUZZ_ASSERT(!"the error message has digits its rule does not");
        }
        p += n;
    }
}

void fuzz_assert_no_email(const char *msg, const char *value)
{
    for (const char *p = value; *p != '\0';) {
        size_t n = strcspn(p, " \t\r\n");
        bool shaped = false;
        for (size_t k = 1; k + 1 < n && !shaped; k++)
            shaped = (p[k] == '@' || p[k] == '.') && is_alnum(p[k - 1]) && is_alnum(p[k + 1]);
        if (shaped && memmem(msg, strlen(msg), p, n) != NULL) {
            fprintf(stderr, "message \"%s\" quotes \"%.*s\" of the value\n", msg, (int)n, p);
            FUZZ_ASSERT(!"the error message echoes an e-mail address");
        }
        p += n;
        p += strspn(p, " \t\r\n");
    }
}

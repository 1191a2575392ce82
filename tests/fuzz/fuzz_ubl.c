/*
 * fuzz_ubl.c - ubl_render and invoice_json_render (invoicing/ubl.c,
 * invoice_json.c) on an invoice or credit note built with the unit tests'
 * invoice_builder.h under the dev seller.
 *
 * Input: 17 bytes of header (flags: credit note, buyer, payment means,
 * currency; a line's quantity and unit price in micros as int32; the gross
 * total as int64), then text split at '\n' into the invoice number, seller
 * name, buyer name, address line 1 and 2, city, note, credit-note reason
 * and one line description per further piece. The text is what the wire
 * check lets through (valid UTF-8 without NUL), so C0 controls, U+FFFE and
 * markup come in.
 *
 * Invariants: the UBL is well-formed XML by the checker below (one root,
 * tags balance, every '&' a predefined entity or a character reference to
 * an XML Char, no '<' in text or attribute values, no "]]>" in text, only
 * code points XML 1.0 allows) and holds each string escaped as ubl.h says
 * (the five markup characters as entities, CR as &#13;, what XML cannot
 * carry dropped); the JSON is valid and holds each string as one of its
 * string values. A refusal is INVALID_ARGUMENT naming the invoice field,
 * and only for what the input made invalid (the number, the currency).
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../invoice_builder.h"
#include "base/check.h"
#include "base/utf8.h"
#include "invoicing/invoice_json.h"

enum { S_NUMBER, S_SELLER, S_BUYER, S_LINE1, S_LINE2, S_CITY, S_NOTE, S_REASON, S_FIRST_LINE };

#define MAX_STRINGS (S_FIRST_LINE + MAX_LINES)

static bool xml_char(uint32_t cp)
{
    return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
           (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

/*
 * XML well-formedness, for the subset the writer produces (a declaration,
 * elements, attributes, text, references; no comments, PIs, CDATA or
 * DOCTYPE).
 */

static const char *xml_reference(const char *p)
{
    static const char *const named[] = {"&lt;", "&gt;", "&amp;", "&quot;", "&apos;"};
    for (size_t i = 0; i < 5; i++) {
        if (strncmp(p, named[i], strlen(named[i])) == 0)
            return p + strlen(named[i]);
    }
    FUZZ_ASSERT(p[1] == '#');
    bool hex = p[2] == 'x';
    const char *d = p + (hex ? 3 : 2);
    size_t n = strspn(d, hex ? "0123456789abcdefABCDEF" : "0123456789");
    FUZZ_ASSERT(n > 0 && n <= 8 && d[n] == ';');
    FUZZ_ASSERT(xml_char((uint32_t)strtoul(d, NULL, hex ? 16 : 10)));
    return d + n + 1;
}

/* Character data or an attribute value up to `end` (not included). */
static const char *xml_chars(const char *p, const char *stop)
{
    while (*p != '\0' && strchr(stop, *p) == NULL) {
        FUZZ_ASSERT(strncmp(p, "]]>", 3) != 0);
        p = *p == '&' ? xml_reference(p) : p + 1;
    }
    return p;
}

static const char *xml_name(const char *p, const char **name, size_t *len)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789:._-";
    *name = p;
    *len = strspn(p, chars);
    FUZZ_ASSERT(*len > 0 && !(p[0] >= '0' && p[0] <= '9') && p[0] != '-' && p[0] != '.');
    return p + *len;
}

static void check_xml(const char *doc, size_t len)
{
    FUZZ_ASSERT(strlen(doc) == len);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = mb_utf8_next((const uint8_t *)doc + i, len - i, &cp);
        FUZZ_ASSERT(k > 0 && xml_char(cp));
        i += k;
    }
    static const char decl[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    FUZZ_ASSERT(strncmp(doc, decl, strlen(decl)) == 0);
    const char *p = doc + strlen(decl);
    const char *stack[64];
    size_t stack_len[64], depth = 0;
    bool root_done = false;
    while (*p != '\0') {
        if (*p != '<') {
            const char *t = p;
            p = xml_chars(p, "<");
            if (depth == 0) /* outside the root: white space only */
                FUZZ_ASSERT(strspn(t, " \t\r\n") >= (size_t)(p - t));
            continue;
        }
        const char *name;
        size_t n;
        if (p[1] == '/') {
            p = xml_name(p + 2, &name, &n);
            FUZZ_ASSERT(*p == '>' && depth > 0);
            depth--;
            FUZZ_ASSERT(stack_len[depth] == n && memcmp(stack[depth], name, n) == 0);
            root_done = depth == 0;
            p++;
            continue;
        }
        FUZZ_ASSERT(!root_done);
        p = xml_name(p + 1, &name, &n);
        for (;;) {
            size_t ws = strspn(p, " \t\r\n");
            p += ws;
            if (*p == '>' || (p[0] == '/' && p[1] == '>'))
                break;
            FUZZ_ASSERT(ws > 0);
            const char *an;
            size_t alen;
            p = xml_name(p, &an, &alen);
            FUZZ_ASSERT(*p == '=' && (p[1] == '"' || p[1] == '\''));
            char quote[2] = {p[1], '\0'};
            p = xml_chars(p + 2, strchr(quote, '"') ? "\"<" : "'<");
            FUZZ_ASSERT(*p == quote[0]);
            p++;
        }
        if (*p == '/') {
            root_done = depth == 0;
            p += 2;
            continue;
        }
        FUZZ_ASSERT(depth < 64);
        stack[depth] = name;
        stack_len[depth++] = n;
        p++;
    }
    FUZZ_ASSERT(depth == 0 && root_done);
}

/* s as ubl.h promises to write it, into out (6 bytes per input byte). */
static void xml_escaped(const char *s, char *out)
{
    size_t n = strlen(s), o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = mb_utf8_next((const uint8_t *)s + i, n - i, &cp);
        FUZZ_ASSERT(k > 0);
        const char *e = cp == '<'    ? "&lt;"
                        : cp == '>'  ? "&gt;"
                        : cp == '&'  ? "&amp;"
                        : cp == '"'  ? "&quot;"
                        : cp == '\'' ? "&apos;"
                        : cp == '\r' ? "&#13;"
                                     : NULL;
        if (e != NULL) {
            memcpy(out + o, e, strlen(e));
            o += strlen(e);
        } else if (xml_char(cp)) {
            memcpy(out + o, s + i, k);
            o += k;
        }
        i += k;
    }
    out[o] = '\0';
}

/*
 * JSON (RFC 8259), keeping every decoded string value.
 */

typedef struct json_reader {
    const char *p;
    char *scratch; /* as long as the document: room for any string in it */
    char **strings;
    size_t n_strings, cap;
} json_reader;

static void json_ws(json_reader *r)
{
    r->p += strspn(r->p, " \t\r\n");
}

static unsigned json_hex4(const char *p)
{
    FUZZ_ASSERT(strspn(p, "0123456789abcdefABCDEF") >= 4);
    char h[5] = {p[0], p[1], p[2], p[3], '\0'};
    return (unsigned)strtoul(h, NULL, 16);
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static void json_string(json_reader *r)
{
    FUZZ_ASSERT(*r->p == '"');
    const char *p = r->p + 1;
    char *o = r->scratch;
    while (*p != '"') {
        unsigned char c = (unsigned char)*p;
        FUZZ_ASSERT(c >= 0x20);
        if (c != '\\') {
            *o++ = *p++;
            continue;
        }
        const char *esc = strchr("\"\\/bfnrtu", p[1]);
        FUZZ_ASSERT(p[1] != '\0' && esc != NULL);
        if (p[1] != 'u') {
            *o++ = "\"\\/\b\f\n\r\t"[esc - "\"\\/bfnrtu"];
            p += 2;
            continue;
        }
        uint32_t cp = json_hex4(p + 2);
        p += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            FUZZ_ASSERT(p[0] == '\\' && p[1] == 'u');
            uint32_t lo = json_hex4(p + 2);
            FUZZ_ASSERT(lo >= 0xDC00 && lo <= 0xDFFF);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            p += 6;
        }
        FUZZ_ASSERT(!(cp >= 0xD800 && cp <= 0xDFFF) && cp != 0);
        o += put_utf8(o, cp);
    }
    *o = '\0';
    r->p = p + 1;
    if (r->n_strings == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        char **s = alloc(cap * sizeof *s);
        if (r->n_strings)
            memcpy(s, r->strings, r->n_strings * sizeof *s);
        r->strings = s;
        r->cap = cap;
    }
    r->strings[r->n_strings++] = dup_str(r->scratch);
}

static void json_value(json_reader *r, int depth)
{
    FUZZ_ASSERT(depth < 32);
    json_ws(r);
    const char *p = r->p;
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        r->p++;
        json_ws(r);
        if (*r->p == close) {
            r->p++;
            return;
        }
        for (;;) {
            if (close == '}') {
                json_ws(r);
                json_string(r);
                json_ws(r);
                FUZZ_ASSERT(*r->p == ':');
                r->p++;
            }
            json_value(r, depth + 1);
            json_ws(r);
            if (*r->p == ',') {
                r->p++;
                continue;
            }
            FUZZ_ASSERT(*r->p == close);
            r->p++;
            return;
        }
    }
    if (*p == '"') {
        json_string(r);
        return;
    }
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < 3; i++) {
        if (strncmp(p, words[i], strlen(words[i])) == 0) {
            r->p += strlen(words[i]);
            return;
        }
    }
    if (*p == '-')
        p++;
    FUZZ_ASSERT(*p >= '0' && *p <= '9');
    p += *p == '0' ? 1 : strspn(p, "0123456789");
    if (*p == '.') {
        FUZZ_ASSERT(p[1] >= '0' && p[1] <= '9');
        p += 1 + strspn(p + 1, "0123456789");
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        p += *p == '+' || *p == '-';
        FUZZ_ASSERT(*p >= '0' && *p <= '9');
        p += strspn(p, "0123456789");
    }
    r->p = p;
}

static void check_json(const char *doc, size_t len, char *const *strings, size_t n)
{
    FUZZ_ASSERT(strlen(doc) == len);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = mb_utf8_next((const uint8_t *)doc + i, len - i, &cp);
        FUZZ_ASSERT(k > 0);
        i += k;
    }
    json_reader r = {.p = doc, .scratch = alloc(len + 1)};
    json_value(&r, 0);
    json_ws(&r);
    FUZZ_ASSERT(*r.p == '\0');
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < r.n_strings && strcmp(r.strings[k], strings[i]) != 0)
            k++;
        if (k == r.n_strings)
            fprintf(stderr, "JSON lacks the string \"%s\"\n", strings[i]);
        FUZZ_ASSERT(k < r.n_strings);
    }
}

/*
 * The invoice.
 */

static int64_t le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    if (n < 8 && (v >> (8 * n - 1)) != 0)
        v |= ~(uint64_t)0 << (8 * n); /* sign-extend */
    return (int64_t)v;
}

static Minbill__V1__Invoice *build(const uint8_t *h, char **s, size_t n)
{
    static const char *const currencies[] = {"EUR", "JPY", "KWD", "XXX"};
    Minbill__V1__Invoice *inv =
        new_invoice(s[S_NUMBER], "acc-fuzz", (enum buyer_kind)((h[0] >> 1) & 3),
                    (enum pay_kind)(((h[0] >> 3) & 3) % 3));
    inv->seller->name = s[S_SELLER];
    inv->buyer->name = s[S_BUYER];
    inv->buyer->address->line1 = s[S_LINE1];
    inv->buyer->address->line2 = s[S_LINE2];
    inv->buyer->address->city = s[S_CITY];
    inv->note = s[S_NOTE];
    char price[DECIMAL_FORMAT_SIZE];
    decimal_format_micros(le(h + 5, 4), price);
    for (size_t i = S_FIRST_LINE; i < n || i == S_FIRST_LINE; i++)
        add_line(inv, i < n ? s[i] : "", "messages.sms", le(h + 1, 4), price, NULL);
    finish(inv);
    inv->currency = (char *)currencies[(h[0] >> 5) & 3];
    inv->gross_total_minor = le(h + 9, 8);
    if (h[0] & 1) {
        inv = credit_note_of(inv, s[S_NUMBER]);
        inv->credit_note_reason = s[S_REASON];
    }
    return inv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 17)
        return 0;
    char *text = fuzz_text(data + 17, size - 17);
    if (text == NULL)
        return 0;
    mb_error err;
    if (seller == NULL && seller_config_load(MINBILL_DEV_SELLER_CONFIG, &seller, &err) != 0)
        fuzz_fail(__FILE__, __LINE__, err.msg);
    arena = mb_arena_new(0);
    FUZZ_ASSERT(arena != NULL);
    char *s[MAX_STRINGS];
    size_t n = 0;
    for (char *p = text; n < MAX_STRINGS; n++) {
        s[n] = p;
        p = strchr(p, '\n');
        if (p == NULL) {
            n++;
            break;
        }
        *p++ = '\0';
    }
    for (size_t i = n; i < S_FIRST_LINE; i++)
        s[i] = "";
    if (n < S_FIRST_LINE)
        n = S_FIRST_LINE;
    Minbill__V1__Invoice *inv = build(data, s, n);
    bool credit_note = (data[0] & 1) != 0;

    char *xml = NULL, *json = NULL;
    size_t xlen = 0, jlen = 0;
    if (ubl_render(arena, inv, &xml, &xlen, &err) == 0) {
        check_xml(xml, xlen);
        char *want = alloc(6 * size + 1);
        for (size_t i = 0; i < n; i++) {
            if (i == S_REASON && !credit_note)
                continue;
            xml_escaped(s[i], want);
            if (strstr(xml, want) == NULL)
                fprintf(stderr, "UBL lacks \"%s\"\n", want);
            FUZZ_ASSERT(strstr(xml, want) != NULL);
        }
    } else {
        FUZZ_ASSERT(xml == NULL);
        fuzz_assert_field_error(&err, NULL);
        FUZZ_ASSERT(strncmp(err.msg, "invoice.", 8) == 0);
        FUZZ_ASSERT(s[S_NUMBER][0] == '\0' || check_currency_minor_units(inv->currency) < 0);
    }
    FUZZ_ASSERT(invoice_json_render(arena, inv, &json, &jlen, &err) == 0);
    if (!credit_note)
        s[S_REASON] = ""; /* an invoice has no reason to show */
    check_json(json, jlen, s, n);
    mb_arena_free(arena);
    arena = NULL;
    free(text);
    return 0;
}

/*
 * json_out.c - see json_out.h.
 */
#include "base/json_out.h"

#include "base/utf8.h"

#include <inttypes.h>
#include <string.h>

int json_out_quote(FILE *f, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    fputc('"', f);
    while (i < len) {
        unsigned char c = p[i];
        const char *esc = NULL;
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        default:
            break;
        }
        if (esc != NULL) {
            fputs(esc, f);
            i++;
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
            i++;
        } else {
            uint32_t cp;
            size_t n = mb_utf8_next(p + i, len - i, &cp);
            if (n == 0) {
                /* One replacement per bad byte, then resynchronise on the
                 * next byte, as the WHATWG decoder does. */
                fputs("\\ufffd", f);
                i++;
            } else {
                fwrite(p + i, 1, n, f);
                i += n;
            }
        }
    }
    fputc('"', f);
    return ferror(f) ? -1 : 0;
}

void json_out_init(json_out *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
}

/* Called before every value: checks that a value may come here and writes
 * the comma that separates it from the previous array item. Returns false
 * (and marks the writer failed) on misuse. */
static bool before_value(json_out *j)
{
    if (j->failed)
        return false;
    if (j->is_object[j->depth]) {
        if (!j->key_pending)
            goto misuse;
        j->key_pending = false;
        return true;
    }
    if (j->has_items[j->depth]) {
        if (j->depth == 0)
            goto misuse; /* a document has one top-level value */
        fputc(',', j->f);
    }
    j->has_items[j->depth] = true;
    return true;
misuse:
    j->failed = true;
    return false;
}

static void begin(json_out *j, bool object)
{
    if (!before_value(j))
        return;
    if (j->depth == JSON_OUT_MAX_DEPTH) {
        j->failed = true;
        return;
    }
    j->depth++;
    j->is_object[j->depth] = object;
    j->has_items[j->depth] = false;
    fputc(object ? '{' : '[', j->f);
}

static void end(json_out *j, bool object)
{
    if (j->failed)
        return;
    if (j->depth == 0 || j->is_object[j->depth] != object || j->key_pending) {
        j->failed = true;
        return;
    }
    j->depth--;
    fputc(object ? '}' : ']', j->f);
}

void json_out_object_begin(json_out *j)
{
    begin(j, true);
}

void json_out_object_end(json_out *j)
{
    end(j, true);
}

void json_out_array_begin(json_out *j)
{
    begin(j, false);
}

void json_out_array_end(json_out *j)
{
    end(j, false);
}

void json_out_key(json_out *j, const char *key)
{
    if (j->failed)
        return;
    if (!j->is_object[j->depth] || j->key_pending || key == NULL) {
        j->failed = true;
        return;
    }
    if (j->has_items[j->depth])
        fputc(',', j->f);
    j->has_items[j->depth] = true;
    json_out_quote(j->f, key, strlen(key));
    fputc(':', j->f);
    j->key_pending = true;
}

void json_out_string(json_out *j, const char *s)
{
    if (s == NULL) {
        json_out_null(j);
        return;
    }
    if (before_value(j))
        json_out_quote(j->f, s, strlen(s));
}

void json_out_int(json_out *j, int64_t v)
{
    if (before_value(j))
        fprintf(j->f, "%" PRId64, v);
}

void json_out_bool(json_out *j, bool v)
{
    if (before_value(j))
        fputs(v ? "true" : "false", j->f);
}

void json_out_null(json_out *j)
{
    if (before_value(j))
        fputs("null", j->f);
}

int json_out_finish(json_out *j)
{
    if (j->failed || j->depth != 0 || !j->has_items[0])
        return -1;
    fputc('\n', j->f);
    if (fflush(j->f) != 0 || ferror(j->f))
        return -1;
    return 0;
}

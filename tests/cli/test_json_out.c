/* test_json_out.c - client/json_out: string escaping, UTF-8 handling, structure, misuse. */
#include <stdint.h>

#include "check.h"
#include "base/json_out.h"

/* Runs json_out_quote on s[0..len) and compares with want. */
static void check_quote(const char *s, size_t len, const char *want)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    CHECK(f != NULL);
    if (f == NULL)
        return;
    CHECK(json_out_quote(f, s, len) == 0);
    fclose(f);
    if (strcmp(buf, want) != 0) {
        check_failed++;
        fprintf(stderr, "FAILED: quote gave %s, want %s\n", buf, want);
    } else {
        check_passed++;
    }
    free(buf);
}

#define QUOTE(lit, want) check_quote(lit, sizeof lit - 1, want)

static void test_escapes(void)
{
    QUOTE("", "\"\"");
    QUOTE("plain text", "\"plain text\"");
    QUOTE("say \"hi\"", "\"say \\\"hi\\\"\"");
    QUOTE("C:\\dir", "\"C:\\\\dir\"");
    QUOTE("a/b", "\"a/b\""); /* '/' needs no escape */
    QUOTE("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
    QUOTE("\x01\x1f", "\"\\u0001\\u001f\"");
    QUOTE("\x1b[31m", "\"\\u001b[31m\""); /* a terminal escape stays inert */
    QUOTE("nul\0inside", "\"nul\\u0000inside\"");
    QUOTE("\x7f", "\"\x7f\""); /* DEL is legal in JSON strings */
}

static void test_utf8_passthrough(void)
{
    QUOTE("Müller GmbH", "\"Müller GmbH\"");
    QUOTE("€ 12,50", "\"€ 12,50\"");
    QUOTE("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""); /* U+1F600, four bytes */
    QUOTE("\xe2\x80\xa8", "\"\xe2\x80\xa8\"");         /* U+2028 is valid JSON */
    QUOTE("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""); /* U+10FFFF, the last code point */
    QUOTE("\xed\x9f\xbf", "\"\xed\x9f\xbf\"");         /* U+D7FF, just below surrogates */
}

static void test_invalid_utf8(void)
{
    QUOTE("\xff", "\"\\ufffd\"");
    QUOTE("a\x80z", "\"a\\ufffdz\"");                              /* lone continuation byte */
    QUOTE("\xc3", "\"\\ufffd\"");                                  /* truncated at the end */
    QUOTE("\xc3z", "\"\\ufffdz\"");                                /* truncated mid-string */
    QUOTE("\xc0\x80", "\"\\ufffd\\ufffd\"");                       /* overlong NUL */
    QUOTE("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");            /* overlong '/' */
    QUOTE("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");            /* surrogate U+D800 */
    QUOTE("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* above U+10FFFF */
    QUOTE("\xf5\x80", "\"\\ufffd\\ufffd\"");
    QUOTE("\xe2\x82", "\"\\ufffd\\ufffd\"");   /* '€' cut short */
    QUOTE("\xe2\x82\xac\xe2", "\"€\\ufffd\""); /* valid, then cut */
}

/* Writes with the writer into a memory stream; returns the text (caller frees)
 * and the json_out_finish result in *rc. */
typedef void (*writer_fn)(json_out *j);

static char *render(writer_fn fn, int *rc)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (f == NULL)
        return NULL;
    json_out j;
    json_out_init(&j, f);
    fn(&j);
    *rc = json_out_finish(&j);
    fclose(f);
    return buf;
}

static void check_render(writer_fn fn, int want_rc, const char *want)
{
    int rc = -2;
    char *out = render(fn, &rc);
    CHECK(out != NULL);
    CHECK(rc == want_rc);
    if (want != NULL && out != NULL && strcmp(out, want) != 0) {
        check_failed++;
        fprintf(stderr, "FAILED: rendered %s, want %s", out, want);
    } else if (want != NULL) {
        check_passed++;
    }
    free(out);
}

static void w_nested(json_out *j)
{
    json_out_object_begin(j);
    json_out_key(j, "status");
    json_out_string(j, "SERVING");
    json_out_key(j, "count");
    json_out_int(j, INT64_MIN);
    json_out_key(j, "max");
    json_out_int(j, INT64_MAX);
    json_out_key(j, "items");
    json_out_array_begin(j);
    json_out_bool(j, true);
    json_out_bool(j, false);
    json_out_null(j);
    json_out_string(j, NULL);
    json_out_object_begin(j);
    json_out_object_end(j);
    json_out_array_begin(j);
    json_out_array_end(j);
    json_out_array_end(j);
    json_out_key(j, "k\"ey");
    json_out_string(j, "v\n");
    json_out_object_end(j);
}

static void w_scalar(json_out *j)
{
    json_out_string(j, "just a string");
}

static void w_empty(json_out *j) {}

static void w_value_without_key(json_out *j)
{
    json_out_object_begin(j);
    json_out_string(j, "no key");
    json_out_object_end(j);
}

static void w_key_in_array(json_out *j)
{
    json_out_array_begin(j);
    json_out_key(j, "k");
    json_out_array_end(j);
}

static void w_key_without_value(json_out *j)
{
    json_out_object_begin(j);
    json_out_key(j, "k");
    json_out_object_end(j);
}

static void w_unclosed(json_out *j)
{
    json_out_array_begin(j);
}

static void w_wrong_end(json_out *j)
{
    json_out_array_begin(j);
    json_out_object_end(j);
}

static void w_two_top_level(json_out *j)
{
    json_out_int(j, 1);
    json_out_int(j, 2);
}

static void w_too_deep(json_out *j)
{
    for (int i = 0; i <= JSON_OUT_MAX_DEPTH; i++)
        json_out_array_begin(j);
    for (int i = 0; i <= JSON_OUT_MAX_DEPTH; i++)
        json_out_array_end(j);
}

static void w_max_depth(json_out *j)
{
    for (int i = 0; i < JSON_OUT_MAX_DEPTH; i++)
        json_out_array_begin(j);
    for (int i = 0; i < JSON_OUT_MAX_DEPTH; i++)
        json_out_array_end(j);
}

static void test_structure(void)
{
    check_render(w_nested, 0,
                 "{\"status\":\"SERVING\",\"count\":-9223372036854775808,"
                 "\"max\":9223372036854775807,\"items\":[true,false,null,null,{},[]],"
                 "\"k\\\"ey\":\"v\\n\"}\n");
    check_render(w_scalar, 0, "\"just a string\"\n");
    check_render(w_max_depth, 0, "[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]\n");
}

static void test_misuse(void)
{
    check_render(w_empty, -1, NULL);
    check_render(w_value_without_key, -1, NULL);
    check_render(w_key_in_array, -1, NULL);
    check_render(w_key_without_value, -1, NULL);
    check_render(w_unclosed, -1, NULL);
    check_render(w_wrong_end, -1, NULL);
    check_render(w_two_top_level, -1, NULL);
    check_render(w_too_deep, -1, NULL);
}

static void test_write_error(void)
{
    FILE *f = fopen("/dev/full", "w");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    json_out j;
    json_out_init(&j, f);
    json_out_string(&j, "does not fit");
    CHECK(json_out_finish(&j) == -1);
    fclose(f);
}

int main(void)
{
    RUN(test_escapes);
    RUN(test_utf8_passthrough);
    RUN(test_invalid_utf8);
    RUN(test_structure);
    RUN(test_misuse);
    RUN(test_write_error);
    return check_summary();
}

/* test_mask.c - masks show a fixed share of a value at most (issue 10,
 * defect 19): short values are starred, not shown almost whole. */
#include <string.h>

#include "check.h"
#include "crypto/mask.h"

/* Characters of value (not '*', '@', '.', ' ', '+') that the mask shows. */
static size_t shown(const char *mask)
{
    size_t n = 0;
    for (const char *p = mask; *p != '\0'; p++)
        n += strchr("*@. +", *p) == NULL;
    return n;
}

static void test_email(void)
{
    static const struct {
        const char *email, *want;
    } cases[] = {
        {"jane.doe@example.de", "j***@e***.de"},
        {"jane.doe@autohaus-example.de", "j***@a***.de"},
        {"a@b.de", "***@***"},
        {"ab@cd.com", "***@***"},
        {"jo@example.com", "***@***.com"},
        {"abc@defg.hi", "***@***.hi"},
        {"noat", "***"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mask_email(cases[i].email, out, sizeof out);
        CHECK(strcmp(out, cases[i].want) == 0);
        CHECK(shown(out) * 4 <= strlen(cases[i].email));
        if (strcmp(out, cases[i].want) != 0)
            fprintf(stderr, "   %s -> %s\n", cases[i].email, out);
    }
}

static void test_phone(void)
{
    static const struct {
        const char *phone, *want;
    } cases[] = {
        {"+4915112345667", "+49 *** *** 67"},
        {"+493012345678", "+49 *** *** 78"},
        {"+12345678", "+** *** *** 78"},
        {"+4930123456", "+** *** *** 56"},
        {"+12345", "***"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mask_phone(cases[i].phone, out, sizeof out);
        CHECK(strcmp(out, cases[i].want) == 0);
        /* At most a third of the digits. */
        CHECK(shown(out) * 3 <= strlen(cases[i].phone) - 1);
        if (strcmp(out, cases[i].want) != 0)
            fprintf(stderr, "   %s -> %s\n", cases[i].phone, out);
    }
}

static void test_name(void)
{
    static const struct {
        const char *name, *want;
    } cases[] = {
        {"Jane Mary Doe", "J. M. D."},
        {"Jane Doe", "J. D."},
        {"Al Bo", "A. *."},
        {"Jo", "*."},
        {"\xc3\x9crsula M\xc3\xbcller", "\xc3\x9c. M."},
    };
    char out[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mask_name(cases[i].name, out, sizeof out);
        CHECK(strcmp(out, cases[i].want) == 0);
        if (strcmp(out, cases[i].want) != 0)
            fprintf(stderr, "   %s -> %s\n", cases[i].name, out);
    }
}

int main(void)
{
    RUN(test_email);
    RUN(test_phone);
    RUN(test_name);
    return check_summary();
}

/*
 * test_source_numbers.c - the daemon's and the client tool's code (every .c
 * and .h under service/ and client/) holds no card number and no IBAN, not
 * even a public test one: examples live with the tests and the dev setup
 * (dev/seller.conf). The detector is the one minbill applies to stored text,
 * check_no_personal_data(), over each piece of a line between characters
 * that cannot be part of such a number (quotes, '=', ',', ...), from every
 * word that starts it, so a phone number or an e-mail address before a card
 * number cannot hide it.
 *
 * Usage: source_numbers SOURCE_DIR (CTest passes the repository root).
 */
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/check.h"
#include "check.h"

static int files;

/* Letters, digits, the separators a card number or an IBAN is written
 * with, and the '+' that makes a run of digits a phone number. */
static bool in_number(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == ' ' ||
           c == '-' || c == '.' || c == '+';
}

static bool is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* The rule check_no_personal_data() names for piece[0..], or NULL. */
static const char *payment_number_in(const char *piece)
{
    mb_error err;
    if (check_no_personal_data("s", piece, &err) == 0)
        return NULL;
    if (strstr(err.msg, "IBAN") != NULL)
        return "an IBAN";
    if (strstr(err.msg, "card number") != NULL)
        return "a card number";
    return NULL;
}

/* What a piece of line holds from any word start: "an IBAN", "a card
 * number" or NULL. */
static const char *line_has_number(const char *line)
{
    char piece[512];
    size_t n = 0;
    for (const char *p = line;; p++) {
        if (*p != '\0' && in_number(*p) && n + 1 < sizeof piece) {
            piece[n++] = *p;
            continue;
        }
        piece[n] = '\0';
        /* Word starts: the piece's start, and a letter or digit after a
         * space that follows a letter (never inside a run of digits). */
        for (size_t i = 0; i < n; i++) {
            bool start = i == 0 || (piece[i - 1] == ' ' && i >= 2 && is_alnum(piece[i]) &&
                                    !(piece[i - 2] >= '0' && piece[i - 2] <= '9'));
            const char *found = start ? payment_number_in(piece + i) : NULL;
            if (found != NULL)
                return found;
        }
        n = 0;
        if (*p == '\0')
            return NULL;
    }
}

static int scan(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    size_t len = strlen(path);
    if (type != FTW_F || len < 2 || path[len - 2] != '.' ||
        (path[len - 1] != 'c' && path[len - 1] != 'h'))
        return 0;
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (f == NULL)
        return 0;
    files++;
    char line[4096];
    for (int no = 1; fgets(line, sizeof line, f) != NULL; no++) {
        const char *found = line_has_number(line);
        if (found != NULL) {
            check_failed++;
            /* The number itself is not repeated: the place is enough. */
            fprintf(stderr, "%s:%d: holds %s\n", path, no, found);
        }
    }
    fclose(f);
    return 0;
}

static void test_detector(void)
{
    CHECK(line_has_number("    \"bank.iban = NL91ABNA0417164300\\n\"") != NULL);
    CHECK(line_has_number("{\"4111 1111 1111 1111\", \"visa\"},") != NULL);
    CHECK(line_has_number("/* mail a@b.example or +49 151 1234567, then 4242424242424242 */") !=
          NULL);
    CHECK(line_has_number("phone +49 30 1234567 and iban DE89 3704 0044 0532 0130 00") != NULL);
    CHECK(line_has_number("#define INGEST_MAX_QUANTITY 1000000000000LL /* 10^12 */") == NULL);
    CHECK(line_has_number("    \"+49 30 1234567\", 14200, 380},") == NULL);
    CHECK(line_has_number("\"vat_id = NL123456782B01\"") == NULL);
    CHECK(line_has_number(
              " * (CHECK_PHONE_SIZE bytes) receives the E.164 form (\"+4915112345678\"). */") ==
          NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s SOURCE_DIR\n", argv[0]);
        return 2;
    }
    RUN(test_detector);
    const char *dirs[] = {"service", "client"};
    for (size_t i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], dirs[i]);
        CHECK(nftw(path, scan, 16, FTW_PHYS) == 0);
    }
    CHECK(files > 100);
    return check_summary();
}

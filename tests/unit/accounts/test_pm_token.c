/*
 * test_pm_token.c - payment-method tokens carry their row id, encrypted:
 * every id from 1 to INT64_MAX comes back out of the token it was bound
 * into, and binding leaves "pm_" and the nonce alone; the same id gives a
 * different token (and different id letters) every time; another database's
 * secret does not read the id, the same one after a restart does; to
 * outsiders every letter position, nonce and id alike, is uniform over the
 * 62 letters even for small sequential ids (api.md: a token is random);
 * letters that decode to 0 or past INT64_MAX read as no id; and
 * pm_token_check() refuses anything but "pm_" and 24 letters, naming the
 * field and never echoing the token.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "accounts/pm_token.h"
#include "check.h"
#include "crypto/keyring.h"
#include "expect_field.h"
#include "store/migrate.h"
#include "unit_db.h"
#include "unit_tmp.h"

#define NONCE_AT 3 /* "pm_" */
#define ID_AT 16   /* "pm_" + 13 nonce letters */
#define ID_LEN 11

static const char BASE62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* A keyring attached to a database of its own, as minbilld holds one. */
typedef struct fixture {
    keyring_t *kr;
    store_conn_t *conn;
} fixture;

/* Loads key_name (creating it if asked) and attaches it to db_name, which
 * is created and migrated on first use. Exits on failure: every test below
 * needs the secret. */
static fixture fixture_open(const char *key_name, bool create_key, const char *db_name)
{
    char kpath[512], dbpath[512];
    mb_error err;
    fixture f = {NULL, NULL};
    unit_path(kpath, sizeof kpath, key_name);
    unit_path(dbpath, sizeof dbpath, db_name);
    if (create_key && keyring_file_create(kpath, &err) != 0)
        goto fail;
    if (keyring_load(kpath, &f.kr, &err) != 0)
        goto fail;
    if (store_conn_open(dbpath, true, false, &f.conn, &err) != 0)
        goto fail;
    if (store_migrate(f.conn, NULL, &err) != 0 || unit_keyring_attach(f.kr, f.conn, &err) != 0)
        goto fail;
    return f;
fail:
    fprintf(stderr, "fixture %s with %s: %s\n", key_name, db_name, err.msg);
    exit(1);
}

static void fixture_close(fixture *f)
{
    keyring_free(f->kr);
    store_conn_close(f->conn);
}

static int64_t random_id(void)
{
    uint64_t v;
    randombytes_buf(&v, sizeof v);
    v &= (uint64_t)INT64_MAX;
    return v == 0 ? 1 : (int64_t)v;
}

/* Uniform ids are almost all above 2^55; this one picks the bit length
 * first, so short ids (few non-zero base62 digits) are tried as often. */
static int64_t random_short_id(void)
{
    int bits = 1 + (int)randombytes_uniform(63);
    uint64_t v = (uint64_t)random_id() >> (63 - bits);
    return v == 0 ? 1 : (int64_t)v;
}

/* The base62 digits of v, most significant first, in ID_LEN letters. */
static void digits_of(uint64_t v, int d[ID_LEN])
{
    for (int i = ID_LEN - 1; i >= 0; i--) {
        d[i] = (int)(v % 62);
        v /= 62;
    }
}

static int letter_index(char c)
{
    const char *p = strchr(BASE62, c);
    return c != '\0' && p != NULL ? (int)(p - BASE62) : -1;
}

/* new + bind, and the checks every bound token must pass; false (with a
 * line on stderr) on the first that does not. */
static bool round_trip(const keyring_t *kr, int64_t id, char token[PM_TOKEN_LEN + 1])
{
    char fresh[PM_TOKEN_LEN + 1];
    mb_error err;
    pm_token_new(token);
    memcpy(fresh, token, sizeof fresh);
    pm_token_bind(kr, id, token);
    const char *why = NULL;
    if (strlen(token) != PM_TOKEN_LEN)
        why = "length changed";
    else if (memcmp(token, fresh, ID_AT) != 0)
        why = "bind changed pm_ or the nonce";
    else if (pm_token_check("token", token, &err) != 0)
        why = "bound token fails pm_token_check";
    else if (pm_token_id(kr, token) != id)
        why = "pm_token_id does not give the id back";
    if (why != NULL)
        fprintf(stderr, "   id %lld, token %s: %s (read %lld)\n", (long long)id, token, why,
                (long long)pm_token_id(kr, token));
    return why == NULL;
}

static void test_round_trip(void)
{
    fixture f = fixture_open("a.key", true, "a.db");
    /* Where a base62 digit is added (62, 62^2 = 3844, 62^3 = 238328), powers
     * of two, and the top. */
    /* clang-format off */
    static const int64_t edges[] = {
        1, 2, 61, 62, 63, 3843, 3844, 238327, 238328,
        (int64_t)1 << 40, ((int64_t)1 << 62) - 1, (int64_t)1 << 62,
        INT64_MAX - 1, INT64_MAX,
    };
    /* clang-format on */
    char token[PM_TOKEN_LEN + 1];
    int bad = 0;
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        bad += !round_trip(f.kr, edges[i], token);
    CHECK(bad == 0);
    bad = 0;
    for (int i = 0; i < 3000; i++) {
        bad += !round_trip(f.kr, random_id(), token);
        bad += !round_trip(f.kr, random_short_id(), token);
        if (bad > 5)
            break;
    }
    CHECK(bad == 0);
    /* Sequential ids, as the writer hands them out. */
    bad = 0;
    for (int64_t id = 1; id <= 5000 && bad <= 5; id++)
        bad += !round_trip(f.kr, id, token);
    CHECK(bad == 0);
    fixture_close(&f);
}

static int cmp_nonce(const void *a, const void *b)
{
    return memcmp((const char *)a + NONCE_AT, (const char *)b + NONCE_AT, ID_AT - NONCE_AT);
}

static int cmp_id_letters(const void *a, const void *b)
{
    return memcmp((const char *)a + ID_AT, (const char *)b + ID_AT, ID_LEN);
}

static void test_same_id_fresh_tokens(void)
{
    enum { N = 2000 };
    fixture f = fixture_open("b.key", true, "b.db");
    static char tokens[N][PM_TOKEN_LEN + 1];
    int plain = 0, last_is_1 = 0, bad = 0;
    for (int i = 0; i < N; i++) {
        bad += !round_trip(f.kr, 1, tokens[i]);
        plain += memcmp(tokens[i] + ID_AT, "00000000001", ID_LEN) == 0;
        last_is_1 += tokens[i][PM_TOKEN_LEN - 1] == '1';
    }
    CHECK(bad == 0);
    /* Not the id's own digits: a clear id would be "00000000001" every
     * time; an encrypted one is, once in 62^11. Its last letter is '1' about
     * once in 62 (N/62 = 32). */
    CHECK(plain == 0);
    CHECK(last_is_1 < N / 10);
    /* Every nonce, and every token's id letters, differ from every other's:
     * the keystream follows the nonce. Sorted, equal ones would be
     * neighbours. */
    qsort(tokens, N, sizeof tokens[0], cmp_nonce);
    int same_nonce = 0;
    for (int i = 1; i < N; i++)
        same_nonce += cmp_nonce(tokens[i - 1], tokens[i]) == 0;
    CHECK(same_nonce == 0);
    qsort(tokens, N, sizeof tokens[0], cmp_id_letters);
    int same_letters = 0;
    for (int i = 1; i < N; i++)
        same_letters += cmp_id_letters(tokens[i - 1], tokens[i]) == 0;
    CHECK(same_letters == 0);
    fixture_close(&f);
}

static void test_other_secret(void)
{
    enum { N = 400 };
    fixture a = fixture_open("c.key", true, "c.db");
    /* Another key file with another database; and the same key file with
     * another database, which gets service secrets of its own. */
    fixture other = fixture_open("d.key", true, "d.db");
    fixture same_key = fixture_open("c.key", false, "c2.db");
    char token[PM_TOKEN_LEN + 1];
    int bad = 0, other_reads = 0, same_key_reads = 0;
    for (int i = 0; i < N; i++) {
        int64_t id = i < N / 2 ? i + 1 : random_id();
        bad += !round_trip(a.kr, id, token);
        other_reads += pm_token_id(other.kr, token) == id;
        same_key_reads += pm_token_id(same_key.kr, token) == id;
    }
    CHECK(bad == 0);
    CHECK(other_reads == 0);
    CHECK(same_key_reads == 0);
    fixture_close(&other);
    fixture_close(&same_key);

    /* A restart (the key file loaded again, the same database) reads every
     * token issued before it. */
    char kept[50][PM_TOKEN_LEN + 1];
    int64_t ids[50];
    for (int i = 0; i < 50; i++) {
        ids[i] = random_short_id();
        bad += !round_trip(a.kr, ids[i], kept[i]);
    }
    fixture_close(&a);
    fixture again = fixture_open("c.key", false, "c.db");
    int reread = 0;
    for (int i = 0; i < 50; i++)
        reread += pm_token_id(again.kr, kept[i]) == ids[i];
    CHECK(bad == 0);
    CHECK(reread == 50);
    fixture_close(&again);
}

/* Pearson's chi-square of counts against a uniform spread over 62 letters;
 * 61 degrees of freedom: mean 61, standard deviation 11. */
static double chi_square(const int counts[62], int n)
{
    double expected = n / 62.0, x = 0;
    for (int i = 0; i < 62; i++)
        x += (counts[i] - expected) * (counts[i] - expected) / expected;
    return x;
}

static void test_letters_uniform(void)
{
    enum { N = 20000, LETTERS = PM_TOKEN_LEN - NONCE_AT };
    fixture f = fixture_open("e.key", true, "e.db");
    static int counts[LETTERS][62];
    char token[PM_TOKEN_LEN + 1];
    int bad = 0;
    for (int64_t id = 1; id <= N; id++) {
        bad += !round_trip(f.kr, id, token);
        for (int p = 0; p < LETTERS; p++) {
            int v = letter_index(token[NONCE_AT + p]);
            if (v >= 0)
                counts[p][v]++;
        }
    }
    CHECK(bad == 0);
    /* Ids 1..20000 have at most three base62 digits: in clear, the first
     * eight id letters would all be '0' and the ninth one of '0'..'5'.
     * Encrypted, each is as uniform as the nonce. 150 is eight standard
     * deviations above the mean. */
    for (int p = 0; p < LETTERS; p++) {
        int unused = 0;
        for (int v = 0; v < 62; v++)
            unused += counts[p][v] == 0;
        double x = chi_square(counts[p], N);
        if (unused != 0 || x >= 150)
            fprintf(stderr, "   %s letter %d: %d letters unused, chi-square %.1f\n",
                    p < ID_AT - NONCE_AT ? "nonce" : "id", p, unused, x);
        CHECK(unused == 0);
        CHECK(x < 150);
    }
    fixture_close(&f);
}

/* token with its id letters moved from the digits of `from` (which it
 * carries) to those of `to`: the id letters are digit + keystream mod 62,
 * so the shift is known without the keystream. to may be any value below
 * 62^11, including ones no int64_t holds. */
static void shift_id(char token[PM_TOKEN_LEN + 1], uint64_t from, uint64_t to)
{
    int a[ID_LEN], b[ID_LEN];
    digits_of(from, a);
    digits_of(to, b);
    for (int i = 0; i < ID_LEN; i++) {
        int v = letter_index(token[ID_AT + i]);
        token[ID_AT + i] = BASE62[(v - a[i] + b[i] + 2 * 62) % 62];
    }
}

static void test_undecodable(void)
{
    fixture f = fixture_open("g.key", true, "g.db");
    char token[PM_TOKEN_LEN + 1], t[PM_TOKEN_LEN + 1];
    mb_error err;

    /* Fully random tokens (as issued before migration 0006): most letter
     * strings lie above INT64_MAX (62^11 is 5.7 times 2^63), so about 82%
     * read as no id and 18% as some id; whichever, never anything else. */
    int first_none = -1, first_some = -1;
    for (int i = 0; i < 100 && (first_none < 0 || first_some < 0); i++) {
        pm_token_new(token);
        int64_t id = pm_token_id(f.kr, token);
        if (id == -1 && first_none < 0)
            first_none = i;
        if (id > 0 && first_some < 0)
            first_some = i;
    }
    CHECK(first_none >= 0);
    CHECK(first_some >= 0);
    int none = 0, odd = 0, unchecked = 0;
    for (int i = 0; i < 10000; i++) {
        pm_token_new(token);
        unchecked += pm_token_check("token", token, &err) != 0;
        int64_t id = pm_token_id(f.kr, token);
        none += id == -1;
        odd += id != -1 && id < 1;
    }
    CHECK(unchecked == 0);
    CHECK(odd == 0);
    /* 1 - 2^63 / 62^11 = 0.8226; sd over 10000 is 0.4%. */
    CHECK(none > 7900 && none < 8550);

    /* The exact edges, from a token bound to INT64_MAX. */
    CHECK(round_trip(f.kr, INT64_MAX, token));
    memcpy(t, token, sizeof t);
    shift_id(t, INT64_MAX, (uint64_t)INT64_MAX + 1);
    CHECK(memcmp(t, token, ID_AT) == 0 && strcmp(t, token) != 0);
    CHECK(pm_token_id(f.kr, t) == -1);
    memcpy(t, token, sizeof t);
    shift_id(t, INT64_MAX, UINT64_MAX);
    CHECK(pm_token_id(f.kr, t) == -1);
    /* 62^11 - 1: all digits 61, the largest the letters can carry. */
    memcpy(t, token, sizeof t);
    int a[ID_LEN];
    digits_of(INT64_MAX, a);
    for (int i = 0; i < ID_LEN; i++)
        t[ID_AT + i] = BASE62[(letter_index(t[ID_AT + i]) - a[i] + 61 + 62) % 62];
    CHECK(pm_token_id(f.kr, t) == -1);
    /* Zero is no row id. */
    memcpy(t, token, sizeof t);
    shift_id(t, INT64_MAX, 0);
    CHECK(pm_token_id(f.kr, t) == -1);
    /* And the shift itself is right: down to 1, and to INT64_MAX - 1. */
    memcpy(t, token, sizeof t);
    shift_id(t, INT64_MAX, 1);
    CHECK(pm_token_id(f.kr, t) == 1);
    memcpy(t, token, sizeof t);
    shift_id(t, INT64_MAX, INT64_MAX - 1);
    CHECK(pm_token_id(f.kr, t) == INT64_MAX - 1);
    fixture_close(&f);
}

/* Does msg carry any four consecutive characters of the token? */
static bool echoes_token(const char *msg, const char *token)
{
    size_t n = strlen(token);
    for (size_t i = 0; i + 4 <= n; i++) {
        char run[5] = {token[i], token[i + 1], token[i + 2], token[i + 3], '\0'};
        if (strstr(msg, run) != NULL)
            return true;
    }
    return false;
}

static void expect_token(const char *field, const char *token, bool ok)
{
    mb_error err;
    memset(&err, 0, sizeof err);
    int rc = pm_token_check(field, token, &err);
    expect_field(rc, &err, field, token, ok ? NULL : "payment method token", echoes_token);
}

static void test_check(void)
{
    /* The echo guard must bite, or the checks below prove nothing. */
    CHECK(echoes_token("token: pm_Zq3Xv9 is wrong", "pm_Zq3Xv9Lk2Rt7Wb4Yn8Hc5Jd1"));
    CHECK(!echoes_token("token: must be a payment method token", "pm_Zq3Xv9Lk2Rt7Wb4Yn8Hc5Jd1"));

    const char *good = "pm_Zq3Xv9Lk2Rt7Wb4Yn8Hc5Jd1";
    CHECK(strlen(good) == PM_TOKEN_LEN);
    expect_token("token", good, true);
    expect_token("token", "pm_000000000000000000000000", true);
    expect_token("token", "pm_zzzzzzzzzzzzzzzzzzzzzzzz", true);

    /* len: what each was built to be, so a typo here cannot turn a wrong
     * letter into a wrong length. */
    static const struct {
        const char *field, *token;
        size_t len;
    } bad[] = {
        {"token", "", 0},
        {"token", "pm_", 3},
        {"token", "px_Zq3Xv9Lk2Rt7Wb4Yn8Hc5Jd1", 27},          /* wrong prefix */
        {"token", "PM_Zq3Xv9Lk2Rt7Wb4Yn8Hc5Jd1", 27},          /* upper-case prefix */
        {"token", "pm-Zq3Xv9Lk2Rt7Wb4Yn8Hc5Jd1", 27},          /* '-' for '_' */
        {"token", "cus_q3Xv9Lk2Rt7Wb4Yn8Hc5Jd1", 27},          /* another kind of id */
        {"token", "pm_Zq3Xv9Lk2Rt7Wb4Yn8Hc5Jd", 26},           /* one letter short */
        {"token", "pm_Zq3Xv9Lk2Rt7Wb4Yn8Hc5Jd1x", 28},         /* one letter more */
        {"token", "pm_Zq3Xv9Lk2Rt7Wb4Yn8Hc5Jd1Zq3Xv9Lk2", 36}, /* far too long */
        {"token", "pm_Zq3Xv9L-2Rt7Wb4Yn8Hc5Jd1", 27},          /* '-' in the nonce */
        {"token", "pm_Zq3Xv9Lk2Rt7Wb4Yn8_c5Jd1", 27},          /* '_' in the id letters */
        {"token", "pm_Zq3Xv9Lk2Rt7Wb4Yn8Hc5Jd ", 27},          /* trailing space */
        {"token", " pm_Zq3Xv9Lk2Rt7Wb4Yn8Hc5Jd", 27},          /* leading space */
        {"token", "pm_Zq3Xv9Lk2Rt7\303\2514Yn8Hc5Jd1", 27}, /* e-acute (octal UTF-8), two bytes */
        {"token", "pm_Zq3Xv9Lk2Rt7Wb4Yn8Hc5Jd\377", 27},    /* not UTF-8 */
        {"token", "pm_Zq3Xv9Lk2Rt7Wb4Yn8Hc5J\1771", 27},    /* DEL */
        {"default_payment_method", "pm_Zq3Xv9Lk2Rt7Wb4Yn8Hc5Jd", 26},
        {"req.methods[2].token", "pm_Zq3Xv9Lk2Rt7Wb4Yn8Hc5Jd1x", 28},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(strlen(bad[i].token) == bad[i].len);
        expect_token(bad[i].field, bad[i].token, false);
    }
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    RUN(test_round_trip);
    RUN(test_same_id_fresh_tokens);
    RUN(test_other_secret);
    RUN(test_letters_uniform);
    RUN(test_undecodable);
    RUN(test_check);
    return check_summary();
}

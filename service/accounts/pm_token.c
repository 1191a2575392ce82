/*
 * pm_token.c - see pm_token.h.
 */
#include "accounts/pm_token.h"

#include <stdbool.h>
#include <string.h>

#include <sodium.h>

#include "crypto/rng.h"

#define PREFIX 3     /* "pm_" */
#define NONCE_LEN 13 /* random letters */
#define ID_LEN 11    /* 62^11 > 2^63: every id fits */
#define ID_AT (PREFIX + NONCE_LEN)

static const char BASE62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int letter_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 36;
    return -1;
}

/* Uniform letters from uniform bytes: a byte below 248 = 4 * 62 picks
 * b % 62 with every letter equally likely; the 8 values above are rejected
 * so that none is favoured. Returns how many letters were made. */
static size_t letters_from(const unsigned char *b, size_t nb, int *out, size_t want)
{
    size_t n = 0;
    for (size_t i = 0; i < nb && n < want; i++)
        if (b[i] < 248)
            out[n++] = b[i] % 62;
    return n;
}

void pm_token_new(char out[PM_TOKEN_LEN + 1])
{
    /* One draw for the whole token, not one per letter; 32 bytes fall
     * short of 24 letters about once in 2.5 million tokens. */
    unsigned char r[32];
    int v[PM_TOKEN_LEN - PREFIX];
    size_t n = 0;
    while (n < sizeof v / sizeof v[0]) {
        rng_fill(r, sizeof r);
        n += letters_from(r, sizeof r, v + n, sizeof v / sizeof v[0] - n);
    }
    memcpy(out, "pm_", PREFIX);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        out[PREFIX + i] = BASE62[v[i]];
    out[PM_TOKEN_LEN] = '\0';
}

/* The 11 keystream letters of a token's nonce. 64 bytes of keyed BLAKE2b
 * give 11 letters unless more than 53 bytes are rejected, which does not
 * happen in practice; a block counter keeps it exact if it ever did. */
static void keystream(const keyring_t *kr, const char *token, int ks[ID_LEN])
{
    unsigned char in[PREFIX + NONCE_LEN + 1], block[64];
    memcpy(in, token, PREFIX + NONCE_LEN);
    size_t n = 0;
    for (unsigned char counter = 0; n < ID_LEN; counter++) {
        in[PREFIX + NONCE_LEN] = counter;
        keyring_mac(kr, KEYRING_SECRET_TOKEN, in, sizeof in, block, sizeof block);
        n += letters_from(block, sizeof block, ks + n, ID_LEN - n);
    }
    sodium_memzero(block, sizeof block);
}

void pm_token_bind(const keyring_t *kr, int64_t id, char token[PM_TOKEN_LEN + 1])
{
    int ks[ID_LEN];
    keystream(kr, token, ks);
    uint64_t v = (uint64_t)id;
    for (int i = ID_LEN - 1; i >= 0; i--) {
        token[ID_AT + i] = BASE62[(int)((v % 62 + (uint64_t)ks[i]) % 62)];
        v /= 62;
    }
    sodium_memzero(ks, sizeof ks); /* it is what hides the id */
}

int64_t pm_token_id(const keyring_t *kr, const char *token)
{
    int ks[ID_LEN];
    keystream(kr, token, ks);
    uint64_t v = 0;
    bool fits = true;
    for (int i = 0; i < ID_LEN && fits; i++) {
        int d = (letter_value(token[ID_AT + i]) - ks[i] + 62) % 62;
        fits = v <= ((uint64_t)INT64_MAX - (uint64_t)d) / 62;
        v = v * 62 + (uint64_t)d;
    }
    sodium_memzero(ks, sizeof ks);
    return !fits || v == 0 ? -1 : (int64_t)v;
}

int pm_token_check(const char *field, const char *token, mb_error *err)
{
    bool ok = strlen(token) == PM_TOKEN_LEN && memcmp(token, "pm_", PREFIX) == 0;
    for (size_t i = PREFIX; ok && i < PM_TOKEN_LEN; i++)
        ok = letter_value(token[i]) >= 0;
    if (!ok)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "%s: must be a payment method token (pm_ and 24 letters or digits)",
                            field);
    return 0;
}

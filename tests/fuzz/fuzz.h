/*
 * fuzz.h - what every libFuzzer harness in tests/fuzz shares: turning the
 * fuzzer's bytes into the inputs a validator is promised (NUL-terminated,
 * valid UTF-8: the RPC layer guarantees that much), and the invariants that
 * hold for every validator (errors name the field, never echo the value).
 *
 * A broken invariant prints what broke and aborts, which libFuzzer reports
 * as a crash with the input saved; add that input to a unit test.
 */
#ifndef MB_FUZZ_H
#define MB_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond);                                                  \
    } while (0)

_Noreturn void fuzz_fail(const char *file, int line, const char *what);

/* A malloc'd NUL-terminated copy of data, or NULL if it holds a NUL or is
 * not valid UTF-8 (what the wire check lets through never does). */
char *fuzz_text(const uint8_t *data, size_t size);

/* Splits the input at its first '\n': *head a malloc'd copy of what is
 * before it, the rest as fuzz_text(). Both NULL (and nothing to free) if
 * either part is not acceptable text. */
void fuzz_split(const uint8_t *data, size_t size, char **head, char **rest);

/* err is a field error as check.h promises: INVALID_ARGUMENT and a message
 * starting with "<field>: " (field NULL: any field). */
void fuzz_assert_field_error(const mb_error *err, const char *field);

/* The message quotes no run of `n` letters and digits of value that holds a
 * digit (a piece of a PAN, IBAN, phone number or VAT id): rule texts only
 * ever carry their own short limits ("12 to 19 digits"). */
void fuzz_assert_no_echo(const char *msg, const char *value, size_t n);

/* Every run of digits in msg is one of the rule's own numbers (a
 * NULL-terminated list), so none can be a piece of the value. */
void fuzz_assert_digits_only(const char *msg, const char *const *allowed);

/* Same, for an e-mail address: no run of value without white space that
 * holds an '@' or a '.' between two letters or digits. */
void fuzz_assert_no_email(const char *msg, const char *value);

#endif

/*
 * fuzz_utf8.c - the UTF-8 decoder (base/utf8.c) and the wire check's string
 * rule built on it (rpc_utf8_valid).
 *
 * Invariants: a decoded sequence is exactly the shortest (RFC 3629)
 * encoding of its code point, which lies in U+0000..U+10FFFF outside the
 * surrogates; every such code point decodes back from its encoding; and
 * rpc_utf8_valid() agrees with walking the decoder.
 */
#include "fuzz.h"

#include <string.h>

#include "base/utf8.h"
#include "rpc/wirecheck.h"

/* The shortest encoding, written as a loop so that it shares nothing with
 * the decoder it checks. */
static size_t encode(uint32_t cp, uint8_t out[4])
{
    static const uint8_t lead[] = {0, 0, 0xc0, 0xe0, 0xf0};
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    for (size_t i = n - 1; i > 0; i--, cp >>= 6)
        out[i] = (uint8_t)(0x80 | (cp & 0x3f));
    out[0] = (uint8_t)(lead[n] | cp);
    return n;
}

static bool scalar(uint32_t cp)
{
    return cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool valid = true;
    for (size_t i = 0; i < size;) {
        uint32_t cp = 0xffffffff;
        size_t n = mb_utf8_next(data + i, size - i, &cp);
        if (n == 0) {
            valid = false;
            i++;
            continue;
        }
        uint8_t enc[4];
        FUZZ_ASSERT(n <= size - i && scalar(cp));
        FUZZ_ASSERT(encode(cp, enc) == n && memcmp(enc, data + i, n) == 0);
        valid &= cp != 0;
        i += n;
    }
    FUZZ_ASSERT(rpc_utf8_valid(data, size) == (valid ? 1 : 0));

    /* The other direction: the first four bytes as a code point. */
    if (size >= 4) {
        uint32_t want =
            ((uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3]) %
            0x110000;
        if (scalar(want)) {
            uint8_t enc[4];
            uint32_t got;
            size_t n = encode(want, enc);
            FUZZ_ASSERT(mb_utf8_next(enc, n, &got) == n && got == want);
            FUZZ_ASSERT(n == 1 || mb_utf8_next(enc, n - 1, &got) == 0); /* truncated */
        }
    }
    return 0;
}

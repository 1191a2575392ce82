/*
 * rng.h - random bytes for keys, nonces and tokens, without a system call
 * each.
 *
 * libsodium's randombytes_buf() is one getrandom(2) per call, and on the
 * reference VM a system call costs 1-2 us of CPU: a tokenisation asked for
 * random bytes five times (token, data key, its wrapping nonce, two sealing
 * nonces), ~6% of its daemon CPU. rng_fill() serves the same bytes from a
 * per-thread pool that one getrandom(2) refills, RNG_POOL_BYTES at a time.
 *
 * What it keeps: every byte still comes from the kernel's CSPRNG, and none is
 * handed out twice. The pool lives in secure memory (crypto/secmem.h:
 * locked, never dumped), bytes are wiped from it as they are taken, so a
 * later look at the memory shows no key or nonce already made, and the pool
 * is freed (wiped) when its thread ends. A child process never reuses its
 * parent's pool: the forking thread's pool is emptied in the child
 * (pthread_atfork), and the child's other threads do not exist.
 *
 * Thread-safe (nothing is shared); nothing to initialise or tear down.
 */
#ifndef MB_CRYPTO_RNG_H
#define MB_CRYPTO_RNG_H

#include <stddef.h>

/* Bytes one refill fetches; requests larger than a quarter of it go to
 * getrandom(2) directly. */
#define RNG_POOL_BYTES 1024

/* n uniformly random bytes into out. Never fails: without secure memory for
 * a pool it falls back to randombytes_buf(). */
void rng_fill(void *out, size_t n);

#endif

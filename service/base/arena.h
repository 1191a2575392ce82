/*
 * arena.h - bump allocator with a hard byte limit.
 *
 * Each RPC decodes its request into an arena that dies with the call, so a
 * handler never frees individual fields. The limit matters more than the
 * speed: protobuf-c expands a message of many empty repeated fields into far
 * more heap than its wire size (a 4 MiB request can cost ~19 MB), so requests
 * from the network are decoded with mb_arena_allocator() and a decode that
 * would pass the limit fails instead of exhausting memory.
 *
 * Arenas hold decrypted personal data while a call builds its answer, so
 * every byte handed out is wiped when the arena is reset or freed.
 */
#ifndef MB_ARENA_H
#define MB_ARENA_H

#include <stddef.h>
#include <stdbool.h>
#include <protobuf-c/protobuf-c.h>

typedef struct mb_arena mb_arena_t;

/* limit: the most bytes this arena will hand out in total (0 = no limit). */
mb_arena_t *mb_arena_new(size_t limit);
void mb_arena_free(mb_arena_t *arena);

/* Frees everything allocated so far, keeping the first block for reuse. */
void mb_arena_reset(mb_arena_t *arena);

/* 16-byte aligned; NULL when the limit would be passed or memory ran out. */
void *mb_arena_alloc(mb_arena_t *arena, size_t n);

/* printf into the arena; NULL on failure. */
char *mb_arena_printf(mb_arena_t *arena, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* True once an allocation was refused for the limit. */
bool mb_arena_over_limit(const mb_arena_t *arena);

/* A protobuf-c allocator drawing from the arena (frees are no-ops). */
ProtobufCAllocator mb_arena_allocator(mb_arena_t *arena);

#endif

/*
 * arena.c - see arena.h.
 *
 * Blocks form a singly linked list; the newest block is at the head and is the
 * only one allocated from. A request larger than half a default block gets a
 * block of its own so that big strings do not waste the tail of a block.
 */
#include "base/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#define ARENA_BLOCK 4096u
#define ARENA_ALIGN 16u

typedef struct block {
    struct block *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
} block;

struct mb_arena {
    block *head;
    size_t limit;
    size_t total;
    bool over_limit;
};

mb_arena_t *mb_arena_new(size_t limit)
{
    mb_arena_t *a = calloc(1, sizeof *a);
    if (a != NULL)
        a->limit = limit;
    return a;
}

static void free_blocks(block *b, block *keep)
{
    while (b != NULL && b != keep) {
        block *next = b->next;
        sodium_memzero(b->data, b->used);
        free(b);
        b = next;
    }
}

void mb_arena_free(mb_arena_t *arena)
{
    if (arena == NULL)
        return;
    free_blocks(arena->head, NULL);
    free(arena);
}

void mb_arena_reset(mb_arena_t *arena)
{
    if (arena->head == NULL)
        return;
    /* Keep the oldest block (the tail), which is the common small one. */
    block *tail = arena->head;
    while (tail->next != NULL)
        tail = tail->next;
    free_blocks(arena->head, tail);
    sodium_memzero(tail->data, tail->used);
    tail->used = 0;
    arena->head = tail;
    arena->total = 0;
    arena->over_limit = false;
}

void *mb_arena_alloc(mb_arena_t *arena, size_t n)
{
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need < n)
        return NULL;
    if (arena->limit != 0 && (need > arena->limit || arena->total > arena->limit - need)) {
        arena->over_limit = true;
        return NULL;
    }
    block *b = arena->head;
    if (b == NULL || b->size - b->used < need) {
        size_t size = need > ARENA_BLOCK / 2 ? need : ARENA_BLOCK;
        block *nb = malloc(sizeof *nb + size);
        if (nb == NULL)
            return NULL;
        nb->size = size;
        nb->used = 0;
        if (b != NULL && size != ARENA_BLOCK && b->size - b->used >= ARENA_BLOCK / 8) {
            /* Dedicated big block: put it behind the head so the head's
             * free tail stays usable for the small allocations to come. */
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            arena->head = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += need;
    arena->total += need;
    return p;
}

char *mb_arena_printf(mb_arena_t *arena, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = mb_arena_alloc(arena, (size_t)n + 1);
    if (s == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

bool mb_arena_over_limit(const mb_arena_t *arena)
{
    return arena->over_limit;
}

static void *pbc_alloc(void *data, size_t size)
{
    return mb_arena_alloc(data, size);
}

static void pbc_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;
}

ProtobufCAllocator mb_arena_allocator(mb_arena_t *arena)
{
    ProtobufCAllocator a = {.alloc = pbc_alloc, .free = pbc_free, .allocator_data = arena};
    return a;
}

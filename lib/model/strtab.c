/* A string -> int32 table (strtab.h). */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "strtab.h"

bool clf_strtab_init(struct clf_strtab *t, const char *strings, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    *t = (struct clf_strtab){strings, malloc(cap * sizeof *t->slots), cap - 1};
    if (!t->slots)
        return false;
    for (size_t i = 0; i < cap; i++)
        t->slots[i].value = -1;
    return true;
}

void clf_strtab_free(struct clf_strtab *t)
{
    free(t->slots);
    t->slots = NULL;
}

/* The slot of s: its own, or the empty one where it would go. */
static struct clf_strtab_entry *slot(const struct clf_strtab *t, const char *s, size_t len,
                                     uint64_t h)
{
    for (size_t i = (size_t)h & t->mask;; i = (i + 1) & t->mask) {
        struct clf_strtab_entry *e = &t->slots[i];
        if (e->value < 0 ||
            (e->hash == h && e->len == len && memcmp(t->strings + e->off, s, len) == 0))
            return e;
    }
}

void clf_strtab_put(struct clf_strtab *t, uint32_t off, uint32_t len, int32_t value,
                    bool overwrite)
{
    const uint64_t h = XXH3_64bits(t->strings + off, len);
    struct clf_strtab_entry *e = slot(t, t->strings + off, len, h);
    if (e->value < 0)
        *e = (struct clf_strtab_entry){h, off, len, value};
    else if (overwrite)
        e->value = value;
}

int32_t clf_strtab_get(const struct clf_strtab *t, const char *s, size_t len)
{
    return slot(t, s, len, XXH3_64bits(s, len))->value;
}

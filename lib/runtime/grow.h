/*
 * A growable array's reallocation, shared by the tokenizers' scratch
 * buffers (model/tokenizer.c, unigram.c, charsmap.c) and the command-buffer
 * recorder (launch.c). Not installed.
 */
#ifndef CLF_RUNTIME_GROW_H
#define CLF_RUNTIME_GROW_H

#include <stdbool.h>
#include <stdlib.h>

/* Makes *p hold at least need elements of elem bytes (*cap of them; the
 * capacity doubles from 64). false: out of memory, *p and *cap unchanged. */
static inline bool clf_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return false;
    *p = q;
    *cap = c;
    return true;
}

#endif

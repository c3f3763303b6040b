/*
 * A string -> int32 table over strings the caller keeps (strtab.c): open
 * addressing keyed by XXH3_64bits of the bytes, at most half full. The
 * tokenizer's vocabulary and byte-level BPE's merge ranks. Not installed.
 */
#ifndef CLF_MODEL_STRTAB_H
#define CLF_MODEL_STRTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct clf_strtab_entry {
    uint64_t hash;
    uint32_t off; /* into the caller's strings */
    uint32_t len; /* bytes */
    int32_t value; /* -1: an empty slot */
};

struct clf_strtab {
    const char *strings; /* the caller's, alive as long as the table */
    struct clf_strtab_entry *slots;
    size_t mask;
};

/* An empty table for up to n strings of `strings` (false: no memory). */
bool clf_strtab_init(struct clf_strtab *t, const char *strings, size_t n);
void clf_strtab_free(struct clf_strtab *t);

/* Adds strings + off (len bytes) with value >= 0. A string already there
 * gets the new value when overwrite (vocab.txt: a later duplicate wins),
 * else keeps its own (merges: the lower rank wins). At most the n of
 * clf_strtab_init. */
void clf_strtab_put(struct clf_strtab *t, uint32_t off, uint32_t len, int32_t value,
                    bool overwrite);

/* The value of s (len bytes), or -1. */
int32_t clf_strtab_get(const struct clf_strtab *t, const char *s, size_t len);

#endif

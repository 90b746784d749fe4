/*
 * DOC: hashing
 *
 * A small, fast, seedable 64-bit hash (FNV-1a folded through a splitmix64 finaliser) for
 * consistent hashing. Not for hash tables exposed to attackers' keys: it is not keyed.
 */
#ifndef ANYLB_LIB_HASH_H
#define ANYLB_LIB_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t hash_bytes(const void *data, size_t len, uint64_t seed);
uint64_t hash_mix64(uint64_t x);

#endif

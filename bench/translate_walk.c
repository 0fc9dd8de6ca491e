/* Same radix walk as hardware/pagetable/radix.ts ptWalk for the VT-d
 * second-level format (4 levels, 4 KiB pages over 1 GiB), in C, as the
 * yardstick for the typed-array walk. Same xorshift32 IOVA sequence,
 * precomputed into an array as the JS bench does, best of ROUNDS rounds.
 * Usage: translate_walk N [ROUNDS]  -> prints "walks ns checksum" (ns of the best round) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NODE_WORDS 1024
static uint32_t *words;
static uint32_t top = 1, cap;

static uint32_t alloc_node(void) {
  if (top >= cap) { cap *= 2; words = realloc(words, (size_t)cap * NODE_WORDS * 4); }
  memset(words + (size_t)top * NODE_WORDS, 0, NODE_WORDS * 4);
  return top++;
}

static uint32_t root;

static void map4k(uint64_t iova, uint64_t pa) {
  uint32_t node = root;
  for (int lvl = 3; lvl > 0; lvl--) {
    uint32_t idx = (iova >> (12 + 9 * lvl)) & 511;
    uint32_t e = node * NODE_WORDS + idx * 2;
    if ((words[e] & 3) == 0) {
      uint32_t child = alloc_node();
      words[e] = (child << 12) | 3;
      words[e + 1] = 0;
    }
    node = words[e] >> 12;
  }
  uint32_t e = node * NODE_WORDS + ((iova >> 12) & 511) * 2;
  words[e] = (uint32_t)(pa & 0xfffff000u) | 3;
  words[e + 1] = (uint32_t)(pa >> 32);
}

/* The JS walkers remember the last level-1 table reached (hardware/pagetable/
 * walkers.ts W1: key = iova >> 30, valid while the table's generation is the
 * same) and skip the upper levels when the next IOVA shares it; over 1 GiB
 * every walk after the first does. The C does the same, or it would walk two
 * levels more than the JS. */
static uint32_t table_gen = 1;
static uint64_t w1_key = UINT64_MAX;
static uint32_t w1_gen, w1_node;

/* returns pa or UINT64_MAX on fault */
static inline uint64_t walk(uint64_t iova, int write) {
  uint32_t hi = (uint32_t)(iova >> 32), lo = (uint32_t)iova;
  uint32_t node = root, dlo = 0, dhi = 0;
  int lvl = 3;
  uint64_t key = iova >> 30;
  if (key == w1_key && w1_gen == table_gen) {
    node = w1_node;
    lvl = 1;
  }
  for (;; lvl--) {
    int s = 12 + 9 * lvl;
    uint32_t idx = s >= 32 ? (hi >> (s - 32)) & 511 : ((lo >> s) | (s > 0 ? (hi << (32 - s)) : 0)) & 511;
    uint32_t e = node * NODE_WORDS + idx * 2;
    dlo = words[e]; dhi = words[e + 1];
    if ((dlo & 3) == 0) return UINT64_MAX;
    if (lvl == 0 || (dlo & 0x80)) break;
    node = (dlo >> 12) + (dhi & 0xfffff) * 1048576u;
    if (lvl == 2) {
      w1_key = key;
      w1_gen = table_gen;
      w1_node = node;
    }
  }
  if (write ? !(dlo & 2) : !(dlo & 1)) return UINT64_MAX;
  uint64_t off = iova & ((1ull << (12 + 9 * lvl)) - 1);
  return ((uint64_t)(dlo & 0xfffff000u) | ((uint64_t)(dhi & 0xfffff) << 32)) + off;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 20000000;
  cap = 1024;
  words = calloc((size_t)cap * NODE_WORDS, 4);
  root = alloc_node();
  for (uint64_t iova = 0; iova < (1ull << 30); iova += 4096) map4k(iova, iova + (1ull << 32));
  int rounds = argc > 2 ? atoi(argv[2]) : 5;
  if (rounds < 1) rounds = 1;
  uint32_t *seq = malloc((size_t)n * 4);
  uint32_t x = 2463534242u;
  for (long i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    seq[i] = x & 0x3fffffffu;
  }
  uint64_t sum = 0;
  double best = 0;
  for (int r = -1; r < rounds; r++) { /* round -1 warms the caches */
    struct timespec t0, t1;
    sum = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) sum += walk(seq[i], 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
    if (r >= 0 && (best == 0 || ns < best)) best = ns;
  }
  printf("%ld %.0f %llu\n", n, best, (unsigned long long)sum);
  free(seq);
  return 0;
}

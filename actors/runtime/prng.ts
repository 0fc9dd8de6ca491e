/**
 * Seeded PRNG owned by the scheduler (xoshiro128**).  Its whole state is four
 * u32 words so a snapshot can carry it and a restored run continues the same
 * sequence; the seed is recorded in the journal header.
 */
export interface PrngState {
  s: [number, number, number, number];
}

/** splitmix32 turns any seed into four well-mixed, never-all-zero words. */
function splitmix32(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** Seeds may be given as numbers or strings (e.g. from the CLI); both hash to a u32. */
export function seedToU32(seed: number | string): number {
  if (typeof seed === 'number' && Number.isInteger(seed)) return seed >>> 0;
  const s = String(seed);
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function createPrng(seed: number | string): PrngState {
  const next = splitmix32(seedToU32(seed));
  return { s: [next(), next(), next(), next() | 1] };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export function nextU32(p: PrngState): number {
  const s = p.s;
  const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
  const t = (s[1] << 9) >>> 0;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 11);
  s[0] >>>= 0; s[1] >>>= 0; s[2] >>>= 0;
  return result;
}

/** Uniform integer in [0, n) without modulo bias (rejection sampling). */
export function nextInt(p: PrngState, n: number): number {
  if (n <= 1) return 0;
  const limit = 0x100000000 - (0x100000000 % n);
  for (;;) {
    const r = nextU32(p);
    if (r < limit) return r % n;
  }
}

export function clonePrng(p: PrngState): PrngState {
  return { s: [p.s[0], p.s[1], p.s[2], p.s[3]] };
}

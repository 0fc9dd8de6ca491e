/** The benches' seeded xorshift32 sequence (also what bench/translate_walk.c computes), each value reduced by `reduce`. */
export function xorshift32(n: number, seed: number, reduce: (x: number) => number): Uint32Array {
  const a = new Uint32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    a[i] = reduce(x);
  }
  return a;
}

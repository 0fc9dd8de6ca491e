// A DMA burst as a device hands it to the IOMMU: struct-of-arrays, one slot
// per access. This is the form the 'dma' message carries and the engine
// (translate.ts) reads: its hot loop then reads typed arrays, not one object
// per access, and a device that reuses one burst (a ring of descriptors)
// allocates nothing per burst. It is plain data, so the journal stores the
// arrays as they are (msgpack 't' extension: a burst of 256 accesses is a few
// KiB, not 256 maps).
//
// DmaAccess is the readable one-object-per-access form that scenarios, tests
// and exports use; burstOf / burstAccess convert between the two.

import { toAddr } from './pagetable/radix.ts';

/** flags bit: the access writes memory (else it reads) */
export const DMA_WRITE = 1;
/** flags bit: a privileged (supervisor) access */
export const DMA_PRIV = 2;

/** One access, readable form. */
export interface DmaAccess {
  iova: number | bigint;
  length: number;
  write: boolean;
  /** PASID / SSID; 0 or absent = IOMMU_NO_PASID */
  pasid?: number;
  priv?: boolean;
  /** write: the bytes to write; read: where to put the bytes (else the results get a fresh buffer) */
  data?: Uint8Array;
}

export interface DmaBurst {
  /** below 2^53, the simulator's address range (toAddr) */
  iova: Float64Array;
  length: Uint32Array;
  /** DMA_WRITE | DMA_PRIV */
  flags: Uint8Array;
  /** PASID / SSID; 0 = IOMMU_NO_PASID */
  pasid: Uint32Array;
  /** write: the bytes to write; read: where to put them, or null (the results get a fresh buffer) */
  data: (Uint8Array | null)[];
}

/** A burst of `n` zero-length reads at IOVA 0, for the caller to fill in. */
export function burstCreate(n: number): DmaBurst {
  return { iova: new Float64Array(n), length: new Uint32Array(n), flags: new Uint8Array(n), pasid: new Uint32Array(n), data: new Array<Uint8Array | null>(n).fill(null) };
}

export function burstSize(b: DmaBurst): number {
  return b.iova.length;
}

/** Whether `x` is a DmaBurst (and not a DmaAccess list). */
export function isDmaBurst(x: unknown): x is DmaBurst {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && (x as DmaBurst).iova instanceof Float64Array;
}

/**
 * The burst of `accesses`. Throws a RangeError naming the access for an
 * IOVA outside the simulator's 53-bit range or a length that is not a
 * 32-bit count of bytes, before any access is performed.
 */
export function burstOf(accesses: readonly DmaAccess[]): DmaBurst {
  const b = burstCreate(accesses.length);
  for (let i = 0; i < accesses.length; i++) {
    const a = accesses[i]!;
    try {
      b.iova[i] = toAddr(a.iova);
    } catch (e) {
      throw new RangeError(`DMA access ${i}: ${(e as Error).message}`);
    }
    if (!Number.isInteger(a.length) || a.length < 0 || a.length > 0xffffffff) throw new RangeError(`DMA access ${i}: length ${a.length} is not a byte count below 2^32`);
    const pasid = a.pasid ?? 0;
    if (!Number.isInteger(pasid) || pasid < 0 || pasid > 0xffffffff) throw new RangeError(`DMA access ${i}: pasid ${pasid} is not a 32-bit number`);
    b.length[i] = a.length;
    b.flags[i] = (a.write ? DMA_WRITE : 0) | (a.priv === true ? DMA_PRIV : 0);
    b.pasid[i] = pasid;
    b.data[i] = a.data ?? null;
  }
  return b;
}

/** Access `i` of `b` in readable form (pasid, priv and data only when set). */
export function burstAccess(b: DmaBurst, i: number): DmaAccess {
  const a: DmaAccess = { iova: b.iova[i]!, length: b.length[i]!, write: (b.flags[i]! & DMA_WRITE) !== 0 };
  if (b.pasid[i] !== 0) a.pasid = b.pasid[i]!;
  if ((b.flags[i]! & DMA_PRIV) !== 0) a.priv = true;
  const data = b.data[i];
  if (data) a.data = data;
  return a;
}

export function burstAccesses(b: DmaBurst): DmaAccess[] {
  const out: DmaAccess[] = [];
  for (let i = 0; i < burstSize(b); i++) out.push(burstAccess(b, i));
  return out;
}

/** Accesses from .. to - 1 of `b`: views of its arrays, no copy. */
export function burstSlice(b: DmaBurst, from: number, to: number): DmaBurst {
  return { iova: b.iova.subarray(from, to), length: b.length.subarray(from, to), flags: b.flags.subarray(from, to), pasid: b.pasid.subarray(from, to), data: b.data.slice(from, to) };
}

/** The accesses of `b` at `indices`, in that order, as a burst of their own. */
export function burstPick(b: DmaBurst, indices: readonly number[]): DmaBurst {
  const p = burstCreate(indices.length);
  indices.forEach((i, k) => {
    p.iova[k] = b.iova[i]!;
    p.length[k] = b.length[i]!;
    p.flags[k] = b.flags[i]!;
    p.pasid[k] = b.pasid[i]!;
    p.data[k] = b.data[i]!;
  });
  return p;
}

// Test-only PhysMemPort and reference interval model for the hardware tests.
import type { PhysMemPort } from '../../hardware/pagetable/nested.ts';
import type { MappedRange } from '../../hardware/pagetable/radix.ts';

/** Sparse byte-addressable memory in 4 KiB frames, zero where never written. */
export class SparseMem implements PhysMemPort {
  frames = new Map<number, Uint8Array>();
  reads = 0;
  private frame(pa: number, create: boolean): Uint8Array | undefined {
    const k = Math.floor(pa / 4096);
    let f = this.frames.get(k);
    if (!f && create) {
      f = new Uint8Array(4096);
      this.frames.set(k, f);
    }
    return f;
  }
  readPhys(pa: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    for (let i = 0; i < len; ) {
      const off = (pa + i) % 4096;
      const n = Math.min(len - i, 4096 - off);
      const f = this.frame(pa + i, false);
      if (f) out.set(f.subarray(off, off + n), i);
      i += n;
    }
    return out;
  }
  writePhys(pa: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; ) {
      const off = (pa + i) % 4096;
      const n = Math.min(data.length - i, 4096 - off);
      this.frame(pa + i, true)!.set(data.subarray(i, i + n), off);
      i += n;
    }
  }
  read64(pa: number): bigint {
    this.reads++;
    return new DataView(this.readPhys(pa, 8).buffer).getBigUint64(0, true);
  }
  write64(pa: number, v: bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v, true);
    this.writePhys(pa, b);
  }
}

export interface Interval {
  iova: number;
  size: number;
  pa: number;
  prot: number;
}

/** Reference IOVA -> PA mapping as a sorted list of disjoint intervals. */
export class RefMap {
  list: Interval[] = [];
  overlaps(iova: number, size: number): boolean {
    return this.list.some((x) => x.iova < iova + size && iova < x.iova + x.size);
  }
  map(iova: number, pa: number, size: number, prot: number): boolean {
    if (this.overlaps(iova, size)) return false;
    this.list.push({ iova, size, pa, prot });
    this.list.sort((a, b) => a.iova - b.iova);
    return true;
  }
  /** Removes [iova, iova+size), splitting intervals; returns bytes removed. */
  unmap(iova: number, size: number): number {
    const end = iova + size;
    let removed = 0;
    const next: Interval[] = [];
    for (const x of this.list) {
      const xe = x.iova + x.size;
      if (xe <= iova || x.iova >= end) {
        next.push(x);
        continue;
      }
      const s = Math.max(x.iova, iova);
      const e = Math.min(xe, end);
      removed += e - s;
      if (x.iova < s) next.push({ iova: x.iova, size: s - x.iova, pa: x.pa, prot: x.prot });
      if (e < xe) next.push({ iova: e, size: xe - e, pa: x.pa + (e - x.iova), prot: x.prot });
    }
    this.list = next.sort((a, b) => a.iova - b.iova);
    return removed;
  }
  lookup(iova: number): { pa: number; prot: number } | null {
    for (const x of this.list) if (iova >= x.iova && iova < x.iova + x.size) return { pa: x.pa + (iova - x.iova), prot: x.prot };
    return null;
  }
}

export function mergeIntervals(list: Interval[]): Interval[] {
  const out: Interval[] = [];
  for (const x of [...list].sort((a, b) => a.iova - b.iova)) {
    const p = out[out.length - 1];
    if (p && p.iova + p.size === x.iova && p.pa + p.size === x.pa && p.prot === x.prot) p.size += x.size;
    else out.push({ ...x });
  }
  return out;
}

export function dumpIntervals(d: MappedRange[]): Interval[] {
  return mergeIntervals(d.map((r) => ({ iova: r.iova, size: r.last - r.iova + 1, pa: r.pa, prot: r.prot & 3 })));
}

/**
 * Reference model of IOAS interval semantics: what MAP (fixed/auto), COPY,
 * UNMAP, unmap-all, ALLOW_IOVAS and reservations return, written as plainly
 * as possible (unsorted lists, linear scans, brute-force hole search) so it
 * can judge the real io_pagetable.  It knows nothing of pinning or domains
 * beyond a fixed iova_alignment and reserved ranges.
 */
import {
  EADDRINUSE, EEXIST, EINVAL, ENOENT, ENOSPC, EOVERFLOW, EPERM,
} from '../../uapi/errno.ts';

const MAX = 0xffffffffffffffffn;
const PAGE = 4096n;
const HPAGE = 2n * 1024n * 1024n;

interface RefArea {
  iova: bigint;
  last: bigint;
  /** source address of the first byte (uptr for MAP, carried through COPY) */
  src: bigint;
  writable: boolean;
}

interface Range {
  start: bigint;
  last: bigint;
}

export class RefIoas {
  areas: RefArea[] = [];
  allowed: Range[] = [];
  reserved: Range[] = [];
  constructor(public align: bigint = 1n) {}

  private hitsArea(s: bigint, l: bigint): boolean {
    return this.areas.some((a) => a.iova <= l && a.last >= s);
  }

  private hitsReserved(s: bigint, l: bigint): boolean {
    return this.reserved.some((r) => r.start <= l && r.last >= s);
  }

  reserve(start: bigint, last: bigint): number {
    if (this.hitsArea(start, last) || this.allowed.some((r) => r.start <= last && r.last >= start)) return EADDRINUSE;
    this.reserved.push({ start, last });
    return 0;
  }

  allowIovas(ranges: Range[]): number {
    const next: Range[] = [];
    for (const r of ranges) {
      if (r.start >= r.last) return EINVAL;
      if (next.some((n) => n.start <= r.last && n.last >= r.start)) return EINVAL;
      next.push(r);
    }
    if (next.some((r) => this.hitsReserved(r.start, r.last))) return EADDRINUSE;
    this.allowed = next;
    return 0;
  }

  /** Free IOVA intervals inside [lo, hi]: complement of areas ∪ reserved. */
  private holes(lo: bigint, hi: bigint): Range[] {
    const used = [...this.areas.map((a) => ({ start: a.iova, last: a.last })), ...this.reserved]
      .sort((x, y) => (x.start < y.start ? -1 : x.start > y.start ? 1 : 0));
    const out: Range[] = [];
    let cur = lo;
    for (const u of used) {
      if (u.last < cur) continue;
      if (u.start > hi) break;
      if (u.start > cur) out.push({ start: cur, last: u.start - 1n });
      if (u.last >= hi) return out;
      cur = u.last + 1n;
    }
    out.push({ start: cur, last: hi });
    return out;
  }

  /** Windows to search: allowed ranges glued when adjacent, clipped to [PAGE, MAX-PAGE]. */
  private windows(): Range[] {
    if (this.allowed.length === 0) return [{ start: PAGE, last: MAX - PAGE }];
    const s = [...this.allowed].sort((x, y) => (x.start < y.start ? -1 : 1));
    const glued: Range[] = [];
    for (const r of s) {
      const p = glued[glued.length - 1];
      if (p && r.start <= p.last + 1n) p.last = r.last > p.last ? r.last : p.last;
      else glued.push({ ...r });
    }
    return glued
      .filter((r) => r.last >= PAGE && r.start <= MAX - PAGE)
      .map((r) => ({ start: r.start < PAGE ? PAGE : r.start, last: r.last > MAX - PAGE ? MAX - PAGE : r.last }));
  }

  private fit(start: bigint, last: bigint, length: bigint, a: bigint, po: bigint): bigint | null {
    if (start + a - 1n > MAX) return null;
    const cand = (((start + a - 1n) / a) * a) | po;
    if (cand >= last || last - cand < length - 1n) return null;
    return cand;
  }

  private autoIova(addr: bigint, length: bigint): bigint | number {
    if (length >= MAX / 2n) return EOVERFLOW;
    let a = 1n;
    while (a < length) a *= 2n;
    if (addr !== 0n) {
      let low = 1n;
      while ((addr & low) === 0n) low *= 2n;
      if (low < a) a = low;
    }
    if (a > HPAGE) a = HPAGE;
    if (a < this.align) return EINVAL;
    const po = addr % PAGE;
    for (const w of this.windows()) {
      const ws = this.fit(w.start, w.last, length, a, po);
      if (ws === null) continue;
      for (const h of this.holes(ws, w.last)) {
        const c = this.fit(h.start, h.last, length, a, po);
        if (c !== null) return c;
      }
    }
    return ENOSPC;
  }

  /** The map path after the pages are built: slices [{src, length, writable}]. */
  private mapSlices(slices: Array<{ src: bigint; length: bigint; writable: boolean }>, length: bigint,
    fixed: boolean, iova: bigint, write: boolean): { errno: number; iova: bigint } {
    if (length === 0n || length % this.align !== 0n) return { errno: EINVAL, iova: 0n };
    let dst = iova;
    if (fixed) {
      if (iova % this.align !== 0n) return { errno: EINVAL, iova: 0n };
      if (iova + length - 1n > MAX) return { errno: EOVERFLOW, iova: 0n };
      if (this.hitsReserved(iova, iova + length - 1n)) return { errno: EINVAL, iova: 0n };
      if (this.hitsArea(iova, iova + length - 1n)) return { errno: EEXIST, iova: 0n };
    } else {
      const r = this.autoIova(slices[0].src, length);
      if (typeof r === 'number') return { errno: r, iova: 0n };
      dst = r;
    }
    const add: RefArea[] = [];
    let cur = dst;
    for (const s of slices) {
      if (write && !s.writable) return { errno: EPERM, iova: 0n };
      if ((s.src % PAGE) % this.align !== 0n) return { errno: EINVAL, iova: 0n };
      add.push({ iova: cur, last: cur + s.length - 1n, src: s.src, writable: s.writable });
      cur += s.length;
    }
    this.areas.push(...add);
    return { errno: 0, iova: dst };
  }

  map(uptr: bigint, length: bigint, fixed: boolean, iova: bigint, write: boolean): { errno: number; iova: bigint } {
    if (uptr + length > MAX) return { errno: EOVERFLOW, iova: 0n };
    // iopt_alloc_pages: DIV_ROUND_UP(length + offset, PAGE_SIZE) must not overflow
    if (length === 0n || length > MAX - PAGE) return { errno: EINVAL, iova: 0n };
    return this.mapSlices([{ src: uptr, length, writable: write }], length, fixed, iova, write);
  }

  copyTo(dst: RefIoas, srcIova: bigint, length: bigint, fixed: boolean, dstIova: bigint, write: boolean) {
    if (length === 0n) return { errno: EINVAL, iova: 0n };
    const last = srcIova + length - 1n;
    if (last > MAX) return { errno: EOVERFLOW, iova: 0n };
    const slices: Array<{ src: bigint; length: bigint; writable: boolean }> = [];
    let cur = srcIova;
    for (;;) {
      const a = this.areas.find((x) => x.iova <= cur && x.last >= cur);
      if (!a || (slices.length > 0 && a.iova !== cur)) return { errno: ENOENT, iova: 0n };
      const end = a.last < last ? a.last : last;
      slices.push({ src: a.src + (cur - a.iova), length: end - cur + 1n, writable: a.writable });
      if (end === last) break;
      cur = end + 1n;
    }
    return dst.mapSlices(slices, length, fixed, dstIova, write);
  }

  unmap(iova: bigint, length: bigint): { errno: number; unmapped: bigint } {
    if (length === 0n) return { errno: EINVAL, unmapped: 0n };
    if (iova + length - 1n > MAX) return { errno: EOVERFLOW, unmapped: 0n };
    return this.unmapRange(iova, iova + length - 1n);
  }

  unmapAll(): { errno: number; unmapped: bigint } {
    const r = this.unmapRange(0n, MAX);
    return r.errno === ENOENT ? { errno: 0, unmapped: 0n } : r;
  }

  private unmapRange(s: bigint, l: bigint): { errno: number; unmapped: bigint } {
    const hit = this.areas.filter((a) => a.iova <= l && a.last >= s).sort((x, y) => (x.iova < y.iova ? -1 : 1));
    let unmapped = 0n;
    for (const a of hit) {
      if (a.iova < s || a.last > l) return { errno: ENOENT, unmapped };
      this.areas.splice(this.areas.indexOf(a), 1);
      unmapped += a.last - a.iova + 1n;
    }
    return { errno: unmapped ? 0 : ENOENT, unmapped };
  }

  sortedAreas(): Array<[bigint, bigint]> {
    return this.areas.map((a) => [a.iova, a.last] as [bigint, bigint]).sort((x, y) => (x[0] < y[0] ? -1 : 1));
  }
}

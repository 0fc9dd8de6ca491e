/**
 * Reference model of the IOAS ioctls as user space sees them: a table of
 * IOAS ids (lowest free, never 0) each holding a plain list of mapped
 * intervals and an allowed list, and the ioctl-level check order of
 * uapi.md §3.6/§3.8/§3.9 and §4.3/§4.4.  Written as plainly as possible —
 * unsorted arrays, linear scans, brute-force hole search — to judge the
 * simulator, not to be fast.
 *
 * Scope: what is reachable without a domain or device: no reserved ranges,
 * iova_alignment 1, nothing pinned.
 */
import { EEXIST, EINVAL, ENOENT, ENOSPC, EOPNOTSUPP, EOVERFLOW, EPERM } from '../../uapi/errno.ts';

export const MAX = 0xffffffffffffffffn;
const PAGE = 4096n;
const HPAGE = 2n * 1024n * 1024n;
const F_FIXED = 1;
const F_WRITE = 2;
const F_READ = 4;

export interface Range {
  start: bigint;
  last: bigint;
}

interface Interval {
  iova: bigint;
  last: bigint;
  /** User address of the first byte (carried through COPY). */
  src: bigint;
  /** The MAP that created the pages asked for WRITEABLE. */
  writable: boolean;
}

class Space {
  maps: Interval[] = [];
  allowed: Range[] = [];

  busy(s: bigint, l: bigint): boolean {
    return this.maps.some((m) => m.iova <= l && s <= m.last);
  }

  /** Lowest IOVA >= lo with [iova, iova+len-1] ⊆ [lo, hi] free, aligned per the kernel's formula. */
  private fitIn(lo: bigint, hi: bigint, len: bigint, align: bigint, po: bigint): bigint | null {
    const taken = this.maps.filter((m) => m.last >= lo && m.iova <= hi).sort((a, b) => (a.iova < b.iova ? -1 : 1));
    let cur = lo;
    const tryHole = (s: bigint, l: bigint): bigint | null => {
      if (s + align - 1n > MAX) return null;
      const c = (((s + align - 1n) / align) * align) | po;
      if (c >= l || l - c < len - 1n) return null;
      return c;
    };
    for (const m of taken) {
      if (m.iova > cur) {
        const c = tryHole(cur, m.iova - 1n);
        if (c !== null) return c;
      }
      if (m.last >= hi) return null;
      if (m.last + 1n > cur) cur = m.last + 1n;
    }
    return tryHole(cur, hi);
  }

  /** Windows: the allowed ranges merged where they touch, clipped to [PAGE, MAX-PAGE]; or that whole span. */
  private windows(): Range[] {
    if (this.allowed.length === 0) return [{ start: PAGE, last: MAX - PAGE }];
    const s = [...this.allowed].sort((a, b) => (a.start < b.start ? -1 : 1));
    const merged: Range[] = [];
    for (const r of s) {
      const p = merged[merged.length - 1];
      if (p && r.start <= p.last + 1n) {
        if (r.last > p.last) p.last = r.last;
      } else merged.push({ ...r });
    }
    const out: Range[] = [];
    for (const r of merged) {
      if (r.last < PAGE || r.start > MAX - PAGE) continue;
      out.push({ start: r.start < PAGE ? PAGE : r.start, last: r.last > MAX - PAGE ? MAX - PAGE : r.last });
    }
    return out;
  }

  autoIova(addr: bigint, len: bigint): bigint | number {
    if (len >= MAX / 2n) return EOVERFLOW;
    let a = 1n;
    while (a < len) a <<= 1n;
    if (addr !== 0n) {
      const low = addr & -addr;
      if (low < a) a = low;
    }
    if (a >= HPAGE) a = HPAGE;
    const po = addr % PAGE;
    for (const w of this.windows()) {
      // __alloc_iova_check_used on the window itself first, then its holes.
      const first = this.fitIn(w.start, w.last, len, a, po);
      if (first !== null) return first;
    }
    return ENOSPC;
  }

  /** The common tail of MAP and COPY once the pages (slices) exist. */
  place(slices: { src: bigint; length: bigint; writable: boolean }[], len: bigint, fixed: boolean, iova: bigint, write: boolean): { errno: number; iova: bigint } {
    if (len === 0n) return { errno: EINVAL, iova: 0n };
    let at = iova;
    if (fixed) {
      if (iova + len - 1n > MAX) return { errno: EOVERFLOW, iova: 0n };
      if (this.busy(iova, iova + len - 1n)) return { errno: EEXIST, iova: 0n };
    } else {
      const r = this.autoIova(slices[0]!.src, len);
      if (typeof r === 'number') return { errno: r, iova: 0n };
      at = r;
    }
    if (write && slices.some((s) => !s.writable)) return { errno: EPERM, iova: 0n };
    let cur = at;
    for (const s of slices) {
      this.maps.push({ iova: cur, last: cur + s.length - 1n, src: s.src, writable: s.writable });
      cur += s.length;
    }
    return { errno: 0, iova: at };
  }

  /** Whole intervals inside [s, l], ascending; stop (non-atomically) at one sticking out. */
  unmapRange(s: bigint, l: bigint): { errno: number; length: bigint } {
    const hit = this.maps.filter((m) => m.iova <= l && s <= m.last).sort((a, b) => (a.iova < b.iova ? -1 : 1));
    let n = 0n;
    for (const m of hit) {
      if (m.iova < s || m.last > l) return { errno: ENOENT, length: n };
      this.maps.splice(this.maps.indexOf(m), 1);
      n += m.last - m.iova + 1n;
    }
    return n === 0n ? { errno: ENOENT, length: 0n } : { errno: 0, length: n };
  }

  sorted(): Array<[bigint, bigint]> {
    return this.maps.map((m) => [m.iova, m.last] as [bigint, bigint]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
  }
}

/** One /dev/iommu as the reference sees it. */
export class RefCtx {
  readonly spaces = new Map<number, Space>();

  alloc(): number {
    let id = 1;
    while (this.spaces.has(id)) id++;
    this.spaces.set(id, new Space());
    return id;
  }

  destroy(id: number): number {
    return this.spaces.delete(id) ? 0 : ENOENT;
  }

  map(c: { flags: number; ioas: number; va: bigint; length: bigint; iova: bigint }): { errno: number; iova: bigint } {
    if (c.flags & ~(F_FIXED | F_WRITE | F_READ)) return { errno: EOPNOTSUPP, iova: 0n };
    if (c.iova >= MAX || c.length >= MAX) return { errno: EOVERFLOW, iova: 0n };
    if (!(c.flags & (F_READ | F_WRITE))) return { errno: EINVAL, iova: 0n };
    const sp = this.spaces.get(c.ioas);
    if (!sp) return { errno: ENOENT, iova: 0n };
    if (c.va + c.length > MAX) return { errno: EOVERFLOW, iova: 0n };
    if (c.length === 0n || c.length > MAX - PAGE) return { errno: EINVAL, iova: 0n };
    const write = (c.flags & F_WRITE) !== 0;
    return sp.place([{ src: c.va, length: c.length, writable: write }], c.length, (c.flags & F_FIXED) !== 0, c.iova, write);
  }

  copy(c: { flags: number; dst: number; src: number; length: bigint; dstIova: bigint; srcIova: bigint }): { errno: number; iova: bigint } {
    if (c.flags & ~(F_FIXED | F_WRITE | F_READ)) return { errno: EOPNOTSUPP, iova: 0n };
    if (c.length >= MAX || c.srcIova >= MAX || c.dstIova >= MAX) return { errno: EOVERFLOW, iova: 0n };
    if (!(c.flags & (F_READ | F_WRITE))) return { errno: EINVAL, iova: 0n };
    const src = this.spaces.get(c.src);
    if (!src) return { errno: ENOENT, iova: 0n };
    if (c.length === 0n) return { errno: EINVAL, iova: 0n };
    const last = c.srcIova + c.length - 1n;
    if (last > MAX) return { errno: EOVERFLOW, iova: 0n };
    const slices: { src: bigint; length: bigint; writable: boolean }[] = [];
    let cur = c.srcIova;
    for (;;) {
      const m = src.maps.find((x) => x.iova <= cur && cur <= x.last);
      if (!m) return { errno: ENOENT, iova: 0n };
      const end = m.last < last ? m.last : last;
      slices.push({ src: m.src + (cur - m.iova), length: end - cur + 1n, writable: m.writable });
      if (end === last) break;
      cur = end + 1n;
    }
    const dst = this.spaces.get(c.dst);
    if (!dst) return { errno: ENOENT, iova: 0n };
    return dst.place(slices, c.length, (c.flags & F_FIXED) !== 0, c.dstIova, (c.flags & F_WRITE) !== 0);
  }

  unmap(c: { ioas: number; iova: bigint; length: bigint }): { errno: number; length: bigint } {
    const sp = this.spaces.get(c.ioas);
    if (!sp) return { errno: ENOENT, length: 0n };
    if (c.iova === 0n && c.length === MAX) {
      const r = sp.unmapRange(0n, MAX);
      return r.errno === ENOENT && r.length === 0n ? { errno: 0, length: 0n } : r;
    }
    if (c.iova >= MAX || c.length >= MAX) return { errno: EOVERFLOW, length: 0n };
    if (c.length === 0n) return { errno: EINVAL, length: 0n };
    if (c.iova + c.length - 1n > MAX) return { errno: EOVERFLOW, length: 0n };
    return sp.unmapRange(c.iova, c.iova + c.length - 1n);
  }

  allow(ioas: number, ranges: Range[]): number {
    const sp = this.spaces.get(ioas);
    if (!sp) return ENOENT;
    const next: Range[] = [];
    for (const r of ranges) {
      if (r.start >= r.last) return EINVAL;
      if (next.some((n) => n.start <= r.last && r.start <= n.last)) return EINVAL;
      next.push(r);
    }
    sp.allowed = next;
    return 0;
  }

  /** Mapped intervals of one IOAS, ascending. */
  intervals(ioas: number): Array<[bigint, bigint]> {
    return this.spaces.get(ioas)?.sorted() ?? [];
  }
}

/**
 * Random raw-ABI programs from a seeded PRNG (actors/runtime/prng.ts), so a
 * seed names a program exactly.  Three kinds of call, mixed:
 *
 * - valid: a known ioctl with every field chosen to make sense (ids from
 *   the pool of ids earlier calls returned, pointers into the process's
 *   buffer, page-aligned IOVAs and lengths, flags from the field's enum);
 * - nearly valid: a valid call with one to three mutations (a boundary
 *   value in a field, a flipped bit, a wrong size word, a tail with non-zero
 *   bytes, a request number with direction/size bits or a neighbouring nr);
 * - garbage: random bytes under a random request number.
 *
 * plus, now and then, a close, a munmap of part of the buffer, a DMA burst,
 * or two or three ioctls issued concurrently from new threads.
 */
import { createPrng, nextInt, nextU32, type PrngState } from '../actors/runtime/prng.ts';
import { IOCTLS, fieldSymbols, leavesOf, testCmdView, type IoctlSpec, type Leaf } from '../scenario/catalog.ts';
import { IOMMU_TEST_OPS, ioctlEntry } from '../uapi/dispatch.ts';
import { writeLeaf } from '../scenario/run.ts';
import { BUFFER_PAGES, DEVICES, SETUP_PATHS, type FuzzCall, type FuzzProgram, type Ref } from './exec.ts';

const SPECS: IoctlSpec[] = [...IOCTLS.values()];
/** Where calls usually go: the ioctls that build and tear down state, weighted up. */
const HOT = ['IOMMU_IOAS_ALLOC', 'IOMMU_IOAS_MAP', 'IOMMU_IOAS_UNMAP', 'IOMMU_IOAS_COPY', 'IOMMU_HWPT_ALLOC', 'VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'IOMMU_DESTROY', 'IOMMU_TEST_CMD'];
const PAGE = 4096n;

/** The buffer address setup() returns (deterministic: the first mmap of a fresh process). */
export const BUFFER_VA = 0x10000n;

class Gen {
  constructor(readonly p: PrngState) {}
  int(n: number): number {
    return nextInt(this.p, n);
  }
  chance(pct: number): boolean {
    return this.int(100) < pct;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  u64(): bigint {
    return (BigInt(nextU32(this.p)) << 32n) | BigInt(nextU32(this.p));
  }
  boundary(size: number): bigint {
    const max = (1n << BigInt(8 * size)) - 1n;
    return this.pick([0n, 1n, max, max >> 1n, (max >> 1n) + 1n, max - PAGE + 1n, PAGE - 1n, BigInt(this.int(64)), this.u64() & max]);
  }
}

function specFor(g: Gen): IoctlSpec {
  if (g.chance(60)) {
    const n = g.pick(HOT);
    return SPECS.find((s) => s.name === n)!;
  }
  return g.pick(SPECS);
}

/** A field value that makes sense for its name. */
function fieldValue(g: Gen, spec: IoctlSpec, l: Leaf, refs: Ref[]): bigint | undefined {
  const p = l.path.replace(/^.*\./, '');
  if (l.offset === 0 && spec.sizeField) return undefined;
  if (/^__reserved|^out_|^last$/.test(p)) return 0n;
  const syms = fieldSymbols(spec.name, l.path);
  if (syms) {
    const vals = Object.values(syms.syms);
    if (!syms.bits) return BigInt(g.pick(vals));
    let v = 0;
    for (const b of vals) if (g.chance(50)) v |= b;
    return BigInt(v);
  }
  if (/(_id|^id|devid)$/.test(p) && (l.size === 4 || l.size === 8)) {
    refs.push({ offset: l.offset, size: l.size, id: g.int(16) });
    return BigInt(1 + g.int(4));
  }
  if (p === 'iommufd' || p === 'fd') return 3n;
  if (/user_va|uptr|^data$|allowed_iovas|vaddr|_ptr$/.test(p)) return BUFFER_VA + BigInt(g.int(BUFFER_PAGES / 2)) * PAGE;
  if (/length$|^size$/.test(p)) return BigInt(1 + g.int(16)) * PAGE;
  if (/iova$/.test(p)) return BigInt(g.int(64)) * 0x10000n;
  if (p === 'num_iovas' || p === 'entry_num') return BigInt(g.int(3));
  if (p === 'page_size') return PAGE;
  if (p === 'val64') return BigInt(g.int(2));
  if (p === 'pasid') return BigInt(g.int(4));
  if (p === 'data_len' || p === 'entry_len') return BigInt(g.pick([0, 8, 16, 24, 32]));
  return l.type === 'bytes' ? undefined : BigInt(g.int(3));
}

function validArg(g: Gen, spec: IoctlSpec): { arg: Uint8Array; refs: Ref[] } {
  let layout = spec.layout;
  const arg = new Uint8Array(spec.ksize);
  const refs: Ref[] = [];
  if (spec.sizeField) writeLeaf(arg, { path: 'size', offset: 0, type: 'u32', size: 4 }, BigInt(spec.ksize));
  if (spec.name === 'IOMMU_TEST_CMD') {
    const op = g.pick(IOMMU_TEST_OPS).op;
    layout = testCmdView(op).layout;
    writeLeaf(arg, { path: 'op', offset: 4, type: 'u32', size: 4 }, BigInt(op));
  }
  for (const l of leavesOf(layout)) {
    if (spec.name === 'IOMMU_TEST_CMD' && l.path === 'op') continue;
    if (l.offset + l.size > arg.length) continue;
    const v = fieldValue(g, spec, l, refs);
    if (v !== undefined) writeLeaf(arg, l, v);
  }
  return { arg, refs };
}

function mutate(g: Gen, spec: IoctlSpec, c: { cmd: number; arg: Uint8Array; refs: Ref[] }): { cmd: number; arg: Uint8Array; refs: Ref[] } {
  let { cmd, arg, refs } = c;
  const leaves = leavesOf(spec.name === 'IOMMU_TEST_CMD' && arg.length >= 8 ? testCmdView(new DataView(arg.buffer).getUint32(4, true)).layout : spec.layout).filter((l) => l.type !== 'bytes' && l.offset + l.size <= arg.length);
  const n = 1 + g.int(3);
  for (let k = 0; k < n; k++) {
    switch (g.int(6)) {
      case 0:
      case 1: {
        const l = g.pick(leaves);
        if (!l) break;
        refs = refs.filter((r) => r.offset !== l.offset);
        writeLeaf(arg, l, g.boundary(l.size));
        break;
      }
      case 2: {
        const at = g.int(Math.max(1, arg.length));
        if (arg.length) arg[at]! ^= 1 << g.int(8);
        break;
      }
      case 3: {
        // size word: too small, just under the minimum, larger than the kernel's
        const min = ioctlEntry(spec.name)?.minSize ?? spec.ksize;
        const sizes = [0, 4, min - 1, min, spec.ksize - 1, spec.ksize + 8, 0x1000, 0xffffffff];
        if (arg.length >= 4) writeLeaf(arg, { path: 'size', offset: 0, type: 'u32', size: 4 }, BigInt(g.pick(sizes) >>> 0));
        break;
      }
      case 4: {
        // the bytes passed: a short buffer faults, a longer one carries a tail (zero or not)
        const len = g.pick([0, 2, 4, Math.max(0, arg.length - 4), arg.length + 8, arg.length + 16]);
        const b = new Uint8Array(len);
        b.set(arg.subarray(0, Math.min(len, arg.length)));
        if (len > arg.length && g.chance(50)) b[len - 1] = 1 + g.int(255);
        arg = b;
        break;
      }
      case 5:
        cmd = g.pick([cmd | (3 << 30), cmd | (arg.length << 16), cmd + 1, cmd - 1, (cmd & 0xff00) | g.int(256)]) >>> 0;
        break;
    }
  }
  return { cmd, arg, refs: refs.filter((r) => r.offset + r.size <= arg.length) };
}

function ioctlCall(g: Gen): { fd: number; cmd: number; arg: Uint8Array; refs: Ref[] } {
  const roll = g.int(100);
  if (roll < 12) {
    const len = g.int(97);
    const arg = new Uint8Array(len);
    for (let i = 0; i < len; i++) arg[i] = g.int(256);
    const cmd = g.chance(80) ? 0x3b00 | g.int(256) : nextU32(g.p);
    return { fd: g.int(SETUP_PATHS.length), cmd, arg, refs: [] };
  }
  const spec = specFor(g);
  const v = validArg(g, spec);
  // the fd kind the ioctl is meant for, most of the time
  const vfio = [1, 2];
  const fd = g.chance(90) ? (spec.target === 'vfio' ? g.pick(vfio) : g.chance(85) ? 0 : 3) : g.int(SETUP_PATHS.length + 1);
  const c = { fd, cmd: spec.cmd, arg: v.arg, refs: v.refs };
  return roll < 50 ? { fd, ...mutate(g, spec, c) } : c;
}

/** A program of `n` calls from a seed. */
export function generate(seed: number | string, n = 24): FuzzProgram {
  const g = new Gen(createPrng(seed));
  const calls: FuzzCall[] = [];
  for (let i = 0; i < n; i++) {
    const r = g.int(100);
    if (r < 3) calls.push({ k: 'close', fd: g.int(SETUP_PATHS.length) });
    else if (r < 5) calls.push({ k: 'munmap', off: g.int(BUFFER_PAGES), pages: 1 + g.int(16) });
    else if (r < 12) calls.push({ k: 'dma', dev: g.pick(DEVICES), iova: BigInt(g.int(64)) * 0x10000n + BigInt(g.int(4)) * PAGE, length: g.pick([4, 64, 4096]), write: g.chance(50) });
    else if (r < 18) calls.push({ k: 'parallel', calls: Array.from({ length: 2 + g.int(2) }, () => ioctlCall(g)) });
    else calls.push({ k: 'ioctl', ...ioctlCall(g) });
  }
  return { calls };
}

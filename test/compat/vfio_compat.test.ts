/**
 * VFIO type1 container compatibility on an iommufd (uapi §9.4, Linux
 * vfio_compat.c) through the raw ABI: the catalogue's vfio_compat_mock_domain
 * fixture (mock-and-selftest §3.6, variants Ver1v2 / Ver1v0) and the errno
 * rules of each compat ioctl, with the invariants checked after every delivery.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  EFAULT, EINVAL, ENODEV, ENOENT, ENOTTY,
} from '../../uapi/errno.ts';
import {
  IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET, IOMMU_VFIO_IOAS_CLEAR, IOMMU_VFIO_IOAS_GET, IOMMU_VFIO_IOAS_SET,
  VFIO_DMA_CC_IOMMU, VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_VADDR, VFIO_DMA_MAP_FLAG_WRITE, VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, VFIO_NOIOMMU_IOMMU, VFIO_SPAPR_TCE_IOMMU, VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL, VFIO_UPDATE_VADDR,
} from '../../uapi/enums.ts';
import {
  VFIO_CHECK_EXTENSION, VFIO_GET_API_VERSION, VFIO_IOMMU_GET_INFO, VFIO_IOMMU_MAP_DMA, VFIO_IOMMU_UNMAP_DMA, VFIO_SET_IOMMU, _IO, VFIO_TYPE, VFIO_BASE,
} from '../../uapi/ioctl.ts';
import { pack } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import { scalarArg } from '../../actors/api.ts';
import { checkInvariants } from '../../actors/invariants.ts';
import {
  VFIO_IOMMU_INFO_CAPS, VFIO_IOMMU_INFO_PGSIZES, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
  VFIO_TYPE1_NESTING_IOMMU,
} from '../../actors/iommufd/vfio_compat.ts';
import { watchInvariants, type Watch } from '../invariants/checker.ts';
import {
  BUFFER_SIZE, HUGEPAGE_SIZE, MOCK_APERTURE_LAST, MOCK_APERTURE_START, PAGE, closeAll, compatSetup, leftovers, newSim,
  type CompatFx,
} from './fixture.ts';

const MAP_RW = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;

/** A deterministic shuffle (the selftest's shuffle_array uses rand()). */
function shuffle<T>(a: T[], seed = 7): T[] {
  let s = seed;
  for (let i = a.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) >>> 0;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

function u32(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset).getUint32(off, true);
}
function u16(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset).getUint16(off, true);
}
function u64(b: Uint8Array, off: number): bigint {
  return new DataView(b.buffer, b.byteOffset).getBigUint64(off, true);
}

/** GET_INFO with `argsz`, in a buffer of `len` bytes pre-filled with the 0xAA canary. */
function getInfoRaw(fx: CompatFx, argsz: number, len = 256): { errno: number; buf: Uint8Array } {
  const arg = new Uint8Array(len).fill(0xaa);
  new DataView(arg.buffer).setUint32(0, argsz, true);
  const r = fx.p.ioctl(fx.fd.fd, VFIO_IOMMU_GET_INFO, arg);
  return { errno: r.errno, buf: r.arg };
}

/** check_vfio_info_cap_chain */
function checkCapChain(buf: Uint8Array): void {
  const argsz = u32(buf, 0);
  let off = u32(buf, 16);
  const ids: number[] = [];
  for (;;) {
    expect(off + 8).toBeLessThanOrEqual(argsz);
    const id = u16(buf, off);
    const version = u16(buf, off + 2);
    const next = u32(buf, off + 4);
    ids.push(id);
    expect(version).toBe(1);
    if (id === VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
      expect(u32(buf, off + 8)).toBe(1);
      expect(u64(buf, off + 16)).toBe(MOCK_APERTURE_START);
      expect(u64(buf, off + 24)).toBe(MOCK_APERTURE_LAST);
    } else if (id === VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL) {
      expect(u32(buf, off + 8)).toBe(0xffffffff);
      // sizeof(struct vfio_iommu_type1_info_dma_avail) = 12, padded to 8 in the chain.
      expect(next === 0 ? argsz - off : next - off).toBe(16);
    } else {
      throw new Error(`unexpected cap id ${id}`);
    }
    if (!next) break;
    expect(next + 8).toBeLessThanOrEqual(argsz);
    expect(next).toBeGreaterThan(off);
    off = next;
  }
  expect(ids.sort()).toEqual([VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL].sort());
}

const VARIANTS = [
  { name: 'Ver1v2', version: VFIO_TYPE1v2_IOMMU },
  { name: 'Ver1v0', version: VFIO_TYPE1_IOMMU },
] as const;

/** The catalogue's fixture (MOCK_DOMAIN), and the same tests with a VFIO cdev device behind the mock IOMMU. */
for (const [fixtureName, device] of [['vfio_compat_mock_domain', 'mock'], ['vfio_compat_vfio_device', 'vfio']] as const) describe(fixtureName, () => {
  for (const variant of VARIANTS) {
    describe(variant.name, () => {
      let fx: CompatFx;
      let w: Watch;
      beforeEach(() => {
        const sim = newSim();
        w = watchInvariants(sim);
        fx = compatSetup({ sim, version: variant.version, device });
      });
      afterEach(() => {
        closeAll(fx);
        w.expectClean();
        expect(leftovers(fx.sim)).toEqual([]);
      });

      it('simple_close', () => {
        expect(fx.hwpt).toBeGreaterThan(0);
      });

      it('option_huge_pages', () => {
        const r = fx.fd.option({ option_id: IOMMU_OPTION_HUGE_PAGES, op: IOMMU_OPTION_OP_GET, object_id: fx.ioas, val64: 0n });
        expect(r.errno).toBe(0);
        expect(r.out.val64).toBe(variant.version === VFIO_TYPE1_IOMMU ? 0n : 1n);
      });

      it('get_info', () => {
        // argsz = offsetof(cap_offset): the header without cap_offset, nothing after it written.
        const a = getInfoRaw(fx, 16);
        expect(a.errno).toBe(0);
        expect(a.buf.subarray(16).every((b) => b === 0xaa)).toBe(true);
        expect(u64(a.buf, 8)).not.toBe(0n);
        expect(u32(a.buf, 4)).toBe(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
        // argsz = sizeof: no room for caps; argsz says how much is needed.
        const b = getInfoRaw(fx, 24);
        expect(b.errno).toBe(0);
        expect(u32(b.buf, 16)).toBe(0);
        const need = u32(b.buf, 0);
        expect(need).toBeGreaterThan(24);
        expect(need).toBe(24 + 16 + 32);
        for (let argsz = 24; argsz <= need; argsz++) {
          const r = getInfoRaw(fx, argsz);
          expect(r.errno, `argsz ${argsz}`).toBe(0);
          expect(r.buf.subarray(argsz).every((x) => x === 0xaa), `argsz ${argsz}: nothing past argsz`).toBe(true);
          expect(u32(r.buf, 4)).toBe(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
          expect(u32(r.buf, 0)).toBe(need);
          // The mock domain's 2 KiB pages are reported as PAGE_SIZE.
          expect(u64(r.buf, 8)).toBe(PAGE);
          const capOffset = u32(r.buf, 16);
          expect(capOffset).toBe(argsz >= need ? 24 : 0);
          if (capOffset) checkCapChain(r.buf);
        }
      });

      it('map', () => {
        const map = { flags: MAP_RW, vaddr: fx.buffer, size: BUFFER_SIZE, iova: MOCK_APERTURE_START };
        expect(fx.fd.vfioMapDma(map).errno).toBe(0);
        const u = fx.fd.vfioUnmapDma({ flags: 0, iova: MOCK_APERTURE_START, size: BUFFER_SIZE });
        expect(u.errno).toBe(0);
        expect(u.out.size).toBe(BUFFER_SIZE);
        // Unmap of empty is success.
        const again = fx.fd.vfioUnmapDma({ flags: 0, iova: MOCK_APERTURE_START, size: BUFFER_SIZE });
        expect(again.errno).toBe(0);
        expect(again.out.size).toBe(0n);
        // UNMAP_FLAG_ALL requires 0 iova/size.
        expect(fx.fd.vfioMapDma(map).errno).toBe(0);
        expect(fx.fd.vfioUnmapDma({ flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: MOCK_APERTURE_START, size: BUFFER_SIZE }).errno).toBe(EINVAL);
        const all = fx.fd.vfioUnmapDma({ flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: 0n, size: 0n });
        expect(all.errno).toBe(0);
        expect(all.out.size).toBe(BUFFER_SIZE);
        // Small pages, unmapped one by one in random order.
        const iovas: bigint[] = [];
        for (let i = 0n; i < BUFFER_SIZE / PAGE; i++) {
          iovas.push(MOCK_APERTURE_START + i * PAGE);
          expect(fx.fd.vfioMapDma({ flags: MAP_RW, vaddr: fx.buffer + i * PAGE, size: PAGE, iova: MOCK_APERTURE_START + i * PAGE }).errno).toBe(0);
        }
        for (const iova of shuffle(iovas)) {
          const r = fx.fd.vfioUnmapDma({ flags: 0, iova, size: PAGE });
          expect(r.errno).toBe(0);
          expect(r.out.size).toBe(PAGE);
        }
        expect(checkInvariants(fx.sim)).toEqual([]);
      });

      it('huge_map', () => {
        const size = 2n * HUGEPAGE_SIZE;
        expect(fx.fd.vfioMapDma({ flags: MAP_RW, vaddr: fx.buffer, size, iova: MOCK_APERTURE_START }).errno).toBe(0);
        const piece = size / 16n;
        const iovas = shuffle(Array.from({ length: 16 }, (_, i) => MOCK_APERTURE_START + BigInt(i) * piece));
        for (const iova of iovas) {
          const r = fx.fd.vfioUnmapDma({ flags: 0, iova, size: piece });
          if (variant.version === VFIO_TYPE1_IOMMU) {
            // type1 mode can cut up larger mappings
            expect(r.errno).toBe(0);
            expect(r.out.size).toBe(piece);
          } else {
            // type1v2 always fails: the range cuts the area (nothing removed, size 0 written back)
            expect(r.errno).toBe(ENOENT);
            expect(r.out.size).toBe(0n);
          }
        }
        expect(checkInvariants(fx.sim)).toEqual([]);
      });
    });
  }
});

// ---------------------------------------------------------------- errno rules of each compat ioctl

describe('vfio_compat: errnos', () => {
  let fx: CompatFx;
  let w: Watch;
  const setup = (o: Parameters<typeof compatSetup>[0] = {}) => {
    const sim = newSim();
    w = watchInvariants(sim);
    fx = compatSetup({ sim, ...o });
    return fx;
  };
  afterEach(() => {
    closeAll(fx);
    w.expectClean();
    expect(leftovers(fx.sim)).toEqual([]);
  });

  it('VFIO_GET_API_VERSION returns VFIO_API_VERSION (0), with or without a compat IOAS; any argument', () => {
    setup({ device: false });
    expect(fx.fd.vfioIoas({ op: IOMMU_VFIO_IOAS_CLEAR, ioas_id: 0 }).errno).toBe(0);
    const r = fx.fd.vfioGetApiVersion();
    expect(r.errno).toBe(0);
    expect(r.ret).toBe(0);
    expect(fx.p.ioctl(fx.fd.fd, VFIO_GET_API_VERSION, scalarArg(1234)).errno).toBe(0);
  });

  it('VFIO_CHECK_EXTENSION: 1 for TYPE1, TYPE1v2, UNMAP_ALL; 0 for NESTING, UPDATE_VADDR, NOIOMMU, SPAPR, unknown; needs no compat IOAS', () => {
    setup({ device: false });
    fx.fd.vfioIoas({ op: IOMMU_VFIO_IOAS_CLEAR, ioas_id: 0 });
    const ext = (t: number) => fx.fd.vfioCheckExtension(t);
    for (const t of [VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU, VFIO_UNMAP_ALL]) expect(ext(t)).toMatchObject({ errno: 0, ret: 1 });
    for (const t of [VFIO_TYPE1_NESTING_IOMMU, VFIO_UPDATE_VADDR, VFIO_NOIOMMU_IOMMU, VFIO_SPAPR_TCE_IOMMU, 0, 99]) expect(ext(t), `type ${t}`).toMatchObject({ errno: 0, ret: 0 });
    // The argument is the value itself: an empty argument is type 0; an 8-byte value above 32 bits is not TYPE1.
    expect(fx.p.ioctl(fx.fd.fd, VFIO_CHECK_EXTENSION, new Uint8Array(0)).ret).toBe(0);
    expect(fx.p.ioctl(fx.fd.fd, VFIO_CHECK_EXTENSION, scalarArg((1n << 32n) | 1n)).ret).toBe(0);
    expect(fx.p.ioctl(fx.fd.fd, VFIO_CHECK_EXTENSION, new Uint8Array([VFIO_TYPE1v2_IOMMU])).ret).toBe(1);
  });

  it('VFIO_CHECK_EXTENSION(DMA_CC_IOMMU) needs the compat IOAS (ENODEV) and answers from its paging HWPTs', () => {
    setup();
    const cc = fx.fd.vfioCheckExtension(VFIO_DMA_CC_IOMMU);
    expect(cc.errno).toBe(0);
    expect([0, 1]).toContain(cc.ret);
    fx.fd.vfioIoas({ op: IOMMU_VFIO_IOAS_CLEAR, ioas_id: 0 });
    expect(fx.fd.vfioCheckExtension(VFIO_DMA_CC_IOMMU)).toMatchObject({ errno: ENODEV, ret: -1 });
  });

  it('VFIO_SET_IOMMU: only TYPE1/TYPE1v2 (EINVAL first), then ENODEV without a compat IOAS', () => {
    setup({ device: false });
    fx.fd.vfioIoas({ op: IOMMU_VFIO_IOAS_CLEAR, ioas_id: 0 });
    for (const t of [0, VFIO_SPAPR_TCE_IOMMU, VFIO_NOIOMMU_IOMMU, VFIO_TYPE1_NESTING_IOMMU, 99]) expect(fx.fd.vfioSetIommu(t).errno, `type ${t}`).toBe(EINVAL);
    expect(fx.fd.vfioSetIommu(VFIO_TYPE1v2_IOMMU).errno).toBe(ENODEV);
    expect(fx.fd.vfioSetIommu(VFIO_TYPE1_IOMMU).errno).toBe(ENODEV);
    expect(fx.fd.vfioIoas({ op: IOMMU_VFIO_IOAS_SET, ioas_id: fx.ioas }).errno).toBe(0);
    expect(fx.fd.vfioSetIommu(VFIO_TYPE1v2_IOMMU).errno).toBe(0);
    // Set twice, either way round: TYPE1 disables large pages, TYPE1v2 does not re-enable them.
    expect(fx.fd.vfioSetIommu(VFIO_TYPE1_IOMMU).errno).toBe(0);
    expect(fx.fd.vfioSetIommu(VFIO_TYPE1v2_IOMMU).errno).toBe(0);
    expect(fx.fd.option({ option_id: IOMMU_OPTION_HUGE_PAGES, op: IOMMU_OPTION_OP_GET, object_id: fx.ioas, val64: 0n }).out.val64).toBe(0n);
  });

  it('VFIO_SET_IOMMU(TYPE1) once a domain has mappings: EINVAL (iopt_disable_large_pages); without a domain it is fine', () => {
    setup({ version: VFIO_TYPE1v2_IOMMU });
    expect(fx.fd.vfioMapDma({ flags: MAP_RW, vaddr: fx.buffer, size: PAGE, iova: MOCK_APERTURE_START }).errno).toBe(0);
    expect(fx.fd.vfioSetIommu(VFIO_TYPE1_IOMMU).errno).toBe(EINVAL);
    // No device: mappings do not stop it.
    const ioas2 = fx.fd.ioasAlloc().out.out_ioas_id;
    expect(fx.fd.vfioIoas({ op: IOMMU_VFIO_IOAS_SET, ioas_id: ioas2 }).errno).toBe(0);
    expect(fx.fd.vfioMapDma({ flags: MAP_RW, vaddr: fx.buffer, size: PAGE, iova: PAGE }).errno).toBe(0);
    expect(fx.fd.vfioSetIommu(VFIO_TYPE1_IOMMU).errno).toBe(0);
  });

  it('every container ioctl but API_VERSION/CHECK_EXTENSION is ENODEV without a compat IOAS (after argsz/flags checks)', () => {
    setup({ device: false });
    fx.fd.vfioIoas({ op: IOMMU_VFIO_IOAS_CLEAR, ioas_id: 0 });
    expect(fx.fd.vfioIoas({ op: IOMMU_VFIO_IOAS_GET, ioas_id: 0 }).errno).toBe(ENODEV);
    expect(fx.fd.vfioGetInfo(24).errno).toBe(ENODEV);
    expect(fx.fd.vfioMapDma({ flags: MAP_RW, vaddr: fx.buffer, size: PAGE, iova: PAGE }).errno).toBe(ENODEV);
    expect(fx.fd.vfioUnmapDma({ flags: 0, iova: PAGE, size: PAGE }).errno).toBe(ENODEV);
    expect(fx.fd.vfioGetInfo(15).errno).toBe(EINVAL);
    expect(fx.fd.vfioMapDma({ flags: VFIO_DMA_MAP_FLAG_VADDR, vaddr: fx.buffer, size: PAGE, iova: PAGE }).errno).toBe(EINVAL);
    expect(fx.fd.vfioUnmapDma({ flags: VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, iova: PAGE, size: PAGE }).errno).toBe(EINVAL);
    // A destroyed compat IOAS is forgotten.
    expect(fx.fd.vfioIoas({ op: IOMMU_VFIO_IOAS_SET, ioas_id: fx.ioas }).errno).toBe(0);
    expect(fx.fd.destroy(fx.ioas).errno).toBe(0);
    expect(fx.fd.vfioGetInfo(24).errno).toBe(ENODEV);
  });

  it('argsz below minsz is EINVAL; an argument shorter than minsz faults (EFAULT) before anything else', () => {
    setup({ version: VFIO_TYPE1v2_IOMMU });
    const map = (argsz: number, flags = MAP_RW) => fx.fd.vfioMapDma({ argsz, flags, vaddr: fx.buffer, size: PAGE, iova: MOCK_APERTURE_START });
    expect(map(31).errno).toBe(EINVAL);
    expect(map(0).errno).toBe(EINVAL);
    expect(map(32, 1 << 3).errno).toBe(EINVAL);
    expect(fx.fd.vfioUnmapDma({ argsz: 23, flags: 0, iova: 0n, size: 0n }).errno).toBe(EINVAL);
    expect(fx.fd.vfioUnmapDma({ flags: 1 << 3, iova: 0n, size: 0n }).errno).toBe(EINVAL);
    const short = (cmd: number, n: number) => fx.p.ioctl(fx.fd.fd, cmd, new Uint8Array(n)).errno;
    expect(short(VFIO_IOMMU_GET_INFO, 15)).toBe(EFAULT);
    expect(short(VFIO_IOMMU_MAP_DMA, 31)).toBe(EFAULT);
    expect(short(VFIO_IOMMU_UNMAP_DMA, 23)).toBe(EFAULT);
    // A larger argsz is fine (extra bytes ignored).
    expect(map(4096).errno).toBe(0);
  });

  it('GET_INFO faults (EFAULT) when a cap lands beyond the writable bytes', () => {
    setup({ version: VFIO_TYPE1v2_IOMMU });
    const arg = new Uint8Array(30);
    new DataView(arg.buffer).setUint32(0, 72, true);
    expect(fx.p.ioctl(fx.fd.fd, VFIO_IOMMU_GET_INFO, arg).errno).toBe(EFAULT);
  });

  it('MAP_DMA: fixed IOVA semantics (EEXIST overlap, EINVAL reserved/unaligned, EINVAL 0 size); no R/W flag is accepted', () => {
    setup({ version: VFIO_TYPE1v2_IOMMU });
    const map = (iova: bigint, size: bigint, flags = MAP_RW, vaddr = fx.buffer) => fx.fd.vfioMapDma({ flags, vaddr, size, iova }).errno;
    expect(map(MOCK_APERTURE_START, 4n * PAGE)).toBe(0);
    expect(map(MOCK_APERTURE_START + PAGE, PAGE)).toBe(17 /* EEXIST */);
    expect(map(PAGE, PAGE)).toBe(EINVAL); // below the mock aperture: reserved
    expect(map(MOCK_APERTURE_START + 8n * PAGE + 1024n, PAGE)).toBe(EINVAL); // not iova_alignment aligned
    expect(map(MOCK_APERTURE_START + 8n * PAGE, 0n)).toBe(EINVAL);
    expect(map(MOCK_APERTURE_START + 8n * PAGE, PAGE, 0)).toBe(0);
    expect(map(MOCK_APERTURE_START + 9n * PAGE, PAGE, VFIO_DMA_MAP_FLAG_READ)).toBe(0);
    expect(map(MOCK_APERTURE_START + 10n * PAGE, PAGE, MAP_RW, 0xdead0000n)).toBe(EFAULT);
    const all = fx.fd.vfioUnmapDma({ flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: 0n, size: 0n });
    expect(all.out.size).toBe(6n * PAGE);
  });

  it('UNMAP_DMA (TYPE1v2): cutting an area is ENOENT with size 0 written back; whole areas go; EINVAL for size 0', () => {
    setup({ version: VFIO_TYPE1v2_IOMMU });
    expect(fx.fd.vfioMapDma({ flags: MAP_RW, vaddr: fx.buffer, size: 4n * PAGE, iova: MOCK_APERTURE_START }).errno).toBe(0);
    expect(fx.fd.vfioMapDma({ flags: MAP_RW, vaddr: fx.buffer, size: 4n * PAGE, iova: MOCK_APERTURE_START + 4n * PAGE }).errno).toBe(0);
    const cut = fx.fd.vfioUnmapDma({ flags: 0, iova: MOCK_APERTURE_START + PAGE, size: PAGE });
    expect(cut).toMatchObject({ errno: ENOENT });
    expect(cut.out).toMatchObject({ argsz: 24, flags: 0, iova: MOCK_APERTURE_START + PAGE, size: 0n });
    // Not atomic: the first area goes, the second is cut → ENOENT with size = the first.
    const half = fx.fd.vfioUnmapDma({ flags: 0, iova: MOCK_APERTURE_START, size: 6n * PAGE });
    expect(half.errno).toBe(ENOENT);
    expect(half.out.size).toBe(4n * PAGE);
    expect(fx.fd.vfioUnmapDma({ flags: 0, iova: MOCK_APERTURE_START, size: 0n }).errno).toBe(EINVAL);
    expect(fx.fd.vfioUnmapDma({ flags: 0, iova: MOCK_APERTURE_START + 4n * PAGE, size: 4n * PAGE }).out.size).toBe(4n * PAGE);
  });

  it('UNMAP_DMA (TYPE1): cuts inside areas, both ends; unaligned cut EINVAL without write-back; iova 0 needs no lower cut', () => {
    setup({ version: VFIO_TYPE1_IOMMU });
    expect(fx.fd.vfioMapDma({ flags: MAP_RW, vaddr: fx.buffer, size: 16n * PAGE, iova: MOCK_APERTURE_START }).errno).toBe(0);
    const mid = fx.fd.vfioUnmapDma({ flags: 0, iova: MOCK_APERTURE_START + 4n * PAGE, size: 2n * PAGE });
    expect(mid.errno).toBe(0);
    expect(mid.out.size).toBe(2n * PAGE);
    // A range over a hole and two partial areas: both cut, both middle pieces go.
    const over = fx.fd.vfioUnmapDma({ flags: 0, iova: MOCK_APERTURE_START + 3n * PAGE, size: 4n * PAGE });
    expect(over.out.size).toBe(2n * PAGE);
    const bad = fx.fd.vfioUnmapDma({ flags: 0, iova: MOCK_APERTURE_START + 8n * PAGE + 100n, size: PAGE });
    expect(bad.errno).toBe(EINVAL);
    expect(bad.out.size).toBe(PAGE); // untouched: no write-back after a failed cut
    expect(fx.fd.vfioUnmapDma({ flags: 0, iova: MOCK_APERTURE_START, size: PAGE }).out.size).toBe(PAGE);
    expect(fx.fd.vfioUnmapDma({ flags: 0, iova: 0n, size: MOCK_APERTURE_START + 9n * PAGE }).out.size).toBe(4n * PAGE);
    expect(fx.fd.vfioUnmapDma({ flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: 0n, size: 0n }).out.size).toBe(7n * PAGE);
    expect(checkInvariants(fx.sim)).toEqual([]);
  });

  it('TYPE1 cuts keep DMA working on the remaining pieces and faulting on the removed one', () => {
    setup({ version: VFIO_TYPE1_IOMMU, device: 'vfio' });
    fx.p.poke(fx.buffer + 5n * PAGE, new TextEncoder().encode('piece5'));
    expect(fx.fd.vfioMapDma({ flags: MAP_RW, vaddr: fx.buffer, size: 8n * PAGE, iova: MOCK_APERTURE_START }).errno).toBe(0);
    expect(fx.fd.vfioUnmapDma({ flags: 0, iova: MOCK_APERTURE_START + 2n * PAGE, size: PAGE }).errno).toBe(0);
    const [gone, kept] = fx.sim.dma('vmock0', [
      { iova: MOCK_APERTURE_START + 2n * PAGE, length: 4, write: false },
      { iova: MOCK_APERTURE_START + 5n * PAGE, length: 6, write: false },
    ]);
    expect(gone!.ok).toBe(false);
    expect(kept!.ok).toBe(true);
    expect(new TextDecoder().decode(kept!.data)).toBe('piece5');
  });

  it('anything else below the iommufd table is ENOTTY (DIRTY_PAGES, wrong size bits, other numbers)', () => {
    setup({ version: VFIO_TYPE1v2_IOMMU });
    const VFIO_IOMMU_DIRTY_PAGES = _IO(VFIO_TYPE, VFIO_BASE + 17);
    for (const cmd of [VFIO_IOMMU_DIRTY_PAGES, _IO(VFIO_TYPE, VFIO_BASE + 3), _IO(VFIO_TYPE, 0x10), (VFIO_SET_IOMMU | (8 << 16)) >>> 0, (VFIO_IOMMU_MAP_DMA | (32 << 16)) >>> 0]) {
      expect(fx.p.ioctl(fx.fd.fd, cmd, pack(S.vfio_iommu_type1_dma_map, { argsz: 32, flags: 0, vaddr: 0n, iova: 0n, size: 0n })).errno, `cmd 0x${cmd.toString(16)}`).toBe(ENOTTY);
    }
  });

  it('a compat IOAS without any device: map/unmap work with no domain, nothing pinned', () => {
    setup({ device: false, version: VFIO_TYPE1_IOMMU });
    expect(fx.fd.vfioMapDma({ flags: MAP_RW, vaddr: fx.buffer, size: 8n * PAGE, iova: PAGE }).errno).toBe(0);
    expect(fx.fd.vfioUnmapDma({ flags: 0, iova: 3n * PAGE, size: PAGE }).out.size).toBe(PAGE);
    const info = getInfoRaw(fx, 128);
    expect(u64(info.buf, 8)).toBe(~(PAGE - 1n) & ((1n << 64n) - 1n));
    expect(fx.fd.vfioUnmapDma({ flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: 0n, size: 0n }).out.size).toBe(7n * PAGE);
  });
});

/**
 * IOMMU_HWPT_INVALIDATE against user memory that stops being readable part
 * way through the array, on the mock (raw ABI).  iommufd_hwpt_invalidate
 * copies nothing itself; the driver reads the array:
 *
 * - nested HWPT, mock_domain_cache_invalidate_user: one entry at a time
 *   (iommu_copy_struct_from_user_array), so the entries before the first
 *   unreadable one take effect and entry_num comes back as their count;
 * - vIOMMU, mock_viommu_cache_invalidate: the whole array first
 *   (iommu_copy_struct_from_full_user_array), so a fault anywhere fails with
 *   nothing done and entry_num 0.
 *
 * Both check the data type (and the per-entry helper the entry length)
 * before reading, so a bad type on an unreadable pointer is EINVAL, not
 * EFAULT.  Each scenario runs twice journaled and replays.
 */
import { describe, expect, it } from 'vitest';
import { EFAULT, EINVAL, ENOMEM, EOPNOTSUPP } from '../../uapi/errno.ts';
import { encodeArray, pack } from '../../uapi/layout.ts';
import * as E from '../../uapi/enums.ts';
import * as S from '../../uapi/structs.ts';
import { PAGE, raw, scenario, setup, type H } from '../core/helpers.ts';
import { checkDevCache, checkIotlb, hwptAllocOk, memoryLimit, mockDomain, type MockDev } from './helpers.ts';

const IOTLB_DEFAULT = E.IOMMU_TEST_IOTLB_DEFAULT;
const DEV_CACHE_DEFAULT = E.IOMMU_TEST_DEV_CACHE_DEFAULT;

interface Fx {
  h: H;
  dev: MockDev;
  parent: number;
  nested: number;
  /** The first byte of a page followed by an unmapped page (a guard). */
  guard: bigint;
}

function setupFx(h: H): Fx {
  expect(memoryLimit(h, E.MOCK_TEMP_MEMORY_LIMIT_DEFAULT)).toBe(0);
  const ioas = raw<typeof S.iommu_ioas_alloc>(h, 'IOMMU_IOAS_ALLOC', {}).out.out_ioas_id;
  const dev = mockDomain(h, ioas);
  const parent = hwptAllocOk(h, { dev: dev.idev, pt: ioas, flags: E.IOMMU_HWPT_ALLOC_NEST_PARENT });
  const nested = hwptAllocOk(h, {
    dev: dev.idev, pt: parent, dataType: E.IOMMU_HWPT_DATA_SELFTEST,
    data: pack(S.iommu_hwpt_selftest, { iotlb: IOTLB_DEFAULT, pagetable_type: 0 }),
  });
  // Two pages, the second unmapped: the array runs off the end of the first into nothing.
  const base = h.p.mmap({ length: 2n * PAGE });
  expect(h.p.munmap(base + PAGE, PAGE)).toBe(0);
  return { h, dev, parent, nested, guard: base + PAGE };
}

function hwptEntries(entries: { flags?: number; iotlb_id: number }[]): Uint8Array {
  const buf = new Uint8Array(entries.length * S.iommu_hwpt_invalidate_selftest.size);
  encodeArray(S.iommu_hwpt_invalidate_selftest, entries.map((e) => ({ flags: 0, ...e })), buf);
  return buf;
}

function invalidate(h: H, id: number, o: { uptr: bigint; dataType: number; entryLen: number; num: number }): [number, number] {
  const r = raw<typeof S.iommu_hwpt_invalidate>(h, 'IOMMU_HWPT_INVALIDATE', {
    hwpt_id: id, data_uptr: o.uptr, data_type: o.dataType, entry_len: o.entryLen, entry_num: o.num,
  });
  return [r.errno, r.out.entry_num];
}

function iotlb(f: Fx): number[] {
  const out: number[] = [];
  for (let i = 0; i < E.MOCK_NESTED_DOMAIN_IOTLB_NUM; i++) {
    // check_iotlb answers 0 when the slot holds the value asked about
    out.push(checkIotlb(f.h, f.nested, i, 0) === 0 ? 0 : checkIotlb(f.h, f.nested, i, IOTLB_DEFAULT) === 0 ? IOTLB_DEFAULT : -1);
  }
  return out;
}

describe('HWPT_INVALIDATE on a mock nested HWPT reads one entry at a time', () => {
  const SELFTEST = E.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST;
  const LEN = S.iommu_hwpt_invalidate_selftest.size;

  scenario('entries up to the unreadable one take effect; entry_num is their count', (h) => {
    const f = setupFx(h);
    // Two readable entries (slots 0 and 1) end exactly at the guard page; entry_num claims five.
    const uptr = f.guard - 2n * BigInt(LEN);
    expect(h.p.poke(uptr, hwptEntries([{ iotlb_id: 0 }, { iotlb_id: 1 }]))).toBe(0);
    expect(invalidate(h, f.nested, { uptr, dataType: SELFTEST, entryLen: LEN, num: 5 })).toEqual([EFAULT, 2]);
    expect(iotlb(f)).toEqual([0, 0, IOTLB_DEFAULT, IOTLB_DEFAULT]);
    // The same two entries with the count they really have: no fault.
    expect(invalidate(h, f.nested, { uptr, dataType: SELFTEST, entryLen: LEN, num: 2 })).toEqual([0, 2]);
  });

  scenario('an entry straddling the guard page faults as a whole', (h) => {
    const f = setupFx(h);
    // Entry 0 readable, entry 1 half on the guard page: only entry 0 ran.
    const uptr = f.guard - BigInt(LEN) - 4n;
    expect(h.p.poke(uptr, hwptEntries([{ iotlb_id: 3 }]))).toBe(0);
    expect(h.p.poke(f.guard - 4n, new Uint8Array(4))).toBe(0);
    expect(invalidate(h, f.nested, { uptr, dataType: SELFTEST, entryLen: LEN, num: 2 })).toEqual([EFAULT, 1]);
    expect(iotlb(f)).toEqual([IOTLB_DEFAULT, IOTLB_DEFAULT, IOTLB_DEFAULT, 0]);
  });

  scenario('a bad entry before the fault stops the batch there, with its own errno', (h) => {
    const f = setupFx(h);
    const uptr = f.guard - 2n * BigInt(LEN);
    expect(h.p.poke(uptr, hwptEntries([{ iotlb_id: 2 }, { iotlb_id: 0, flags: 0x80 }]))).toBe(0);
    expect(invalidate(h, f.nested, { uptr, dataType: SELFTEST, entryLen: LEN, num: 4 })).toEqual([EOPNOTSUPP, 1]);
    expect(iotlb(f)).toEqual([IOTLB_DEFAULT, IOTLB_DEFAULT, 0, IOTLB_DEFAULT]);
  });

  scenario('nothing readable: EFAULT, 0; type and entry length are checked before any read (EINVAL)', (h) => {
    const f = setupFx(h);
    expect(invalidate(h, f.nested, { uptr: f.guard, dataType: SELFTEST, entryLen: LEN, num: 1 })).toEqual([EFAULT, 0]);
    expect(invalidate(h, f.nested, { uptr: f.guard, dataType: E.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID, entryLen: LEN, num: 1 }))
      .toEqual([EINVAL, 0]);
    expect(invalidate(h, f.nested, { uptr: f.guard, dataType: SELFTEST, entryLen: LEN + 1, num: 1 })).toEqual([EINVAL, 0]);
    expect(invalidate(h, f.nested, { uptr: f.guard, dataType: SELFTEST, entryLen: 3, num: 1 })).toEqual([EINVAL, 0]);
    // entry_num 0 reads nothing, wherever the pointer points
    expect(invalidate(h, f.nested, { uptr: f.guard, dataType: SELFTEST, entryLen: LEN, num: 0 })).toEqual([0, 0]);
    expect(iotlb(f)).toEqual([IOTLB_DEFAULT, IOTLB_DEFAULT, IOTLB_DEFAULT, IOTLB_DEFAULT]);
  });

  scenario('the array is read when the driver runs: memory unmapped after a first call faults the second', (h) => {
    const f = setupFx(h);
    const page = h.p.mmap({ length: PAGE });
    expect(h.p.poke(page, hwptEntries([{ iotlb_id: 1 }]))).toBe(0);
    expect(invalidate(h, f.nested, { uptr: page, dataType: SELFTEST, entryLen: LEN, num: 1 })).toEqual([0, 1]);
    expect(h.p.munmap(page, PAGE)).toBe(0);
    expect(invalidate(h, f.nested, { uptr: page, dataType: SELFTEST, entryLen: LEN, num: 1 })).toEqual([EFAULT, 0]);
  });
});

describe('HWPT_INVALIDATE on the mock vIOMMU copies the whole array first', () => {
  const VSELFTEST = E.IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST;
  const VLEN = S.iommu_viommu_invalidate_selftest.size;
  const VIRT = 0x99n;

  function viommuFx(h: H): Fx & { viommu: number } {
    const f = setupFx(h);
    const v = raw<typeof S.iommu_viommu_alloc>(h, 'IOMMU_VIOMMU_ALLOC', {
      flags: 0, type: E.IOMMU_VIOMMU_TYPE_SELFTEST, dev_id: f.dev.idev, hwpt_id: f.parent, data_len: 0, data_uptr: 0n,
    });
    expect(v.errno).toBe(0);
    const vd = raw<typeof S.iommu_vdevice_alloc>(h, 'IOMMU_VDEVICE_ALLOC', { viommu_id: v.out.out_viommu_id, dev_id: f.dev.idev, virt_id: VIRT });
    expect(vd.errno).toBe(0);
    return { ...f, viommu: v.out.out_viommu_id };
  }

  function cmds(ids: number[]): Uint8Array {
    const buf = new Uint8Array(ids.length * VLEN);
    encodeArray(S.iommu_viommu_invalidate_selftest, ids.map((cache_id) => ({ flags: 0, vdev_id: Number(VIRT), cache_id })), buf);
    return buf;
  }

  const devCache = (f: Fx) => [0, 1, 2, 3].map((i) => (checkDevCache(f.h, f.dev.idev, i, 0) === 0 ? 0 : checkDevCache(f.h, f.dev.idev, i, DEV_CACHE_DEFAULT) === 0 ? DEV_CACHE_DEFAULT : -1));

  scenario('a fault anywhere in the array: EFAULT, entry_num 0, no cache touched', (h) => {
    const f = viommuFx(h);
    const uptr = f.guard - 2n * BigInt(VLEN);
    expect(h.p.poke(uptr, cmds([0, 1]))).toBe(0);
    expect(invalidate(h, f.viommu, { uptr, dataType: VSELFTEST, entryLen: VLEN, num: 3 })).toEqual([EFAULT, 0]);
    expect(devCache(f)).toEqual([DEV_CACHE_DEFAULT, DEV_CACHE_DEFAULT, DEV_CACHE_DEFAULT, DEV_CACHE_DEFAULT]);
    // a shorter entry length takes the item-by-item path: the fault is still before anything runs
    expect(invalidate(h, f.viommu, { uptr: f.guard - 8n, dataType: VSELFTEST, entryLen: 8, num: 2 })).toEqual([EFAULT, 0]);
    expect(invalidate(h, f.viommu, { uptr, dataType: VSELFTEST, entryLen: VLEN, num: 2 })).toEqual([0, 2]);
    expect(devCache(f)).toEqual([0, 0, DEV_CACHE_DEFAULT, DEV_CACHE_DEFAULT]);
  });

  it('its kcalloc is a fail_nth point: ENOMEM with the caller\'s own entry_num (the driver never wrote it); the HWPT path allocates nothing', () => {
    const h = setup();
    const f = viommuFx(h);
    const uptr = f.guard - 2n * BigInt(VLEN);
    expect(h.p.poke(uptr, cmds([0, 1]))).toBe(0);
    const hwptUptr = f.guard - PAGE;
    expect(h.p.poke(hwptUptr, hwptEntries([{ iotlb_id: 0 }]))).toBe(0);
    // Armed between two system calls, as writing /proc/self/task/<tid>/fail-nth does.
    const world = h.sim.world;
    world.config.failNth = 1;
    world.failCount = 0;
    expect(invalidate(h, f.nested, { uptr: hwptUptr, dataType: E.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, entryLen: 8, num: 1 })).toEqual([0, 1]);
    expect(world.failCount).toBe(0);
    // the zero-entry probe returns before the allocation
    expect(invalidate(h, f.viommu, { uptr, dataType: VSELFTEST, entryLen: VLEN, num: 0 })).toEqual([0, 0]);
    expect(world.failCount).toBe(0);
    expect(invalidate(h, f.viommu, { uptr, dataType: VSELFTEST, entryLen: VLEN, num: 2 })).toEqual([ENOMEM, 2]);
    expect(world.failCount).toBe(1);
    world.config.failNth = 0;
    expect(devCache(f)).toEqual([DEV_CACHE_DEFAULT, DEV_CACHE_DEFAULT, DEV_CACHE_DEFAULT, DEV_CACHE_DEFAULT]);
    expect(invalidate(h, f.viommu, { uptr, dataType: VSELFTEST, entryLen: VLEN, num: 2 })).toEqual([0, 2]);
    expect(devCache(f)).toEqual([0, 0, DEV_CACHE_DEFAULT, DEV_CACHE_DEFAULT]);
  });

  scenario('the type is checked before the copy: EINVAL on an unreadable pointer; entry_num 0 is the probe', (h) => {
    const f = viommuFx(h);
    expect(invalidate(h, f.viommu, { uptr: f.guard, dataType: E.IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID, entryLen: VLEN, num: 1 }))
      .toEqual([EINVAL, 0]);
    expect(invalidate(h, f.viommu, { uptr: f.guard, dataType: VSELFTEST, entryLen: VLEN, num: 1 })).toEqual([EFAULT, 0]);
    expect(invalidate(h, f.viommu, { uptr: f.guard, dataType: VSELFTEST, entryLen: VLEN, num: 0 })).toEqual([0, 0]);
  });
});

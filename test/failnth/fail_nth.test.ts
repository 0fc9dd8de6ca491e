/**
 * iommufd_fail_nth (mock-and-selftest §3.9) through the raw ABI: a scenario
 * is run with `config.failNth = N` for N = 1, 2, 3 … (armed after the
 * fixture's setup, like writing /proc/self/task/<tid>/fail-nth), each call
 * stopping the scenario at its first error (the C test's `return -1`), until
 * a run in which the injection was not consumed; that run must succeed
 * completely.  Every injected run must fail cleanly — the failing call's
 * errno is ENOMEM (or another errno the kernel gives for that point) — and,
 * once every fd is closed, leave nothing behind: no object actor, no pinned
 * page, nothing charged, no iopt_pages, no device bound or attached, no
 * hardware domain, no dead letter; the invariants of actors/invariants.ts
 * hold after every delivery of every run.
 *
 * Devices are real VFIO cdev devices of the topology (the selftest uses
 * IOMMU_TEST_OP_MOCK_DOMAIN; `vmock0` is a VFIO device behind the mock IOMMU).
 */
import { describe, expect, it } from 'vitest';
import { Simulation } from '../../actors/sim.ts';
import { openVfio, spawnProc, type Iommufd, type Proc, type VfioDevice } from '../../actors/api.ts';
import { EFAULT, ENOMEM } from '../../uapi/errno.ts';
import {
  IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE, IOMMU_VFIO_IOAS_SET, VFIO_TYPE1_IOMMU,
  VFIO_DMA_UNMAP_FLAG_ALL,
} from '../../uapi/enums.ts';
import { closeAll, compatTopology, leftovers, MOCK_APERTURE_START, VMOCK_INDEX } from '../compat/fixture.ts';
import { watchInvariants } from '../invariants/checker.ts';
import {
  accessPages, accessRw, createAccessErr, destroyAccessPages, hwptAlloc, memoryLimit, mockDomainErr, mockDomainReplace,
  pasidAttach, pasidDetach, pasidReplace,
} from '../selftest/helpers.ts';
import * as E from '../../uapi/enums.ts';
import { pack } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import type { H } from '../core/helpers.ts';
import { MOCK_ACCESS_RW_SLOW_PATH, MOCK_ACCESS_RW_WRITE, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES } from '../../uapi/enums.ts';

const RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
const FIXED = IOMMU_IOAS_MAP_FIXED_IOVA;
const PAGE = 4096n;
const KiB = 1024n;
const BUFFER_SIZE = 2n << 20n;
const MAX_RUNS = 1000;

interface Env {
  sim: Simulation;
  p: Proc;
  buffer: bigint;
  fd: Iommufd | null;
  s: Record<string, any>;
}

/** One call of a scenario: its errno (0 = success).  `ignore` calls do not stop the scenario. */
type Step = { what: string; run: (e: Env) => number; ignore?: boolean; allowed?: number[] };

interface Scenario {
  setup?: (e: Env) => void;
  steps: Step[];
}

interface RunResult {
  n: number;
  consumed: boolean;
  failed: { what: string; errno: number } | null;
  problems: string[];
}

function newEnv(): Env {
  const sim = new Simulation({ seed: 1, topology: compatTopology() });
  const p = spawnProc(sim, { uid: 1000, rlimitMemlock: 64 << 20 });
  const buffer = p.mmap({ length: BUFFER_SIZE, addr: 0x40000000n, shared: true });
  return { sim, p, buffer, fd: null, s: {} };
}

function runOnce(sc: Scenario, n: number): RunResult {
  const e = newEnv();
  const w = watchInvariants(e.sim);
  sc.setup?.(e);
  const problems: string[] = [];
  const world = e.sim.world;
  // Arm fail_nth between two system calls (no delivery is running).
  world.config.failNth = n;
  world.failCount = 0;
  let failed: RunResult['failed'] = null;
  for (const st of sc.steps) {
    const errno = st.run(e);
    if (errno === 0 || st.ignore) continue;
    failed = { what: st.what, errno };
    const allowed = st.allowed ?? [ENOMEM];
    if (!allowed.includes(errno)) problems.push(`N=${n}: '${st.what}' failed with errno ${errno}, not ${allowed.join('/')}`);
    break;
  }
  const consumed = n > 0 && world.failCount >= n;
  world.config.failNth = 0;
  closeAll(e);
  for (const m of leftovers(e.sim)) problems.push(`N=${n}${failed ? ` (failed at '${failed.what}')` : ''}: ${m}`);
  for (const m of w.violations) problems.push(`N=${n}: invariant: ${m}`);
  w.stop();
  return { n, consumed, failed, problems };
}

/** The sweep: returns the N of the clean final run (= number of failpoints the scenario passes + 1). */
function sweep(sc: Scenario): { last: number; failures: Record<string, number> } {
  const base = runOnce(sc, 0);
  expect(base.problems, 'baseline run').toEqual([]);
  expect(base.failed, 'baseline run must succeed').toBeNull();
  const failures: Record<string, number> = {};
  for (let n = 1; n <= MAX_RUNS; n++) {
    const r = runOnce(sc, n);
    expect(r.problems).toEqual([]);
    if (!r.consumed) {
      expect(r.failed, `N=${n}: the injection was not consumed, so every call must succeed`).toBeNull();
      return { last: n, failures };
    }
    // A consumed injection that no call reports would be an allocation failure the model ignored.
    expect(r.failed, `N=${n}: the injected failure was consumed but every call succeeded`).not.toBeNull();
    const key = `${r.failed!.what}:${r.failed!.errno}`;
    failures[key] = (failures[key] ?? 0) + 1;
  }
  throw new Error(`more than ${MAX_RUNS} runs`);
}

// ---------------------------------------------------------------- steps

const fdOf = (e: Env): Iommufd => e.fd!;

const open: Step = {
  what: 'open /dev/iommu',
  run: (e) => {
    const fd = e.p.open('/dev/iommu');
    if (fd < 0) return -fd;
    e.fd = e.p.iommufd(fd);
    return 0;
  },
};

function ioasAlloc(key = 'ioas'): Step {
  return {
    what: `IOAS_ALLOC (${key})`,
    run: (e) => {
      const r = fdOf(e).ioasAlloc();
      e.s[key] = r.out.out_ioas_id;
      return r.errno;
    },
  };
}

function mapFixed(what: string, o: { ioas?: string; iova: bigint; length: bigint; offset?: bigint }): Step {
  return {
    what,
    run: (e) => fdOf(e).ioasMap({ ioas_id: e.s[o.ioas ?? 'ioas'], flags: RW | FIXED, user_va: e.buffer + (o.offset ?? 0n), length: o.length, iova: o.iova }).errno,
  };
}

function vfioOpenBind(key: string, index: number): Step {
  return {
    what: `VFIO open + BIND_IOMMUFD (${key})`,
    run: (e) => {
      const v = openVfio(e.p, index);
      e.s[key] = v;
      const r = v.bind(fdOf(e));
      e.s[`${key}_id`] = r.out.out_devid;
      return r.errno;
    },
  };
}

function vfioAttach(key: string, pt: string): Step {
  return {
    what: `VFIO ATTACH_IOMMUFD_PT (${key} → ${pt})`,
    run: (e) => {
      const r = (e.s[key] as VfioDevice).attach(e.s[pt]);
      e.s[`${key}_pt`] = r.out.pt_id;
      return r.errno;
    },
  };
}

function vfioDetach(key: string): Step {
  return { what: `VFIO DETACH_IOMMUFD_PT (${key})`, run: (e) => (e.s[key] as VfioDevice).detach().errno };
}

function vfioClose(key: string): Step {
  return { what: `close VFIO fd (${key}: unbind)`, run: (e) => e.p.close((e.s[key] as VfioDevice).fd) };
}

/** Open, IOAS, one page mapped at a fixed IOVA in each IOAS listed: the common setup. */
function baseSetup(ioases: string[] = ['ioas']): (e: Env) => void {
  return (e) => {
    for (const st of [open, ...ioases.map((k) => ioasAlloc(k))]) expect(st.run(e), st.what).toBe(0);
  };
}

// ---------------------------------------------------------------- IOMMU_TEST_CMD steps (selftest.ts)

/** The test/core harness view of an Env, for the selftest helpers. */
const hOf = (e: Env): H => ({ sim: e.sim, p: e.p, fd: fdOf(e).fd, buffer: e.buffer });

function mockDomainStep(key: string, pt = 'ioas'): Step {
  return {
    what: `MOCK_DOMAIN (${key})`,
    run: (e) => {
      const r = mockDomainErr(hOf(e), e.s[pt]);
      e.s[key] = r.out.out_stdev_id;
      return r.errno;
    },
  };
}

function destroyStep(key: string): Step {
  return { what: `IOMMU_DESTROY ${key}`, run: (e) => fdOf(e).destroy(e.s[key]).errno };
}

function createAccessStep(flags: number): Step {
  return {
    what: `CREATE_ACCESS (flags ${flags})`,
    run: (e) => {
      const r = createAccessErr(hOf(e), e.s.ioas, flags);
      e.s.access = r.out.out_access_fd;
      return r.errno;
    },
  };
}

const closeAccess: Step = { what: 'close the access fd', run: (e) => e.p.close(e.s.access) };

/** open, IOAS, test memory limit 32 pages (test_ioctl_set_temp_memory_limit(32)). */
function mockSetup(extra?: (e: Env) => void): (e: Env) => void {
  return (e) => {
    baseSetup()(e);
    expect(memoryLimit(hOf(e), 32)).toBe(0);
    extra?.(e);
  };
}

// ---------------------------------------------------------------- scenarios

// Named as the catalogue names them: fixture basic_fail_nth of iommufd_fail_nth.c, test `basic` and the rest.
describe('basic_fail_nth', () => {
  const report: Record<string, number> = {};

  it('basic', () => {
    // Injection from the start: open, IOAS, IOVA_RANGES, ALLOW_IOVAS, auto map, COPY, unmap, unmap again.
    const sc: Scenario = {
      steps: [
        open,
        ioasAlloc(),
        { what: 'IOAS_IOVA_RANGES (10 slots)', run: (e) => fdOf(e).ioasIovaRanges(e.s.ioas, 10).errno },
        { what: 'IOAS_ALLOW_IOVAS', run: (e) => fdOf(e).ioasAllowIovas(e.s.ioas, [{ start: 16n * KiB, last: BUFFER_SIZE + 16n * KiB * 600n - 1n }]).errno },
        {
          what: 'IOAS_MAP (auto iova, 2 MiB)',
          run: (e) => {
            const r = fdOf(e).ioasMap({ ioas_id: e.s.ioas, flags: RW, user_va: e.buffer, length: BUFFER_SIZE, iova: 0n });
            e.s.iova = r.out.iova;
            return r.errno;
          },
        },
        { what: 'IOAS_COPY (160 bytes, auto dst)', run: (e) => fdOf(e).ioasCopy({ dst_ioas_id: e.s.ioas, src_ioas_id: e.s.ioas, flags: RW, length: 160n, src_iova: e.s.iova, dst_iova: 0n }).errno },
        { what: 'IOAS_UNMAP the buffer', run: (e) => fdOf(e).ioasUnmap({ ioas_id: e.s.ioas, iova: e.s.iova, length: BUFFER_SIZE }).errno },
        { what: 'IOAS_UNMAP again', run: (e) => fdOf(e).ioasUnmap({ ioas_id: e.s.ioas, iova: e.s.iova, length: BUFFER_SIZE }).errno, ignore: true },
        { what: 'IOMMU_DESTROY the IOAS', run: (e) => fdOf(e).destroy(e.s.ioas).errno },
      ],
    };
    const r = sweep(sc);
    report.basic_fail_nth = r.last;
    expect(r.last).toBeGreaterThan(5);
  });

  it('vfio_map_domain', () => {
    // IOAS; inject; device attached to the IOAS (auto domain); map 256 KiB; unbind; attach again (fills the new domain).
    const sc: Scenario = {
      setup: baseSetup(),
      steps: [
        vfioOpenBind('d', VMOCK_INDEX),
        vfioAttach('d', 'ioas'),
        mapFixed('IOAS_MAP 256 KiB', { iova: MOCK_APERTURE_START, length: 256n * KiB }),
        vfioClose('d'),
        vfioOpenBind('d2', VMOCK_INDEX),
        vfioAttach('d2', 'ioas'),
      ],
    };
    const r = sweep(sc);
    report.vfio_map_domain = r.last;
    expect(r.last).toBeGreaterThan(10);
  });

  it('vfio_map_file_domain', () => {
    const sc: Scenario = {
      setup: (e) => {
        baseSetup()(e);
        e.s.memfd = e.p.memfdCreate(BUFFER_SIZE);
      },
      steps: [
        vfioOpenBind('d', VMOCK_INDEX),
        vfioAttach('d', 'ioas'),
        { what: 'IOAS_MAP_FILE 256 KiB', run: (e) => fdOf(e).ioasMapFile({ ioas_id: e.s.ioas, flags: RW | FIXED, fd: e.s.memfd, start: 0n, length: 256n * KiB, iova: MOCK_APERTURE_START }).errno },
        vfioClose('d'),
        vfioOpenBind('d2', VMOCK_INDEX),
        vfioAttach('d2', 'ioas'),
      ],
    };
    const r = sweep(sc);
    report.vfio_map_file_domain = r.last;
    expect(r.last).toBeGreaterThan(10);
  });

  it('vfio_map_two_domains', () => {
    // One device first; inject; a second device behind another IOMMU (its own domain); map; unbind both; both again.
    const sc: Scenario = {
      setup: (e) => {
        baseSetup()(e);
        for (const st of [vfioOpenBind('a', 0), vfioAttach('a', 'ioas')]) expect(st.run(e), st.what).toBe(0);
      },
      steps: [
        vfioOpenBind('b', 2),
        vfioAttach('b', 'ioas'),
        mapFixed('IOAS_MAP 256 KiB', { iova: 1n << 24n, length: 256n * KiB }),
        vfioClose('a'),
        vfioClose('b'),
        vfioOpenBind('a2', 0),
        vfioAttach('a2', 'ioas'),
        vfioOpenBind('b2', 2),
        vfioAttach('b2', 'ioas'),
      ],
    };
    const r = sweep(sc);
    report.vfio_map_two_domains = r.last;
    expect(r.last).toBeGreaterThan(10);
  });

  it('vfio_device', () => {
    // Two IOASes with a page each; inject; bind; GET_HW_INFO; HWPT_ALLOC on IOAS 1; attach; replace to IOAS 2
    // (auto domain); replace to the HWPT; HWPT_ALLOC(NEST_PARENT); map; detach; destroy the HWPTs; unbind.
    const sc: Scenario = {
      setup: (e) => {
        baseSetup(['ioas', 'ioas2'])(e);
        for (const st of [mapFixed('map 1', { iova: 1n << 24n, length: PAGE }), mapFixed('map 2', { ioas: 'ioas2', iova: 1n << 24n, length: PAGE })]) expect(st.run(e), st.what).toBe(0);
      },
      steps: [
        vfioOpenBind('d', 0),
        { what: 'GET_HW_INFO', run: (e) => fdOf(e).getHwInfo({ dev_id: e.s.d_id, data_len: 0, data_uptr: 0n }).errno },
        {
          what: 'HWPT_ALLOC on IOAS 1',
          run: (e) => {
            const r = fdOf(e).hwptAlloc({ dev_id: e.s.d_id, pt_id: e.s.ioas, flags: 0, data_type: 0, data_len: 0, data_uptr: 0n });
            e.s.hwpt = r.out.out_hwpt_id;
            return r.errno;
          },
        },
        vfioAttach('d', 'hwpt'),
        vfioAttach('d', 'ioas2'),
        vfioAttach('d', 'hwpt'),
        {
          what: 'HWPT_ALLOC(NEST_PARENT) on IOAS 1',
          run: (e) => {
            const r = fdOf(e).hwptAlloc({ dev_id: e.s.d_id, pt_id: e.s.ioas, flags: 1, data_type: 0, data_len: 0, data_uptr: 0n });
            e.s.parent = r.out.out_hwpt_id;
            return r.errno;
          },
        },
        mapFixed('IOAS_MAP 64 KiB into both HWPTs', { iova: 2n << 24n, length: 64n * KiB }),
        vfioDetach('d'),
        { what: 'DESTROY the HWPT', run: (e) => fdOf(e).destroy(e.s.hwpt).errno },
        { what: 'DESTROY the nest parent', run: (e) => fdOf(e).destroy(e.s.parent).errno },
        vfioClose('d'),
      ],
    };
    const r = sweep(sc);
    report.vfio_device = r.last;
    expect(r.last).toBeGreaterThan(10);
  });

  it('vfio_compat (type1 map, cut, unmap, unmap all)', () => {
    const sc: Scenario = {
      setup: (e) => {
        baseSetup()(e);
        for (const st of [vfioOpenBind('d', VMOCK_INDEX), vfioAttach('d', 'ioas')]) expect(st.run(e), st.what).toBe(0);
        expect(fdOf(e).vfioIoas({ op: IOMMU_VFIO_IOAS_SET, ioas_id: e.s.ioas }).errno).toBe(0);
      },
      steps: [
        { what: 'VFIO_SET_IOMMU(TYPE1)', run: (e) => fdOf(e).vfioSetIommu(VFIO_TYPE1_IOMMU).errno },
        { what: 'VFIO_IOMMU_MAP_DMA 256 KiB', run: (e) => fdOf(e).vfioMapDma({ flags: 3, vaddr: e.buffer, iova: MOCK_APERTURE_START, size: 256n * KiB }).errno },
        { what: 'VFIO_IOMMU_UNMAP_DMA 16 KiB in the middle', run: (e) => fdOf(e).vfioUnmapDma({ flags: 0, iova: MOCK_APERTURE_START + 64n * KiB, size: 16n * KiB }).errno },
        { what: 'VFIO_IOMMU_UNMAP_DMA all', run: (e) => fdOf(e).vfioUnmapDma({ flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: 0n, size: 0n }).errno },
      ],
    };
    const r = sweep(sc);
    report.vfio_compat = r.last;
    expect(r.last).toBeGreaterThan(3);
  });

  it('map_domain', () => {
    const sc: Scenario = {
      setup: mockSetup(),
      steps: [mockDomainStep('stdev'), mapFixed('IOAS_MAP 256 KiB', { iova: MOCK_APERTURE_START, length: 256n * KiB }), destroyStep('stdev'), mockDomainStep('stdev2')],
    };
    report.map_domain = sweep(sc).last;
    expect(report.map_domain).toBeGreaterThan(10);
  });

  it('map_file_domain', () => {
    const sc: Scenario = {
      setup: mockSetup((e) => {
        e.s.memfd = e.p.memfdCreate(BUFFER_SIZE);
      }),
      steps: [
        mockDomainStep('stdev'),
        { what: 'IOAS_MAP_FILE 256 KiB', run: (e) => fdOf(e).ioasMapFile({ ioas_id: e.s.ioas, flags: RW | FIXED, fd: e.s.memfd, start: 0n, length: 256n * KiB, iova: MOCK_APERTURE_START }).errno },
        destroyStep('stdev'),
        mockDomainStep('stdev2'),
      ],
    };
    report.map_file_domain = sweep(sc).last;
    expect(report.map_file_domain).toBeGreaterThan(10);
  });

  it('map_two_domains', () => {
    const sc: Scenario = {
      setup: mockSetup((e) => expect(mockDomainStep('stdev').run(e)).toBe(0)),
      steps: [
        mockDomainStep('stdev2'),
        mapFixed('IOAS_MAP 256 KiB', { iova: MOCK_APERTURE_START, length: 256n * KiB }),
        destroyStep('stdev'),
        destroyStep('stdev2'),
        mockDomainStep('stdev'),
        mockDomainStep('stdev2'),
      ],
    };
    report.map_two_domains = sweep(sc).last;
    expect(report.map_two_domains).toBeGreaterThan(10);
  });

  it('access_rw', () => {
    const rw = (what: string, length: bigint, flags: number): Step => ({
      what: `ACCESS_RW ${what}`,
      run: (e) => accessRw(hOf(e), e.s.access, MOCK_APERTURE_START, length, e.buffer + BUFFER_SIZE / 2n, flags),
    });
    const sc: Scenario = {
      setup: mockSetup((e) => expect(mapFixed('map', { iova: MOCK_APERTURE_START, length: 256n * KiB }).run(e)).toBe(0)),
      steps: [
        createAccessStep(0),
        rw('read 64', 64n, 0),
        rw('write 64', 64n, MOCK_ACCESS_RW_WRITE),
        rw('slow read 64', 64n, MOCK_ACCESS_RW_SLOW_PATH),
        rw('slow write 64', 64n, MOCK_ACCESS_RW_WRITE | MOCK_ACCESS_RW_SLOW_PATH),
        rw('slow read 32 KiB', 32n * KiB, MOCK_ACCESS_RW_SLOW_PATH),
        closeAccess,
      ],
    };
    report.access_rw = sweep(sc).last;
    expect(report.access_rw).toBeGreaterThan(1);
  });

  const accessPin = (domain: boolean): Scenario => ({
    setup: mockSetup((e) => {
      if (domain) expect(mockDomainStep('stdev').run(e)).toBe(0);
      expect(mapFixed('map the buffer', { iova: MOCK_APERTURE_START, length: BUFFER_SIZE }).run(e)).toBe(0);
      expect(createAccessStep(MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES).run(e)).toBe(0);
    }),
    steps: [
      {
        what: 'ACCESS_PAGES of the whole buffer',
        run: (e) => {
          const r = accessPages(hOf(e), e.s.access, MOCK_APERTURE_START, BUFFER_SIZE, e.buffer);
          e.s.item = r.out.out_access_pages_id;
          return r.errno;
        },
      },
      { what: 'DESTROY_ACCESS_PAGES', run: (e) => destroyAccessPages(hOf(e), e.s.access, e.s.item) },
      closeAccess,
      ...(domain ? [destroyStep('stdev')] : []),
    ],
  });

  it('access_pin', () => {
    report.access_pin = sweep(accessPin(false)).last;
    expect(report.access_pin).toBeGreaterThan(1);
  });

  it('access_pin_domain', () => {
    report.access_pin_domain = sweep(accessPin(true)).last;
    expect(report.access_pin_domain).toBeGreaterThan(1);
  });

  it('device', () => {
    const selftestData = () => pack(S.iommu_hwpt_selftest, { iotlb: E.IOMMU_TEST_IOTLB_DEFAULT, pagetable_type: 0 });
    const alloc = (what: string, key: string, o: (e: Env) => Parameters<typeof hwptAlloc>[1]): Step => ({
      what,
      run: (e) => {
        const r = hwptAlloc(hOf(e), o(e));
        e.s[key] = r.out.out_hwpt_id;
        return r.errno;
      },
    });
    const sc: Scenario = {
      setup: (e) => {
        baseSetup(['ioas', 'ioas2'])(e);
        for (const st of [mapFixed('map 1', { iova: MOCK_APERTURE_START, length: PAGE }), mapFixed('map 2', { ioas: 'ioas2', iova: MOCK_APERTURE_START, length: PAGE })]) expect(st.run(e), st.what).toBe(0);
      },
      steps: [
        {
          what: 'MOCK_DOMAIN_FLAGS(PASID)',
          run: (e) => {
            const r = mockDomainErr(hOf(e), e.s.ioas, E.MOCK_FLAGS_DEVICE_PASID);
            e.s.stdev = r.out.out_stdev_id;
            e.s.idev = r.out.out_idev_id;
            return r.errno;
          },
        },
        { what: 'GET_HW_INFO', run: (e) => fdOf(e).getHwInfo({ dev_id: e.s.idev, data_len: 0, data_uptr: 0n }).errno },
        alloc('HWPT_ALLOC(PASID) on IOAS 1', 'hwpt', (e) => ({ dev: e.s.idev, pt: e.s.ioas, flags: E.IOMMU_HWPT_ALLOC_PASID })),
        { what: 'MOCK_DOMAIN_REPLACE → IOAS 2', run: (e) => mockDomainReplace(hOf(e), e.s.stdev, e.s.ioas2).errno },
        { what: 'MOCK_DOMAIN_REPLACE → the HWPT', run: (e) => mockDomainReplace(hOf(e), e.s.stdev, e.s.hwpt).errno },
        alloc('HWPT_ALLOC(NEST_PARENT|PASID)', 'parent', (e) => ({ dev: e.s.idev, pt: e.s.ioas, flags: E.IOMMU_HWPT_ALLOC_NEST_PARENT | E.IOMMU_HWPT_ALLOC_PASID })),
        {
          what: 'VIOMMU_ALLOC',
          run: (e) => {
            const r = fdOf(e).viommuAlloc({ flags: 0, type: E.IOMMU_VIOMMU_TYPE_SELFTEST, dev_id: e.s.idev, hwpt_id: e.s.parent, data_len: 0, __reserved: 0, data_uptr: 0n });
            e.s.viommu = r.out.out_viommu_id;
            return r.errno;
          },
        },
        { what: 'VDEVICE_ALLOC (virt 0)', run: (e) => fdOf(e).vdeviceAlloc({ viommu_id: e.s.viommu, dev_id: e.s.idev, virt_id: 0n }).errno },
        { what: 'HW_QUEUE_ALLOC (index 0, the mapped page)', run: (e) => fdOf(e).hwQueueAlloc({ flags: 0, viommu_id: e.s.viommu, type: E.IOMMU_HW_QUEUE_TYPE_SELFTEST, index: 0, nesting_parent_iova: MOCK_APERTURE_START, length: PAGE }).errno },
        {
          what: 'FAULT_QUEUE_ALLOC (fd closed)',
          // The response copy_to_user is a failure point too (fail_usercopy): EFAULT.
          allowed: [ENOMEM, EFAULT],
          run: (e) => {
            const r = fdOf(e).faultQueueAlloc();
            e.s.fault = r.out.out_fault_id;
            return r.errno || e.p.close(r.out.out_fault_fd);
          },
        },
        alloc('nested IOPF HWPT on the parent', 'iopf', (e) => ({ dev: e.s.idev, pt: e.s.parent, flags: E.IOMMU_HWPT_FAULT_ID_VALID, dataType: E.IOMMU_HWPT_DATA_SELFTEST, data: selftestData(), faultId: e.s.fault })),
        {
          what: 'VEVENTQ_ALLOC (depth 2, fd closed)',
          allowed: [ENOMEM, EFAULT],
          run: (e) => {
            const r = fdOf(e).veventqAlloc({ flags: 0, viommu_id: e.s.viommu, type: E.IOMMU_VEVENTQ_TYPE_SELFTEST, veventq_depth: 2, __reserved: 0 });
            return r.errno || e.p.close(r.out.out_veventq_fd);
          },
        },
        alloc('HWPT_ALLOC(PASID)', 'hwpt2', (e) => ({ dev: e.s.idev, pt: e.s.ioas, flags: E.IOMMU_HWPT_ALLOC_PASID })),
        { what: 'PASID 200 attach the parent', run: (e) => pasidAttach(hOf(e), e.s.stdev, 200, e.s.parent).errno },
        { what: 'PASID 200 replace with the new HWPT', run: (e) => pasidReplace(hOf(e), e.s.stdev, 200, e.s.hwpt2).errno },
        { what: 'PASID 200 detach', run: (e) => pasidDetach(hOf(e), e.s.stdev, 200) },
      ],
    };
    report.device = sweep(sc).last;
    expect(report.device).toBeGreaterThan(20);
  });

  it('report: N reached per scenario', () => {
    // eslint-disable-next-line no-console
    console.log(`fail_nth sweep sizes (final clean run N): ${JSON.stringify(report)}`);
    expect(Object.keys(report).length).toBe(13);
  });
});

/**
 * actors/invariants.ts: the whole-state invariants hold after every delivery
 * of the demo scenario and of device scenarios (VFIO bind/attach/map/DMA/
 * detach/unbind, manual HWPT, VFIO compat), and each invariant does fire on
 * a deliberately corrupted copy of a state.
 */
import { describe, expect, it } from 'vitest';
import { Simulation, type SimOptions } from '../../actors/sim.ts';
import { openVfio, spawnProc } from '../../actors/api.ts';
import { runDemo } from '../../scenarios/demo.ts';
import { checkDomains, checkInvariants, checkNoUseAfterFree, checkPages, checkRefcounts, viewOf, type InvariantView } from '../../actors/invariants.ts';
import { encodeValue, decodeValue } from '../../journal/codec.ts';
import type { RuntimeSnapshot } from '../../actors/runtime/runtime.ts';
import type { World } from '../../actors/world.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE, IOMMU_VFIO_IOAS_SET, VFIO_TYPE1_IOMMU } from '../../uapi/enums.ts';
import { TRANSLATION_ACTOR, type TranslationActor } from '../../actors/hw/translation.ts';
import { watchInvariants } from './checker.ts';
import { closeAll, compatTopology, leftovers, MOCK_APERTURE_START, VMOCK_INDEX } from '../compat/fixture.ts';

const RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
const FIXED = IOMMU_IOAS_MAP_FIXED_IOVA;
const PAGE = 4096n;

/** A device scenario: two devices on two IOMMUs, auto and manual domains, map/copy/DMA/unmap, detach, unbind. */
function deviceScenario(sim: Simulation): void {
  const p = spawnProc(sim, { uid: 1000, rlimitMemlock: 64 << 20 });
  const buf = p.mmap({ length: 64n * PAGE, addr: 0x40000000n, shared: true });
  p.poke(buf, new TextEncoder().encode('hello dma'));
  const fd = p.openIommufd();
  const ioas = fd.ioasAlloc().out.out_ioas_id;
  const ioas2 = fd.ioasAlloc().out.out_ioas_id;
  expect(fd.ioasMap({ ioas_id: ioas, flags: RW | FIXED, user_va: buf, length: 16n * PAGE, iova: 1n << 20n }).errno).toBe(0);
  const v0 = openVfio(p, 0);
  const dev0 = v0.bind(fd).out.out_devid;
  const at = v0.attach(ioas);
  expect(at.errno).toBe(0);
  // Map after the attach: filled into the automatic domain at once.
  expect(fd.ioasMap({ ioas_id: ioas, flags: RW | FIXED, user_va: buf + 16n * PAGE, length: 16n * PAGE, iova: 2n << 20n }).errno).toBe(0);
  const dma = sim.dma('dev0', [{ iova: 1n << 20n, length: 9, write: false }]);
  expect(dma[0]!.ok).toBe(true);
  // A second device behind the same IOMMU, on a manual HWPT of the same IOAS.
  const v2 = openVfio(p, 1);
  const dev2 = v2.bind(fd).out.out_devid;
  const h = fd.hwptAlloc({ dev_id: dev2, pt_id: ioas, flags: 0, data_type: 0, data_len: 0, data_uptr: 0n });
  expect(h.errno).toBe(0);
  expect(v2.attach(h.out.out_hwpt_id).errno).toBe(0);
  expect(fd.ioasCopy({ dst_ioas_id: ioas2, src_ioas_id: ioas, flags: RW, length: 16n * PAGE, src_iova: 1n << 20n, dst_iova: 0n }).errno).toBe(0);
  expect(fd.ioasUnmap({ ioas_id: ioas, iova: 1n << 20n, length: 16n * PAGE }).errno).toBe(0);
  expect(sim.dma('dev0', [{ iova: 1n << 20n, length: 4, write: false }])[0]!.ok).toBe(false);
  // Replace dev0 onto the manual HWPT: the automatic one goes.
  expect(v0.attach(h.out.out_hwpt_id).errno).toBe(0);
  expect(fd.destroy(h.out.out_hwpt_id).errno).toBeGreaterThan(0);
  expect(v0.detach().errno).toBe(0);
  expect(v2.detach().errno).toBe(0);
  expect(fd.destroy(h.out.out_hwpt_id).errno).toBe(0);
  expect(fd.destroy(dev0).errno).toBeGreaterThan(0);
  void dev2;
  p.close(v0.fd);
  expect(fd.destroy(ioas).errno).toBe(0);
  closeAll({ sim, p });
}

/** The compat path: type1 map, cut-unmap, unmap-all with a device attached. */
function compatScenario(sim: Simulation): void {
  const p = spawnProc(sim, { uid: 1000, rlimitMemlock: 64 << 20 });
  const buf = p.mmap({ length: 32n * PAGE, addr: 0x40000000n, shared: true });
  const fd = p.openIommufd();
  const ioas = fd.ioasAlloc().out.out_ioas_id;
  const v = openVfio(p, VMOCK_INDEX);
  v.bind(fd);
  expect(v.attach(ioas).errno).toBe(0);
  expect(fd.vfioIoas({ op: IOMMU_VFIO_IOAS_SET, ioas_id: ioas }).errno).toBe(0);
  expect(fd.vfioSetIommu(VFIO_TYPE1_IOMMU).errno).toBe(0);
  expect(fd.vfioMapDma({ flags: 3, vaddr: buf, iova: MOCK_APERTURE_START, size: 32n * PAGE }).errno).toBe(0);
  expect(fd.vfioUnmapDma({ flags: 0, iova: MOCK_APERTURE_START + 4n * PAGE, size: 4n * PAGE }).errno).toBe(0);
  expect(fd.vfioUnmapDma({ flags: 0, iova: MOCK_APERTURE_START + 20n * PAGE, size: PAGE }).errno).toBe(0);
  expect(fd.vfioUnmapDma({ flags: 2, iova: 0n, size: 0n }).out.size).toBe(27n * PAGE);
  closeAll({ sim, p });
}

describe('invariants after every delivery', () => {
  it('demo scenario (scenarios/demo.ts)', () => {
    const sim = new Simulation({ seed: 1 });
    const w = watchInvariants(sim);
    const steps = runDemo(sim);
    expect(steps.length).toBeGreaterThan(10);
    expect(w.deliveries).toBeGreaterThan(20);
    w.expectClean();
    expect(checkInvariants(sim)).toEqual([]);
  });

  it('device scenario: bind, auto and manual domains, map, copy, DMA, replace, detach, unbind', () => {
    const sim = new Simulation({ seed: 1 });
    const w = watchInvariants(sim);
    deviceScenario(sim);
    w.expectClean();
    expect(leftovers(sim)).toEqual([]);
  });

  it('VFIO compat scenario: type1 map, split unmaps, unmap all', () => {
    const sim = new Simulation({ seed: 1, topology: compatTopology() });
    const w = watchInvariants(sim);
    compatScenario(sim);
    w.expectClean();
    expect(leftovers(sim)).toEqual([]);
  });

  it('device scenario under random scheduling (3 seeds)', () => {
    for (const seed of [1, 2, 3]) {
      const sim = new Simulation({ seed, strategy: { name: 'random' } as SimOptions['strategy'] });
      const w = watchInvariants(sim);
      deviceScenario(sim);
      w.expectClean(`seed ${seed}`);
    }
  });
});

// ---------------------------------------------------------------- broken copies

/** A deep copy of the simulation's state (journal codec round trip) as an invariant view. */
function copyOf(sim: Simulation): { view: InvariantView; copy: Simulation } {
  const snap = decodeValue(encodeValue(sim.snapshot())) as RuntimeSnapshot<World>;
  const copy = new Simulation({ seed: 1, topology: sim.header.topology }, { snapshot: snap });
  return { view: viewOf(copy), copy };
}

function ctxData(sim: Simulation): any {
  const id = sim.rt.actorIds().find((a) => a.startsWith('iommufd:'))!;
  return (sim.rt.actor(id) as unknown as { context: { data: any } }).context.data;
}

/** An IOAS with a device attached and 16 pages mapped (auto domain), everything live. */
function attachedState(): { sim: Simulation; ioas: number; hwpt: number } {
  const sim = new Simulation({ seed: 1 });
  const p = spawnProc(sim, { uid: 1000, rlimitMemlock: 64 << 20 });
  const buf = p.mmap({ length: 16n * PAGE, addr: 0x40000000n, shared: true });
  const fd = p.openIommufd();
  const ioas = fd.ioasAlloc().out.out_ioas_id;
  const v = openVfio(p, 0);
  v.bind(fd);
  const hwpt = v.attach(ioas).out.pt_id as number;
  expect(fd.ioasMap({ ioas_id: ioas, flags: RW | FIXED, user_va: buf, length: 16n * PAGE, iova: 1n << 20n }).errno).toBe(0);
  return { sim, ioas, hwpt };
}

describe('each invariant can fail', () => {
  it('the untouched copy is clean', () => {
    const { sim } = attachedState();
    expect(checkInvariants(sim)).toEqual([]);
    expect(checkInvariants(copyOf(sim).view)).toEqual([]);
  });

  it('(a) a hardware mapping the IOAS does not have, and an IOAS mapping the domain lacks', () => {
    const { sim, hwpt } = attachedState();
    const { copy } = copyOf(sim);
    const dom = (copy.rt.actor(ctxData(copy).table.entries[hwpt].actor) as any).context.data.domain as number;
    const tr = copy.rt.actor(TRANSLATION_ACTOR) as TranslationActor;
    tr.apply([{ op: 'map', domainId: dom, iova: 8n << 20n, length: PAGE, pageOffset: 0, pfns: [7], prot: 3 }]);
    expect(checkDomains(copy).some((m) => m.includes('which IOAS') && m.includes('0x800000'))).toBe(true);
    const { copy: c2 } = copyOf(sim);
    (c2.rt.actor(TRANSLATION_ACTOR) as TranslationActor).apply([{ op: 'unmap', domainId: dom, iova: 1n << 20n, length: PAGE }]);
    expect(checkDomains(c2).some((m) => m.includes('which does not have it'))).toBe(true);
    expect(checkDomains(sim)).toEqual([]);
  });

  it('(b) a users count one too high, one too low, a negative one, a stray short-term ref; a page user with no area', () => {
    const { sim, ioas, hwpt } = attachedState();
    const a = copyOf(sim).copy;
    ctxData(a).table.entries[ioas].users++;
    expect(checkRefcounts(a).join('\n')).toMatch(/object 1 \(ioas\) has users 3, holders account for 2/);
    const b = copyOf(sim).copy;
    ctxData(b).table.entries[hwpt].users--;
    expect(checkRefcounts(b).join('\n')).toMatch(/\(hwpt_paging\) has users 1/);
    const c = copyOf(sim).copy;
    ctxData(c).table.entries[ioas].users = -1;
    expect(checkRefcounts(c).join('\n')).toMatch(/negative/);
    const d = copyOf(sim).copy;
    ctxData(d).table.entries[ioas].shortterm = 1;
    expect(checkRefcounts(d).join('\n')).toMatch(/shortterm 1 but 0 call/);
    const e = copyOf(sim).copy;
    const pages = Object.values(e.world.pages.pages)[0]!;
    pages.users[0]!++;
    expect(checkPages(e).join('\n')).toMatch(/page 0: users 2, but 1/);
    expect(checkRefcounts(sim)).toEqual([]);
    expect(checkPages(sim)).toEqual([]);
  });

  it('(c) a message to a freed actor, and a live table slot whose object is freed', () => {
    const { sim, ioas } = attachedState();
    const a = copyOf(sim).copy;
    const actor = ctxData(a).table.entries[ioas].actor as string;
    a.rt.retire(actor);
    expect(checkNoUseAfterFree(a).join('\n')).toMatch(/live in the table but its actor .* is freed/);
    a.rt.inject('thread:1.1', actor, 'internal', 'op', { call: 0, op: 'alignment', args: {} });
    a.rt.step();
    expect(checkNoUseAfterFree(a).join('\n')).toMatch(/reached freed actor/);
    expect(checkNoUseAfterFree(sim)).toEqual([]);
  });

  it('a model bug is caught at the delivery that introduces it (refcount leak injected mid-run)', () => {
    const sim = new Simulation({ seed: 1 });
    const w = watchInvariants(sim);
    const p = spawnProc(sim, { uid: 1000 });
    const fd = p.openIommufd();
    const ioas = fd.ioasAlloc().out.out_ioas_id;
    w.expectClean();
    // Simulate a missing put: bump users as a buggy handler would, then let one more delivery run.
    ctxData(sim).table.entries[ioas].users++;
    fd.ioasIovaRanges(ioas);
    expect(w.violations.length).toBeGreaterThan(0);
    expect(w.violations[0]).toMatch(/object 1 \(ioas\) has users 2, holders account for 1/);
  });
});

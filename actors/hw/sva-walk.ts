/**
 * The SVA DMA path the translation actor takes for an SVA domain: ATC /
 * IOTLB first (tagged by the SVA domain id and the PASID, in the engine's
 * own caches), and on a miss a walk of the process's CPU page table from
 * the domain's CR3 (hardware/cpu-pagetable.ts, with hardware A/D updates).
 * Every cache hit is checked against a fresh walk, and a difference is
 * recorded in the engine's staleUses like any other stale translation.
 * A walk that reads a frame which is no longer one of the mm's page-table
 * pages is a use-after-free (KASAN).
 */
import type { World } from '../world.ts';
import type { DmaOutcome } from './translation.ts';
import type { DmaAccess } from '../../hardware/burst.ts';
import type { EngineState } from '../../hardware/translate.ts';
import { readPhys, writePhys } from '../../hardware/physmem.ts';
import { cptWalk } from '../../hardware/cpu-pagetable.ts';
import { cptIsTable } from '../mm/cpu-mm.ts';
import { NO_TAG2, TAG_DOMAIN, TlbOut, atcCreate, atcInsert, atcLookup, iotlbInsert, iotlbLookup } from '../../hardware/iotlb.ts';
import { faultKindName, PROT_READ, PROT_WRITE } from '../../hardware/pagetable/format.ts';
import { kasan, SVA_ACTOR, type SvaDomain } from './sva-state.ts';

const tout = new TlbOut();

export interface SvaPort {
  engine: EngineState;
  iommu: number;
  device: number;
  /** The device uses its ATC (ATS enabled). */
  ats: boolean;
}

function fresh(world: World, d: SvaDomain, va: number, write: boolean, update: boolean) {
  const mm = world.mem.mms[d.pid];
  return cptWalk(world.mem.pm, d.cr3, va, write, update, (pfn) => cptIsTable(mm, pfn));
}

function checkStale(world: World, p: SvaPort, d: SvaDomain, cache: 'iotlb' | 'atc', pasid: number, va: number, write: boolean, cachedPa: number): void {
  const e = p.engine;
  if (!e.checkStale) return;
  const w = fresh(world, d, va, write, false);
  if (w.code === 0 && w.pa === cachedPa) return;
  e.stats.staleUses++;
  if (e.staleUses.length >= e.maxStaleRecords) e.staleUses.shift();
  e.staleUses.push({
    iova: va, cache, iommu: p.iommu, kind: TAG_DOMAIN, tag: d.id, tag2: NO_TAG2, pasid, device: p.device, write, cachedPa,
    tablePa: w.code === 0 ? w.pa : -1, tableFault: w.code === 0 ? null : faultKindName(w.code), nested: false,
  });
}

function cachedOk(write: boolean): boolean {
  return write ? (tout.prot & PROT_WRITE) !== 0 && tout.dirtyOk === 1 : (tout.prot & PROT_READ) !== 0;
}

/** Translate one page: { pa, pageSize } or a fault code. */
function translatePage(world: World, p: SvaPort, d: SvaDomain, pasid: number, va: number, write: boolean): { pa: number; pageSize: number } | number {
  const e = p.engine;
  const atc = p.ats ? (e.atcs[p.device] ??= atcCreate(e.atcCapacity, 4)) : undefined;
  if (atc && atcLookup(atc, p.device, pasid, va, tout) >= 0 && cachedOk(write)) {
    e.stats.atcHits++;
    checkStale(world, p, d, 'atc', pasid, va, write, tout.pa);
    return { pa: tout.pa, pageSize: tout.pageSize };
  }
  const tlb = e.iotlbs[p.iommu]!;
  if (iotlbLookup(tlb, TAG_DOMAIN, d.id, NO_TAG2, pasid, va, tout) >= 0 && cachedOk(write)) {
    e.stats.iotlbHits++;
    checkStale(world, p, d, 'iotlb', pasid, va, write, tout.pa);
    const r = { pa: tout.pa, pageSize: tout.pageSize };
    if (atc) atcInsert(atc, p.device, pasid, va, tout.pageSize, tout.pa - (va % tout.pageSize), tout.prot, tout.dirtyOk);
    return r;
  }
  e.stats.walks++;
  const w = fresh(world, d, va, write, true);
  if (w.badTable >= 0) kasan(world, `SVA walk of PASID ${pasid} (domain ${d.id}, pid ${d.pid}) read frame ${w.badTable}, which is no longer a page table of the process`);
  if (w.code !== 0) return w.code;
  const base = w.pa - (va % w.pageSize);
  const prot = PROT_READ | (w.writable ? PROT_WRITE : 0);
  const dirtyOk = w.dirty ? 1 : 0;
  iotlbInsert(tlb, TAG_DOMAIN, d.id, NO_TAG2, pasid, va, w.pageSize, base, prot, dirtyOk);
  if (atc) atcInsert(atc, p.device, pasid, va, w.pageSize, base, prot, dirtyOk);
  return { pa: w.pa, pageSize: w.pageSize };
}

/** One access of a burst through an SVA domain (bytes really move; a fault stops the access). */
export function svaAccess(world: World, p: SvaPort, d: SvaDomain, a: DmaAccess): DmaOutcome {
  const e = p.engine;
  const va0 = Number(a.iova);
  const pasid = a.pasid ?? 0;
  const len = a.length;
  const out = a.write ? null : new Uint8Array(len);
  e.stats.accesses++;
  let off = 0;
  while (off < len) {
    const va = va0 + off;
    const t = translatePage(world, p, d, pasid, va, a.write);
    if (typeof t === 'number') {
      e.stats.faults++;
      // The page request names the page that faulted, so a retried long access makes progress.
      return { ok: false, fault: faultKindName(t), stage: 1, ...(off > 0 ? { addr: va } : {}) };
    }
    const n = Math.min(len - off, t.pageSize - (va % t.pageSize));
    if (a.write) writePhys(world.mem.pm, t.pa, a.data ? a.data.subarray(off, off + n) : new Uint8Array(n));
    else out!.set(readPhys(world.mem.pm, t.pa, n), off);
    e.stats.pages++;
    e.stats.bytes += n;
    off += n;
  }
  return out ? { ok: true, data: out } : { ok: true };
}

/** Page requests of an SVA domain go to the kernel's SVA fault handler (iommu_sva_iopf_handler). */
export function svaFaultOwner(d: SvaDomain | undefined): { ctx: string; hwpt: number; faultActor: string; viommuActor: string } | undefined {
  return d ? { ctx: '', hwpt: 0, faultActor: SVA_ACTOR, viommuActor: '' } : undefined;
}

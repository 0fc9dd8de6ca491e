/**
 * Hardware invariants over a running simulation (hardware.md §6), read from
 * the live actors between deliveries.  Nothing here changes model state.
 *
 * - `staleTranslations`: every DMA that completed from a cached translation
 *   (IOTLB / ATC) the current tables no longer give (I1 / I2): with correct
 *   flushes this stays empty for kernel-owned mappings.
 * - `hwDomainMismatches`: every hardware paging domain holds exactly what
 *   its IOAS says it must (io_pagetable `ioptDomainMappings`), page by page.
 */
import type { Simulation } from './sim.ts';
import { TRANSLATION_ACTOR, TranslationActor } from './hw/translation.ts';
import type { StaleUse } from '../hardware/translate.ts';
import { ICTX_KIND } from './iommufd/main.ts';
import type { IctxData } from './iommufd/ioctl.ts';
import type { IoasData } from './iommufd/ioas.ts';
import { ioptEnv } from './iommufd/ioas.ts';
import { applyEffectsToFlat, ioptDomainMappings, type IoPagetable } from './iommufd/io_pagetable.ts';

export type { StaleUse } from '../hardware/translate.ts';

const PAGE = 4096;

export function translationActor(sim: Simulation): TranslationActor {
  const t = sim.rt.actor(TRANSLATION_ACTOR);
  if (!(t instanceof TranslationActor)) throw new Error('the simulation has no translation actor');
  return t;
}

/** Recorded stale uses (most recent first-in order, capped by the engine; `stats.staleUses` counts all). */
export function staleTranslations(sim: Simulation): StaleUse[] {
  return translationActor(sim).st.engine.staleUses.slice();
}

/** Every live IOAS of every iommufd context: (context actor, IOAS id, its io_pagetable). */
export function liveIoas(sim: Simulation): { ctx: string; id: number; iopt: IoPagetable }[] {
  const out: { ctx: string; id: number; iopt: IoPagetable }[] = [];
  for (const aid of sim.rt.actorIds()) {
    const a = sim.rt.actor(aid) as { kind: string; context?: { data: IctxData } } | undefined;
    if (!a || a.kind !== ICTX_KIND || !a.context) continue;
    const entries = a.context.data.table.entries;
    for (const k of Object.keys(entries)) {
      const e = entries[Number(k)]!;
      if (e.type !== 'ioas') continue;
      const o = sim.rt.actor(e.actor) as { context?: { data: IoasData } } | undefined;
      if (o?.context?.data?.iopt) out.push({ ctx: aid, id: e.id, iopt: o.context.data.iopt });
    }
  }
  return out;
}

/** A hardware domain's contents as IOVA page → physical address of that page's first byte. */
export function hwDomainPages(sim: Simulation, domain: number): Map<number, number> {
  const m = new Map<number, number>();
  for (const r of translationActor(sim).dump(domain)) {
    for (let iova = r.iova; iova <= r.last; iova += PAGE) m.set(iova, r.pa + (iova - r.iova));
  }
  return m;
}

/** What the IOAS says `domain` must map: IOVA page → physical address. */
export function ioasDomainPages(sim: Simulation, iopt: IoPagetable, domain: number): Map<number, number> {
  const flat: Record<string, Record<string, number>> = {};
  applyEffectsToFlat(flat, ioptDomainMappings(iopt, ioptEnv(sim.world), domain));
  const m = new Map<number, number>();
  for (const [iova, pa] of Object.entries(flat[domain] ?? {})) m.set(Number(iova), pa);
  return m;
}

export interface DomainMismatch {
  domain: number;
  ioas: number;
  iova: number;
  /** -1: absent */
  hw: number;
  expected: number;
}

/** Every page where a hardware domain and its IOAS disagree (empty when consistent). */
export function hwDomainMismatches(sim: Simulation, limit = 64): DomainMismatch[] {
  const bad: DomainMismatch[] = [];
  for (const { id, iopt } of liveIoas(sim)) {
    for (const d of iopt.domains) {
      const hw = hwDomainPages(sim, d.id);
      const want = ioasDomainPages(sim, iopt, d.id);
      for (const [iova, pa] of want) {
        const got = hw.get(iova);
        if (got !== pa) bad.push({ domain: d.id, ioas: id, iova, hw: got ?? -1, expected: pa });
        if (bad.length >= limit) return bad;
      }
      for (const [iova, pa] of hw) {
        if (!want.has(iova)) bad.push({ domain: d.id, ioas: id, iova, hw: pa, expected: -1 });
        if (bad.length >= limit) return bad;
      }
    }
  }
  return bad;
}

/**
 * User cache invalidation reaching the hardware: what a driver's
 * cache_invalidate_user (nested HWPT) or cache_invalidate (vIOMMU) issues
 * for each accepted entry, applied to the translation actor's IOTLB, device
 * ATCs and SMMUv3 CD cache.  Each command drops only what it names (VT-d
 * cache_tag_flush_range over the nested domain's tags; SMMUv3 TLBI by
 * VMID / ASID / VA, CFGI_CD, ATC_INV), never the whole stage-2 parent: a
 * guest TLBI must leave the host's and other guests' entries alone.
 */
import type { FlushOp } from '../../hardware/models/types.ts';
import { ANY, TAG_ASID, type InvalidateFilter } from '../../hardware/iotlb.ts';
import { engineFlushAtc, engineFlushIotlb, engineInvalidateCd } from '../../hardware/translate.ts';
import type { TranslationActor } from './translation.ts';

/** Cached IOVAs are JS numbers; a range beyond them can hold nothing. */
const IOVA_LIMIT = 2n ** 53n;

function numericRange(iova: bigint, size: bigint): { iova: number; size: number } | null {
  if (iova >= IOVA_LIMIT || size <= 0n) return null;
  const room = IOVA_LIMIT - iova;
  return { iova: Number(iova), size: Number(size > room ? room : size) };
}

/**
 * VT-d nested HWPT: 'domain' / 'range' over the nested domain's own tags
 * (every IOMMU it is attached on) and then the ATCs of its ATS devices
 * (hardware.md §1.3 step 3: device TLB after IOTLB).
 */
export function applyNestedFlush(tr: TranslationActor, domain: number, f: FlushOp): void {
  const e = tr.st.engine;
  const d = e.domains[domain];
  if (!d || (f.scope !== 'domain' && f.scope !== 'range')) return;
  const range = f.scope === 'range' ? numericRange(f.iova, f.size) : undefined;
  if (range === null) return;
  for (const a of d.attachments) {
    const filter: InvalidateFilter = a.kind === TAG_ASID ? { kind: TAG_ASID, tag2: a.tag2 } : { kind: a.kind, tag: a.tag };
    engineFlushIotlb(e, a.iommu, range ? { ...filter, ...range } : filter);
    for (const dev of a.atsDevices) engineFlushAtc(e, dev, ANY, range?.iova, range?.size);
  }
}

/**
 * SMMUv3 vIOMMU commands after arm_vsmmu_convert_user_cmd: TLBIs carry the
 * vIOMMU's VMID (the stage-2 parent's tag, tag2 of every combined entry),
 * vSIDs are already physical devices.
 */
export function applyViommuFlush(tr: TranslationActor, iommu: string, f: FlushOp): void {
  const e = tr.st.engine;
  const idx = tr.st.iommuIndex[iommu] ?? 0;
  switch (f.scope) {
    case 'vmid':
      engineFlushIotlb(e, idx, { kind: TAG_ASID, tag2: f.vmid });
      return;
    case 'asid':
      engineFlushIotlb(e, idx, { kind: TAG_ASID, tag: f.asid, tag2: f.vmid });
      return;
    case 'va': {
      const range = numericRange(f.iova, f.size);
      if (!range) return;
      const filter: InvalidateFilter = { kind: TAG_ASID, tag2: f.vmid, ...range };
      if (f.asid !== null) filter.tag = f.asid;
      engineFlushIotlb(e, idx, filter);
      return;
    }
    case 'atc': {
      const dev = tr.st.deviceIndex[f.device];
      if (dev === undefined) return;
      // SSV clear sends the ATS invalidation without a PASID prefix, which drops every PASID's entries in the range.
      const range = numericRange(f.iova, f.size);
      if (range) engineFlushAtc(e, dev, f.ssid ?? ANY, range.iova, range.size);
      return;
    }
    case 'cd': {
      // The CD cache is kept per nested domain (the STE's CD table); the stream's current STE names it.
      const domain = tr.domainOf(f.device);
      if (domain !== undefined && e.domains[domain]?.kind === 'nested') engineInvalidateCd(e, domain, f.ssid ?? ANY);
      return;
    }
    default:
      return;
  }
}

/**
 * The machine description: which physical IOMMUs exist, of which kind, with
 * which capability overrides, and which devices sit behind them.  Plain data
 * (bigints for addresses) so it can go into the journal header as is and be
 * rebuilt into models (hardware/models) on replay.
 */

export type IommuKind = 'mock' | 'vtd' | 'smmuv3' | 'amd';
export const IOMMU_KINDS: readonly IommuKind[] = ['mock', 'vtd', 'smmuv3', 'amd'];

/**
 * Knobs a topology may turn against a kind's defaults.  Each model turns them
 * into the register bits the driver reads (VT-d CAP/ECAP, SMMU IDRs, AMD
 * EFR/EFR2), and derives every allocation rule from those bits, so a
 * capability turned off here can never be observed working (hardware.md I14).
 */
export interface IommuCapOverrides {
  /** VT-d ECAP.SLADS, SMMU IDR0.HTTU = HA+HD, AMD EFR.HDSUP; mock: device default (MOCK_FLAGS_DEVICE_NO_DIRTY when off) */
  dirtyTracking?: boolean;
  /** VT-d ECAP.NEST, SMMU S1P+S2P, AMD GT+GIOSUP+EFR2.GCR3TRPMODE; mock: always on */
  nesting?: boolean;
  /** PASID width: VT-d ECAP.PSS+1, SMMU IDR1.SSIDSIZE, AMD EFR.PASMAX+1; 0 = no PASID */
  pasidBits?: number;
  /** VT-d ECAP.PRS, SMMU IDR0.PRI, AMD EFR.PPR */
  pri?: boolean;
  /** VT-d ECAP.DT, SMMU IDR0.ATS */
  ats?: boolean;
  /** VT-d ECAP.SC (force snooping, so enforce_cache_coherency works) */
  snoopControl?: boolean;
  /** VT-d ECAP.C / SMMU IDR0.COHACC: coherent table walks */
  coherent?: boolean;
  /** VT-d second-level width (SAGAW/MGAW); AMD v1 host width (EFR.HATS) */
  addressWidth?: 39 | 48 | 57;
  /** VT-d CAP.FL5LP, AMD EFR.GATS = 5-level */
  fiveLevel?: boolean;
  /** VT-d ECAP.FLTS, SMMU IDR0.S1P */
  firstStage?: boolean;
  /** VT-d ECAP.SLTS, SMMU IDR0.S2P */
  secondStage?: boolean;
  /** VT-d CAP.SLLPS 1 GiB + CAP.FL1GP */
  superpage1G?: boolean;
  /** VT-d ECAP.SRS */
  supervisorRequests?: boolean;
  /** VT-d ECAP.EAFS */
  extendedAccessed?: boolean;
  /** SMMU IDR3.FWB (stage-2 forced write-back: lets a vIOMMU serve non-coherent masters) */
  s2fwb?: boolean;
  /** SMMU IDR3.RIL */
  rangeInvalidation?: boolean;
  /** SMMU IDR0.STALL_MODEL = stall supported */
  stall?: boolean;
  /** AMD: the kernel command line's default paging table (amd_iommu=pgtbl_v1|v2) */
  pgtable?: 'v1' | 'v2';
  /** VT-d: newest drivers try a first-stage table for plain paging domains first */
  preferFirstStage?: boolean;
}

export interface IommuSpec {
  /** Stable id, e.g. 'iommu0'; actor ids derive from it. */
  id: string;
  kind: IommuKind;
  caps?: IommuCapOverrides;
}

export type ReservedRegionType = 'msi' | 'reserved' | 'direct' | 'direct-relaxable' | 'sw-msi';
export const RESERVED_REGION_TYPES: readonly ReservedRegionType[] = ['msi', 'reserved', 'direct', 'direct-relaxable', 'sw-msi'];

/** An IOVA range the IOMMU core reports for a device (iommu_get_resv_regions); `last` inclusive. */
export interface ReservedRegion {
  start: bigint;
  last: bigint;
  type: ReservedRegionType;
}

export interface DeviceSpec {
  /** Stable id, e.g. 'dev0'. */
  id: string;
  /** Id of the IOMMU the device sits behind. */
  iommu: string;
  /** PCI address 'dddd:bb:dd.f'; absent for platform and mock devices. */
  bdf?: string;
  /** Requester id (bus << 8 | devfn); also the SMMU StreamID and the AMD DeviceID unless `sid` says otherwise. */
  rid?: number;
  /** SMMU StreamID when it differs from the rid (platform devices). */
  sid?: number;
  /** iommu_group number; devices sharing a group attach together. */
  group: number;
  /** Max PASIDs the device supports (PCI PASID capability / "pasid-num-bits"); 0 = none. */
  pasid: number;
  /** PCI PASID capability Execute / Privileged-mode bits (IOMMU_HW_CAP_PCI_PASID_EXEC/PRIV). */
  pasidExec?: boolean;
  pasidPriv?: boolean;
  pri: boolean;
  ats: boolean;
  /** PCI virtual function: fault-capable HWPTs are refused on a VF with PRI (core rule). */
  isVf?: boolean;
  /** Device-specific regions (RMRR / IVMD unity maps / IORT RMR) on top of what the driver adds. */
  reservedRegions: ReservedRegion[];
  /**
   * Snoop-capable DMA: the device can use an enforce-cache-coherency domain
   * (VT-d/AMD: always with SC; SMMUv3: the IORT CANWBS property).
   */
  cacheCoherent: boolean;
  /** MSI writes are isolated by interrupt remapping (IOMMU_CAP_INTR_REMAP / msi_device_has_isolated_msi). */
  msiIsolated: boolean;
  /** mock devices only: MOCK_FLAGS_DEVICE_* the device was created with. */
  mockFlags?: number;
}

export interface TopologySpec {
  iommus: IommuSpec[];
  devices: DeviceSpec[];
}

// ---------------------------------------------------------------- PCI addresses

export interface Bdf {
  segment: number;
  bus: number;
  device: number;
  fn: number;
}

/** 'dddd:bb:dd.f' or 'bb:dd.f' (segment 0); null when malformed. */
export function parseBdf(s: string): Bdf | null {
  const m = /^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$/.exec(s);
  if (!m) return null;
  const bdf = {
    segment: m[1] === undefined ? 0 : parseInt(m[1], 16),
    bus: parseInt(m[2]!, 16),
    device: parseInt(m[3]!, 16),
    fn: parseInt(m[4]!, 10),
  };
  if (bdf.device > 0x1f) return null;
  return bdf;
}

/** PCI_DEVID(bus, devfn): what VT-d context entries, SMMU StreamIDs and AMD DeviceIDs index by. */
export function bdfToRid(b: Bdf): number {
  return (b.bus << 8) | (b.device << 3) | b.fn;
}

export function formatBdf(b: Bdf): string {
  const h = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return `${h(b.segment, 4)}:${h(b.bus, 2)}:${h(b.device, 2)}.${b.fn}`;
}

/** The requester id a device uses: explicit `rid`, else derived from `bdf`, else undefined. */
export function deviceRid(d: DeviceSpec): number | undefined {
  if (d.rid !== undefined) return d.rid;
  const b = d.bdf === undefined ? null : parseBdf(d.bdf);
  return b ? bdfToRid(b) : undefined;
}

export function isPci(d: DeviceSpec): boolean {
  return d.bdf !== undefined;
}

// ---------------------------------------------------------------- defaults

/**
 * The demo machine: a VT-d with a plain NIC and an accelerator with
 * PASID+PRI+ATS, an SMMUv3 with one PCI device, and the selftest mock IOMMU
 * with two mock devices (the second without dirty tracking, as the
 * selftests' NO_DIRTY variant).
 */
export function defaultTopology(): TopologySpec {
  const none: ReservedRegion[] = [];
  return {
    iommus: [
      { id: 'iommu0', kind: 'vtd' },
      { id: 'iommu1', kind: 'smmuv3' },
      { id: 'iommu2', kind: 'mock' },
    ],
    devices: [
      {
        id: 'dev0', iommu: 'iommu0', bdf: '0000:00:03.0', rid: 0x18, group: 0, pasid: 0,
        pri: false, ats: false, reservedRegions: [...none], cacheCoherent: true, msiIsolated: true,
      },
      {
        id: 'dev1', iommu: 'iommu0', bdf: '0000:00:04.0', rid: 0x20, group: 1, pasid: 1 << 20,
        pasidExec: false, pasidPriv: true, pri: true, ats: true, reservedRegions: [...none],
        cacheCoherent: true, msiIsolated: true,
      },
      {
        id: 'dev2', iommu: 'iommu1', bdf: '0000:01:00.0', rid: 0x100, group: 2, pasid: 0,
        pri: false, ats: true, reservedRegions: [...none], cacheCoherent: true, msiIsolated: true,
      },
      {
        id: 'mock0', iommu: 'iommu2', group: 3, pasid: 0, pri: false, ats: false,
        reservedRegions: [...none], cacheCoherent: true, msiIsolated: true, mockFlags: 0,
      },
      {
        id: 'mock1', iommu: 'iommu2', group: 4, pasid: 0, pri: false, ats: false,
        reservedRegions: [...none], cacheCoherent: true, msiIsolated: true, mockFlags: 1 /* MOCK_FLAGS_DEVICE_NO_DIRTY */,
      },
    ],
  };
}

// ---------------------------------------------------------------- validation

const ID_RE = /^[A-Za-z0-9_.-]+$/;
const CAP_KEYS: ReadonlySet<string> = new Set([
  'dirtyTracking', 'nesting', 'pasidBits', 'pri', 'ats', 'snoopControl', 'coherent', 'addressWidth', 'fiveLevel',
  'firstStage', 'secondStage', 'superpage1G', 'supervisorRequests', 'extendedAccessed', 's2fwb',
  'rangeInvalidation', 'stall', 'pgtable', 'preferFirstStage',
]);
const MAX_PASID_BITS = 20;
/** MOCK_FLAGS_DEVICE_NO_DIRTY | MOCK_FLAGS_DEVICE_PASID: anything else fails device creation (EINVAL). */
const MOCK_DEVICE_FLAGS_VALID = 0b101;

function hex(n: number | bigint): string {
  return `0x${n.toString(16)}`;
}

/**
 * Every problem with a topology, one clear sentence each; [] when it is
 * usable.  Checks only what would make the model wrong or ambiguous, not
 * what real hardware would merely find unusual.
 */
export function validateTopology(spec: TopologySpec): string[] {
  const errs: string[] = [];
  if (!spec || !Array.isArray(spec.iommus) || !Array.isArray(spec.devices)) {
    return ['topology must have arrays "iommus" and "devices"'];
  }
  const iommus: Record<string, IommuSpec> = {};
  for (const [i, m] of spec.iommus.entries()) {
    const where = `iommus[${i}]`;
    if (typeof m.id !== 'string' || !ID_RE.test(m.id)) {
      errs.push(`${where}: id ${JSON.stringify(m.id)} must be a non-empty string of letters, digits, '_', '-', '.'`);
      continue;
    }
    if (Object.hasOwn(iommus, m.id)) errs.push(`duplicate iommu id '${m.id}'`);
    iommus[m.id] = m;
    if (!IOMMU_KINDS.includes(m.kind)) {
      errs.push(`iommu '${m.id}': unknown kind ${JSON.stringify(m.kind)} (expected ${IOMMU_KINDS.join(', ')})`);
    }
    const caps = m.caps ?? {};
    for (const k of Object.keys(caps)) if (!CAP_KEYS.has(k)) errs.push(`iommu '${m.id}': unknown capability '${k}'`);
    if (caps.pasidBits !== undefined &&
        (!Number.isInteger(caps.pasidBits) || caps.pasidBits < 0 || caps.pasidBits > MAX_PASID_BITS)) {
      errs.push(`iommu '${m.id}': pasidBits ${caps.pasidBits} must be an integer 0..${MAX_PASID_BITS}`);
    }
    if (caps.addressWidth !== undefined && ![39, 48, 57].includes(caps.addressWidth)) {
      errs.push(`iommu '${m.id}': addressWidth ${caps.addressWidth} must be 39, 48 or 57`);
    }
    if (caps.pgtable !== undefined && caps.pgtable !== 'v1' && caps.pgtable !== 'v2') {
      errs.push(`iommu '${m.id}': pgtable ${JSON.stringify(caps.pgtable)} must be 'v1' or 'v2'`);
    }
    if (m.kind === 'smmuv3' && caps.firstStage === false && caps.secondStage === false) {
      errs.push(`iommu '${m.id}': an SMMUv3 needs stage 1 or stage 2 (the driver refuses to probe without either)`);
    }
  }

  const devIds: Record<string, true> = {};
  const groupIommu: Record<number, string> = {};
  const ridOwner: Record<string, string> = {};
  for (const [i, d] of spec.devices.entries()) {
    if (typeof d.id !== 'string' || !ID_RE.test(d.id)) {
      errs.push(`devices[${i}]: id ${JSON.stringify(d.id)} must be a non-empty string of letters, digits, '_', '-', '.'`);
      continue;
    }
    const w = `device '${d.id}'`;
    if (Object.hasOwn(devIds, d.id)) errs.push(`duplicate device id '${d.id}'`);
    if (Object.hasOwn(iommus, d.id)) errs.push(`${w}: id is also an iommu id`);
    devIds[d.id] = true;
    const m = Object.hasOwn(iommus, d.iommu) ? iommus[d.iommu] : undefined;
    if (!m) errs.push(`${w}: unknown iommu ${JSON.stringify(d.iommu)}`);

    let bdf: Bdf | null = null;
    if (d.bdf !== undefined) {
      bdf = parseBdf(d.bdf);
      if (!bdf) errs.push(`${w}: bad bdf ${JSON.stringify(d.bdf)} (expected dddd:bb:dd.f, device <= 1f, function <= 7)`);
    }
    if (d.rid !== undefined && (!Number.isInteger(d.rid) || d.rid < 0 || d.rid > 0xffff)) {
      errs.push(`${w}: rid ${d.rid} must be an integer 0..0xffff`);
    } else if (d.rid !== undefined && bdf && bdfToRid(bdf) !== d.rid) {
      errs.push(`${w}: rid ${hex(d.rid)} does not match bdf ${d.bdf} (${hex(bdfToRid(bdf))})`);
    }
    if (d.sid !== undefined && (!Number.isInteger(d.sid) || d.sid < 0 || d.sid > 0xffffffff)) {
      errs.push(`${w}: sid ${d.sid} must be a 32-bit integer`);
    }
    if (m && m.kind !== 'mock' && m.kind !== 'smmuv3' && deviceRid(d) === undefined) {
      errs.push(`${w}: a ${m.kind} device needs a bdf or rid (the IOMMU finds it by requester id)`);
    }
    if (m && m.kind === 'smmuv3' && deviceRid(d) === undefined && d.sid === undefined) {
      errs.push(`${w}: an SMMUv3 device needs a bdf, rid or sid (its StreamID)`);
    }
    const rid = deviceRid(d);
    const sidKey = m?.kind === 'smmuv3' ? (d.sid ?? rid) : rid;
    if (m && sidKey !== undefined) {
      const key = `${d.iommu}/${bdf?.segment ?? 0}/${sidKey}`;
      const other = Object.hasOwn(ridOwner, key) ? ridOwner[key] : undefined;
      if (other !== undefined) errs.push(`${w}: requester id ${hex(sidKey)} on '${d.iommu}' already used by device '${other}'`);
      else ridOwner[key] = d.id;
    }

    if (!Number.isInteger(d.group) || d.group < 0) {
      errs.push(`${w}: group ${JSON.stringify(d.group)} must be a non-negative integer`);
    } else if (m) {
      const owner = Object.hasOwn(groupIommu, d.group) ? groupIommu[d.group] : undefined;
      if (owner !== undefined && owner !== d.iommu) {
        errs.push(`${w}: group ${d.group} spans iommus '${owner}' and '${d.iommu}' (an iommu_group has one IOMMU)`);
      } else groupIommu[d.group] = d.iommu;
    }

    if (!Number.isInteger(d.pasid) || d.pasid < 0 || d.pasid > 2 ** MAX_PASID_BITS) {
      errs.push(`${w}: pasid ${JSON.stringify(d.pasid)} (max PASIDs) must be an integer 0..${2 ** MAX_PASID_BITS}`);
    }
    if (typeof d.pri !== 'boolean') errs.push(`${w}: pri must be true or false`);
    if (typeof d.ats !== 'boolean') errs.push(`${w}: ats must be true or false`);
    if (d.pri && !d.ats) errs.push(`${w}: pri requires ats (PCI page requests are ATS translation failures)`);
    if ((d.pasidExec || d.pasidPriv) && !(d.pasid > 0)) errs.push(`${w}: pasidExec/pasidPriv need pasid > 0`);
    if (m?.kind === 'mock') {
      if (d.bdf !== undefined || d.ats || d.pri) errs.push(`${w}: mock devices are not PCI devices (no bdf, ats or pri)`);
      const f = d.mockFlags ?? 0;
      if (!Number.isInteger(f) || (f & ~MOCK_DEVICE_FLAGS_VALID) !== 0) {
        errs.push(`${w}: mockFlags ${hex(f)} has bits outside NO_DIRTY|PASID (device creation would fail EINVAL)`);
      }
      if (d.pasid > 0 && (f & 0b100) === 0) errs.push(`${w}: a mock device with pasid > 0 needs MOCK_FLAGS_DEVICE_PASID in mockFlags`);
    } else if (d.mockFlags !== undefined) {
      errs.push(`${w}: mockFlags only apply to devices behind a mock IOMMU`);
    }
    if ((d.ats || d.pri || d.pasid > 0) && m && m.kind !== 'mock' && !isPci(d)) {
      errs.push(`${w}: ats/pri/pasid are PCI capabilities; give the device a bdf`);
    }
    const caps = m?.caps ?? {};
    if (m && m.kind !== 'mock') {
      if (d.pri && caps.pri === false) errs.push(`${w}: pri on iommu '${m.id}' whose pri capability is off`);
      if (d.ats && caps.ats === false) errs.push(`${w}: ats on iommu '${m.id}' whose ats capability is off`);
      if (d.pasid > 0 && caps.pasidBits === 0) errs.push(`${w}: pasid on iommu '${m.id}' with pasidBits 0`);
    }

    if (!Array.isArray(d.reservedRegions)) {
      errs.push(`${w}: reservedRegions must be an array`);
    } else {
      for (const [j, r] of d.reservedRegions.entries()) {
        const rw = `${w}: reservedRegions[${j}]`;
        if (typeof r.start !== 'bigint' || typeof r.last !== 'bigint') {
          errs.push(`${rw}: start and last must be 64-bit integers`);
          continue;
        }
        if (r.start < 0n || r.last > 0xffffffffffffffffn) errs.push(`${rw}: outside the 64-bit IOVA space`);
        if (r.start > r.last) errs.push(`${rw}: start ${hex(r.start)} is above last ${hex(r.last)}`);
        if (!RESERVED_REGION_TYPES.includes(r.type)) {
          errs.push(`${rw}: unknown type ${JSON.stringify(r.type)} (expected ${RESERVED_REGION_TYPES.join(', ')})`);
        }
      }
    }
    if (typeof d.cacheCoherent !== 'boolean') errs.push(`${w}: cacheCoherent must be true or false`);
    if (typeof d.msiIsolated !== 'boolean') errs.push(`${w}: msiIsolated must be true or false`);
  }
  return errs;
}

// ---------------------------------------------------------------- JSON config

export type ParseResult = { ok: true; spec: TopologySpec } | { ok: false; errors: string[] };

function toBig(v: unknown): bigint | null {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^(0x[0-9a-fA-F]+|[0-9]+)$/.test(v.trim())) return BigInt(v.trim());
  return null;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A topology from a JSON config file object.  Addresses may be numbers or
 * strings ("0xfee00000", for values JSON numbers cannot hold exactly);
 * `rid` may be a hex string too.  Missing device fields take PCI-ish
 * defaults: own group (next free number), no PASID/PRI/ATS, coherent,
 * MSI-isolated.  The result is validated.
 */
export function parseTopology(json: unknown): ParseResult {
  if (!isObj(json)) return { ok: false, errors: ['topology config must be a JSON object'] };
  const errors: string[] = [];
  const rawI = json.iommus;
  const rawD = json.devices ?? [];
  if (!Array.isArray(rawI)) return { ok: false, errors: ['topology config needs an "iommus" array'] };
  if (!Array.isArray(rawD)) return { ok: false, errors: ['"devices" must be an array'] };

  const iommus: IommuSpec[] = [];
  for (const [i, m] of rawI.entries()) {
    if (!isObj(m)) { errors.push(`iommus[${i}] must be an object`); continue; }
    const spec: IommuSpec = { id: m.id as string, kind: m.kind as IommuKind };
    if (m.caps !== undefined) {
      if (!isObj(m.caps)) errors.push(`iommus[${i}].caps must be an object`);
      else spec.caps = { ...(m.caps as IommuCapOverrides) };
    }
    iommus.push(spec);
  }

  const usedGroups = new Set<number>();
  for (const d of rawD) if (isObj(d) && typeof d.group === 'number') usedGroups.add(d.group);
  let nextGroup = 0;
  const freshGroup = () => {
    while (usedGroups.has(nextGroup)) nextGroup++;
    usedGroups.add(nextGroup);
    return nextGroup;
  };

  const devices: DeviceSpec[] = [];
  for (const [i, d] of rawD.entries()) {
    if (!isObj(d)) { errors.push(`devices[${i}] must be an object`); continue; }
    const where = `devices[${i}]${typeof d.id === 'string' ? ` ('${d.id}')` : ''}`;
    let rid: number | undefined;
    if (d.rid !== undefined) {
      const r = toBig(d.rid);
      if (r === null) errors.push(`${where}: rid ${JSON.stringify(d.rid)} is not an integer`);
      else rid = Number(r);
    }
    const regions: ReservedRegion[] = [];
    const rawR = d.reservedRegions ?? [];
    if (!Array.isArray(rawR)) errors.push(`${where}: reservedRegions must be an array`);
    else {
      for (const [j, r] of rawR.entries()) {
        if (!isObj(r)) { errors.push(`${where}: reservedRegions[${j}] must be an object`); continue; }
        const start = toBig(r.start);
        // `length` is accepted as an alternative to `last`, as IORT/IVRS describe ranges.
        const last = r.last !== undefined ? toBig(r.last) : (() => {
          const len = toBig(r.length);
          return start !== null && len !== null && len > 0n ? start + len - 1n : null;
        })();
        if (start === null || last === null) {
          errors.push(`${where}: reservedRegions[${j}] needs integer start and last (or length)`);
          continue;
        }
        regions.push({ start, last, type: r.type as ReservedRegionType });
      }
    }
    const dev: DeviceSpec = {
      id: d.id as string,
      iommu: d.iommu as string,
      group: typeof d.group === 'number' ? d.group : d.group === undefined ? freshGroup() : (d.group as number),
      pasid: d.pasid === undefined ? 0 : (d.pasid as number),
      pri: d.pri === undefined ? false : (d.pri as boolean),
      ats: d.ats === undefined ? false : (d.ats as boolean),
      reservedRegions: regions,
      cacheCoherent: d.cacheCoherent === undefined ? true : (d.cacheCoherent as boolean),
      msiIsolated: d.msiIsolated === undefined ? true : (d.msiIsolated as boolean),
    };
    if (d.bdf !== undefined) dev.bdf = d.bdf as string;
    if (rid !== undefined) dev.rid = rid;
    if (d.sid !== undefined) dev.sid = d.sid as number;
    if (d.pasidExec !== undefined) dev.pasidExec = d.pasidExec as boolean;
    if (d.pasidPriv !== undefined) dev.pasidPriv = d.pasidPriv as boolean;
    if (d.isVf !== undefined) dev.isVf = d.isVf as boolean;
    if (d.mockFlags !== undefined) dev.mockFlags = d.mockFlags as number;
    devices.push(dev);
  }
  if (errors.length > 0) return { ok: false, errors };
  const spec = { iommus, devices };
  const problems = validateTopology(spec);
  return problems.length > 0 ? { ok: false, errors: problems } : { ok: true, spec };
}

/** Lookups that callers need often; linear scans keep the spec the only state. */
export function findIommu(spec: TopologySpec, id: string): IommuSpec | undefined {
  return spec.iommus.find((m) => m.id === id);
}

export function findDevice(spec: TopologySpec, id: string): DeviceSpec | undefined {
  return spec.devices.find((d) => d.id === id);
}

export function devicesOf(spec: TopologySpec, iommu: string): DeviceSpec[] {
  return spec.devices.filter((d) => d.iommu === iommu);
}

import { describe, expect, it } from 'vitest';
import {
  bdfToRid, defaultTopology, deviceRid, formatBdf, parseBdf, parseTopology, validateTopology, type TopologySpec,
} from '../../hardware/topology.ts';
import { createModels } from '../../hardware/models/index.ts';

const clone = (t: TopologySpec): TopologySpec => structuredClone(t);

describe('default topology', () => {
  it('is valid and small', () => {
    const t = defaultTopology();
    expect(validateTopology(t)).toEqual([]);
    expect(t.iommus.map((m) => m.kind)).toEqual(['vtd', 'smmuv3', 'mock']);
    expect(t.devices.filter((d) => d.iommu === 'iommu0')).toHaveLength(2);
    expect(t.devices.filter((d) => d.iommu === 'iommu1')).toHaveLength(1);
    expect(t.devices.filter((d) => d.iommu === 'iommu2')).toHaveLength(2);
    const accel = t.devices.find((d) => d.pasid > 0)!;
    expect(accel.pri && accel.ats).toBe(true);
    expect(Object.keys(createModels(t))).toEqual(['iommu0', 'iommu1', 'iommu2']);
  });

  it('is plain data (structuredClone round-trips it, two calls are equal)', () => {
    expect(structuredClone(defaultTopology())).toEqual(defaultTopology());
  });
});

describe('bdf', () => {
  it('parses and formats', () => {
    const b = parseBdf('0000:00:03.0')!;
    expect(b).toEqual({ segment: 0, bus: 0, device: 3, fn: 0 });
    expect(bdfToRid(b)).toBe(0x18);
    expect(bdfToRid(parseBdf('01:00.1')!)).toBe(0x101);
    expect(formatBdf(parseBdf('ab:1f.7')!)).toBe('0000:ab:1f.7');
  });
  it('rejects malformed addresses', () => {
    for (const s of ['', '0000:00:03', '00:20.0', '00:03.8', 'zz:00.0', '0000:000:03.0']) expect(parseBdf(s)).toBeNull();
  });
  it('derives the rid from the bdf when none is given', () => {
    const d = defaultTopology().devices[0]!;
    delete d.rid;
    expect(deviceRid(d)).toBe(0x18);
  });
});

describe('validateTopology messages', () => {
  const base = () => clone(defaultTopology());

  it('duplicate ids', () => {
    const t = base();
    t.iommus.push({ id: 'iommu0', kind: 'amd' });
    t.devices.push({ ...t.devices[0]!, bdf: '0000:00:09.0', rid: 0x48, group: 9 });
    const e = validateTopology(t);
    expect(e).toContain("duplicate iommu id 'iommu0'");
    expect(e).toContain("duplicate device id 'dev0'");
  });

  it('unknown iommu and unknown kind', () => {
    const t = base();
    t.devices[0]!.iommu = 'iommu9';
    (t.iommus[1] as { kind: string }).kind = 'sparc';
    const e = validateTopology(t);
    expect(e).toContain(`device 'dev0': unknown iommu "iommu9"`);
    expect(e).toContain(`iommu 'iommu1': unknown kind "sparc" (expected mock, vtd, smmuv3, amd)`);
  });

  it('bad bdf and rid mismatch', () => {
    const t = base();
    t.devices[0]!.bdf = '0000:00:3.0';
    t.devices[1]!.rid = 0x21;
    const e = validateTopology(t);
    expect(e.some((m) => m.startsWith(`device 'dev0': bad bdf "0000:00:3.0"`))).toBe(true);
    expect(e).toContain("device 'dev1': rid 0x21 does not match bdf 0000:00:04.0 (0x20)");
  });

  it('duplicate requester id on one IOMMU', () => {
    const t = base();
    t.devices.push({ ...t.devices[0]!, id: 'dev9', group: 9 });
    expect(validateTopology(t)).toContain("device 'dev9': requester id 0x18 on 'iommu0' already used by device 'dev0'");
  });

  it('a group spanning IOMMUs', () => {
    const t = base();
    t.devices[2]!.group = 0;
    expect(validateTopology(t)).toContain("device 'dev2': group 0 spans iommus 'iommu0' and 'iommu1' (an iommu_group has one IOMMU)");
  });

  it('pri without ats, PCI capabilities on a mock device, bad mock flags', () => {
    const t = base();
    t.devices[1]!.ats = false;
    t.devices[3]!.ats = true;
    t.devices[4]!.mockFlags = 2;
    const e = validateTopology(t);
    expect(e).toContain("device 'dev1': pri requires ats (PCI page requests are ATS translation failures)");
    expect(e).toContain("device 'mock0': mock devices are not PCI devices (no bdf, ats or pri)");
    expect(e).toContain("device 'mock1': mockFlags 0x2 has bits outside NO_DIRTY|PASID (device creation would fail EINVAL)");
  });

  it('device capabilities the IOMMU has switched off', () => {
    const t = base();
    t.iommus[0]!.caps = { pri: false, pasidBits: 0 };
    const e = validateTopology(t);
    expect(e).toContain("device 'dev1': pri on iommu 'iommu0' whose pri capability is off");
    expect(e).toContain("device 'dev1': pasid on iommu 'iommu0' with pasidBits 0");
  });

  it('reserved regions and capability overrides', () => {
    const t = base();
    t.devices[0]!.reservedRegions = [
      { start: 0x2000n, last: 0x1000n, type: 'direct' },
      { start: 0n, last: 0xfffn, type: 'weird' as never },
    ];
    t.iommus[0]!.caps = { pasidBits: 21, addressWidth: 52 as never, bogus: true } as never;
    const e = validateTopology(t);
    expect(e).toContain("device 'dev0': reservedRegions[0]: start 0x2000 is above last 0x1000");
    expect(e).toContain(`device 'dev0': reservedRegions[1]: unknown type "weird" (expected msi, reserved, direct, direct-relaxable, sw-msi)`);
    expect(e).toContain("iommu 'iommu0': pasidBits 21 must be an integer 0..20");
    expect(e).toContain("iommu 'iommu0': addressWidth 52 must be 39, 48 or 57");
    expect(e).toContain("iommu 'iommu0': unknown capability 'bogus'");
  });

  it('a real-IOMMU device without an address', () => {
    const t = base();
    delete t.devices[0]!.bdf;
    delete t.devices[0]!.rid;
    expect(validateTopology(t)).toContain("device 'dev0': a vtd device needs a bdf or rid (the IOMMU finds it by requester id)");
  });
});

describe('parseTopology', () => {
  it('fills defaults and converts addresses', () => {
    const r = parseTopology({
      iommus: [{ id: 'a', kind: 'amd', caps: { dirtyTracking: false } }, { id: 'm', kind: 'mock' }],
      devices: [
        { id: 'nic', iommu: 'a', bdf: '0000:02:00.0', reservedRegions: [{ start: '0xc0000000', length: 4096, type: 'direct' }] },
        { id: 'gpu', iommu: 'a', bdf: '0000:03:00.0', rid: '0x300', group: 0, pasid: 65536, ats: true, pri: true },
        { id: 'mk', iommu: 'm' },
      ],
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const [nic, gpu, mk] = r.spec.devices;
    expect(nic!.reservedRegions).toEqual([{ start: 0xc0000000n, last: 0xc0000fffn, type: 'direct' }]);
    expect(nic!.group).toBe(1); // 0 was taken by 'gpu'
    expect(gpu!.rid).toBe(0x300);
    expect(mk!.cacheCoherent).toBe(true);
    expect(mk!.pasid).toBe(0);
    expect(r.spec.iommus[0]!.caps).toEqual({ dirtyTracking: false });
  });

  it('reports shape errors and validation errors', () => {
    expect(parseTopology(null)).toEqual({ ok: false, errors: ['topology config must be a JSON object'] });
    expect(parseTopology({})).toEqual({ ok: false, errors: ['topology config needs an "iommus" array'] });
    const r = parseTopology({ iommus: [{ id: 'v', kind: 'vtd' }], devices: [{ id: 'd', iommu: 'x', bdf: '00:01.0', rid: 'nope' }] });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors).toEqual([`devices[0] ('d'): rid "nope" is not an integer`]);
    const r2 = parseTopology({ iommus: [{ id: 'v', kind: 'vtd' }], devices: [{ id: 'd', iommu: 'x', bdf: '00:01.0' }] });
    expect(r2.ok).toBe(false);
    if (!r2.ok) expect(r2.errors).toEqual([`device 'd': unknown iommu "x"`]);
  });

  it('accepts the default topology serialized as JSON (bigints as strings)', () => {
    const json = JSON.parse(JSON.stringify(defaultTopology(), (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v)));
    const r = parseTopology(json);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.spec).toEqual(defaultTopology());
  });
});

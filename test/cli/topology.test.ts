import { describe, expect, it, vi } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli/main.ts';
import { JournalReader } from '../../journal/index.ts';

describe('run --topology', () => {
  it('runs a scenario on a described machine, records the topology in the journal, and rejects a bad description with a clear message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iommufd-sim-topo-'));
    const topo = { iommus: [{ id: 'smmu0', kind: 'smmuv3' }], devices: [{ id: 'nic0', iommu: 'smmu0', bdf: '0000:01:00.0', group: 1, pasid: 0, pri: false, ats: false, reservedRegions: [], cacheCoherent: true, msiIsolated: true }] };
    writeFileSync(join(dir, 'topo.json'), JSON.stringify(topo));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ iommus: [{ id: 'x', kind: 'nope' }], devices: [] }));
    writeFileSync(join(dir, 's.scn'), 'proc p uid=1000\nopen fd = p /dev/iommu\nopen dev = p vfio0\np: VFIO_DEVICE_BIND_IOMMUFD on $dev iommufd=$fd -> id\np: IOMMU_GET_HW_INFO on $fd dev_id=$id expect ok\n');
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['node', 'iommufd-sim', 'run', join(dir, 's.scn'), '--topology', join(dir, 'topo.json'), '--journal', join(dir, 's.journal')])).toBe(0);
      const h = JournalReader.fromBytes(new Uint8Array(readFileSync(join(dir, 's.journal')))).header;
      expect((h.topology as { iommus: { kind: string }[] }).iommus.map((m) => m.kind)).toEqual(['smmuv3']);
      expect(await main(['node', 'iommufd-sim', 'run', join(dir, 's.scn'), '--topology', join(dir, 'bad.json')])).toBe(2);
      expect(err.mock.calls.map((c) => String(c[0])).join('')).toMatch(/unknown kind "nope"/);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  });
});

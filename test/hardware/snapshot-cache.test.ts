/**
 * Engine snapshots reuse an IOTLB's sparse arrays while nothing wrote to
 * the cache since the last snapshot, and rebuild them after any insert,
 * re-stamp or invalidation: the snapshot always equals a fresh scan.
 */
import { describe, expect, it } from 'vitest';
import { engineCreate, engineRestore, engineSnapshot } from '../../hardware/translate.ts';
import { TAG_DOMAIN, iotlbEntries, iotlbInsert, iotlbInvalidateAll, iotlbStamp } from '../../hardware/iotlb.ts';
import { encodeValue } from '../../journal/codec.ts';

const fresh = (s: ReturnType<typeof engineCreate>) => encodeValue(engineSnapshot(engineRestore(engineSnapshot(s))));

describe('engine snapshot of an unchanged IOTLB', () => {
  it('is the same arrays when nothing was written, and follows every kind of write', () => {
    const s = engineCreate({ iommus: 2, iotlbCapacity: 64 });
    const a = engineSnapshot(s);
    expect(engineSnapshot(s).iotlbs[0]!.keys).toBe(a.iotlbs[0]!.keys);
    const slot = iotlbInsert(s.iotlbs[0]!, TAG_DOMAIN, 1, 0, 0, 0x5000, 4096, 0x9000, 3, 0);
    const b = engineSnapshot(s);
    expect(b.iotlbs[0]!.keys).not.toBe(a.iotlbs[0]!.keys);
    expect(b.iotlbs[1]!.keys).toBe(a.iotlbs[1]!.keys); // the other IOMMU's cache did not change
    expect(encodeValue(b)).toEqual(fresh(s));
    iotlbStamp(s.iotlbs[0]!, slot, 7, 1);
    const c = engineSnapshot(s);
    expect(c.iotlbs[0]!.gen).not.toBe(b.iotlbs[0]!.gen);
    expect(encodeValue(c)).toEqual(fresh(s));
    iotlbInvalidateAll(s.iotlbs[0]!);
    const d = engineSnapshot(s);
    expect(encodeValue(d.iotlbs[0])).not.toEqual(encodeValue(c.iotlbs[0]));
    expect(encodeValue(d)).toEqual(fresh(s));
    expect(iotlbEntries(engineRestore(d).iotlbs[0]!)).toEqual([]);
  });
});

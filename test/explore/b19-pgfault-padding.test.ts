/**
 * B19 (spec/bugs.md; e721f619e3ec "iommufd: Fix struct iommu_hwpt_pgfault
 * init and padding", checked against the patch): a read() of the FAULT fd
 * copies out `struct iommu_hwpt_pgfault` records.  The fixed kernel builds
 * each one zero-initialised with an explicit `__reserved` (offset 20) before
 * the 8-byte aligned `addr`; before the fix that was a hole of stale kernel
 * stack.  The layout is 40 bytes either way on 64-bit.
 */
import { describe, expect, it } from 'vitest';
import { Simulation } from '../../actors/sim.ts';
import { SCENARIOS } from '../../explore/scenarios.ts';
import { setupScenario, SCENARIO_PID } from '../../explore/run.ts';
import { decode } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';

/** The B07 scenario's setup: a mock device on a fault-capable HWPT with one IOPF group queued. */
function readOneRecord(variant: string | null): { bytes: Uint8Array; rec: Record<string, number | bigint> } {
  const sim = new Simulation({ seed: 1, config: { variant } });
  const { bindings: b } = setupScenario(sim, SCENARIOS['fault-read-detach-race']!);
  const r = sim.syscall(SCENARIO_PID, 'read', { fd: Number(b.ffd), buf: BigInt(b.buf!), count: S.iommu_hwpt_pgfault.size });
  expect(r.errno).toBe(0);
  expect(Number(r.ret)).toBe(S.iommu_hwpt_pgfault.size);
  const peek = sim.syscall(SCENARIO_PID, 'peek', { addr: BigInt(b.buf!), length: S.iommu_hwpt_pgfault.size });
  const bytes = peek.data!;
  return { bytes, rec: decode(S.iommu_hwpt_pgfault, bytes) as Record<string, number | bigint> };
}

describe('B19: page-fault record padding', () => {
  it('the record is 40 bytes with __reserved at 20 and addr 8-byte aligned at 24', () => {
    expect(S.iommu_hwpt_pgfault.size).toBe(40);
  });

  it('fixed: __reserved reads 0 and the fields are the fault', () => {
    const { rec } = readOneRecord(null);
    expect(rec.__reserved).toBe(0);
    expect(rec.grpid).toBe(1);
    expect(rec.addr).toBe(0x1000000n);
    expect(rec.cookie).toBe(1);
  });

  it('B19: the hole carries stale kernel stack; every other field is the same', () => {
    const fixed = readOneRecord(null);
    const buggy = readOneRecord('B19');
    expect(buggy.rec.__reserved).not.toBe(0);
    expect([...buggy.bytes.subarray(20, 24)]).toEqual([0x81, 0x88, 0xff, 0xff]);
    expect({ ...buggy.rec, __reserved: 0 }).toEqual(fixed.rec);
  });
});

/**
 * SMMUv3 nesting bring-up on dev2 (iommu1), as a VMM does it: guest RAM at
 * GPA 0 in an IOAS behind a NEST_PARENT S2 HWPT, a vIOMMU (ARM_SMMUV3) on
 * it, the device's vDEVICE (virtual SID), then the guest's STEs as nested
 * HWPTs on the vIOMMU: abort (V=0 and Config=abort) blocks DMA, bypass
 * passes GPAs through stage 2, S1 translate walks the guest's CD + LPAE
 * tables (written into guest memory).  Stage-1 faults reach the guest as
 * SMMUv3 event records on the vIOMMU's vEVENTQ with the vSID; the guest's
 * TLBI commands go through IOMMU_HWPT_INVALIDATE on the vIOMMU with per-entry
 * error reporting (hardware.md §3.2, §3.5, §3.6; uapi.md §3.16, §3.18, §3.19, §3.21).
 */
import { describe, expect, it } from 'vitest';
import type { Simulation } from '../../actors/sim.ts';
import { encodeArray } from '../../uapi/layout.ts';
import { iotlbEntries } from '../../hardware/iotlb.ts';
import type { TranslationActor } from '../../actors/hw/translation.ts';
import * as S from '../../uapi/structs.ts';
import {
  IOMMU_HWPT_DATA_ARM_SMMUV3, IOMMU_HWPT_DATA_VTD_S1, IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
} from '../../uapi/enums.ts';
import { E2BIG, EBUSY, EINVAL, EIO, ENOENT, EOPNOTSUPP } from '../../uapi/errno.ts';
import {
  PAGE, S1_BASE, TABLE_PAGES, checkSequence, domainOf, gpaVa, guestRam, journaled, peek, read1, readVevents, userData,
  vste, ste0, write1, writeStage1, type Guest,
} from './helpers.ts';

const VSID = 0x42n;
const ASID = 5;
const CFG_ABORT = 0;
const CFG_BYPASS = 4;
const CFG_S1 = 5;

/** The guest's stage 1: 8 IOVA pages onto data pages of its RAM, the last one read-only; one IOVA onto a GPA it does not have. */
function stage1(g: Guest): number {
  const maps = Array.from({ length: 8 }, (_, i) => ({ iova: S1_BASE + i * PAGE, gpa: (TABLE_PAGES + 3 * i + 1) * PAGE, write: i !== 7 }));
  maps.push({ iova: S1_BASE + 20 * PAGE, gpa: 0x4000_0000, write: true });
  return writeStage1(g, 'smmuv3', maps, ASID);
}

interface Vsmmu {
  g: Guest;
  viommu: number;
  vdev: number;
  veventq: number;
  evfd: number;
}

function bringUp(sim: Simulation, seed: number): Vsmmu {
  const g = guestRam(sim, 'dev2', seed);
  const { ifd, devId } = g.r;
  const v = ifd.viommuAlloc({ flags: 0, type: IOMMU_VIOMMU_TYPE_ARM_SMMUV3, dev_id: devId, hwpt_id: g.parent, data_len: 0, data_uptr: 0n });
  expect(v.errno).toBe(0);
  const viommu = v.out.out_viommu_id;
  const vd = ifd.vdeviceAlloc({ viommu_id: viommu, dev_id: devId, virt_id: VSID });
  expect(vd.errno).toBe(0);
  const q = ifd.veventqAlloc({ flags: 0, viommu_id: viommu, type: IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, veventq_depth: 16 });
  expect(q.errno).toBe(0);
  return { g, viommu, vdev: vd.out.out_vdevice_id, veventq: q.out.out_veventq_id, evfd: q.out.out_veventq_fd };
}

function nested(s: Vsmmu, data: Uint8Array) {
  const { ifd, devId, p } = s.g.r;
  return ifd.hwptAlloc({ dev_id: devId, pt_id: s.viommu, flags: 0, data_type: IOMMU_HWPT_DATA_ARM_SMMUV3, data_len: data.length, data_uptr: userData(p, data) });
}

function nestedOk(s: Vsmmu, data: Uint8Array): number {
  const r = nested(s, data);
  expect(r.errno).toBe(0);
  return r.out.out_hwpt_id;
}

function cmds(list: [bigint, bigint][], entryLen = 16, tail?: (i: number) => Uint8Array): Uint8Array {
  const b = new Uint8Array(list.length * entryLen);
  list.forEach((c, i) => {
    const one = new Uint8Array(16);
    encodeArray(S.iommu_viommu_arm_smmuv3_invalidate, [{ cmd: c }], one);
    b.set(one, i * entryLen);
    if (tail) b.set(tail(i), i * entryLen + 16);
  });
  return b;
}

function invalidate(s: Vsmmu, data: Uint8Array, o: { entryLen?: number; entryNum: number; dataType?: number }) {
  const { ifd, p } = s.g.r;
  return ifd.hwptInvalidate({
    hwpt_id: s.viommu, data_uptr: userData(p, data.length ? data : new Uint8Array(1), 0xa000n), data_type: o.dataType ?? IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
    entry_len: o.entryLen ?? 16, entry_num: o.entryNum,
  });
}

const op = (opcode: number, hi = 0n) => BigInt(opcode) | hi;
const TLBI_NH_VA = (asid: number, iova: number): [bigint, bigint] => [op(0x12, BigInt(asid) << 48n), BigInt(iova)];
const TLBI_NH_ALL: [bigint, bigint] = [op(0x10), 0n];
const TLBI_NH_ASID = (asid: number): [bigint, bigint] => [op(0x11, BigInt(asid) << 48n), 0n];
const CFGI_CD = (vsid: bigint): [bigint, bigint] => [op(0x05, vsid << 32n), 0n];
const ATC_INV = (vsid: bigint): [bigint, bigint] => [op(0x40, vsid << 32n), 52n];
const CFGI_STE = (vsid: bigint): [bigint, bigint] => [op(0x03, vsid << 32n), 0n];
const CMD_SYNC: [bigint, bigint] = [op(0x46), 0n];

describe('SMMUv3 nesting on a vIOMMU (dev2, iommu1)', () => {
  it('abort and bypass proxy STEs, then S1 translate through the guest CD + LPAE tables', () => {
    journaled((sim) => {
      const s = bringUp(sim, 3);
      const { g } = s;
      const gpa = 18 * PAGE + 100;

      // V = 0: accepted (both words zeroed), installed as an abort STE: nothing reaches memory
      const abortV0 = nestedOk(s, vste(0n, 0x1234n));
      expect(g.r.vfio.attach(abortV0).errno).toBe(0);
      expect(read1(sim, 'dev2', gpa, 8).ok).toBe(false);
      const before = peek(g.r.p, gpaVa(g, gpa), 8);
      expect(write1(sim, 'dev2', gpa, new Uint8Array(8).fill(0xee)).ok).toBe(false);
      expect(peek(g.r.p, gpaVa(g, gpa), 8)).toEqual(before);

      // V = 1, Config = abort: the same, reached by replace
      const abortCfg = nestedOk(s, vste(ste0(CFG_ABORT)));
      expect(g.r.vfio.attach(abortCfg).errno).toBe(0);
      expect(read1(sim, 'dev2', gpa, 8).ok).toBe(false);

      // bypass: the device's addresses are GPAs, translated by stage 2 only
      const bypass = nestedOk(s, vste(ste0(CFG_BYPASS)));
      expect(g.r.vfio.attach(bypass).errno).toBe(0);
      expect(read1(sim, 'dev2', gpa, 64)).toMatchObject({ ok: true, data: peek(g.r.p, gpaVa(g, gpa), 64) });
      const w = new Uint8Array(32).map((_, i) => i + 1);
      expect(write1(sim, 'dev2', gpa + 64, w).ok).toBe(true);
      expect(peek(g.r.p, gpaVa(g, gpa + 64), 32)).toEqual(w);
      // a GPA outside guest RAM faults in stage 2
      expect(read1(sim, 'dev2', 0x2000_0000, 8)).toMatchObject({ ok: false, fault: 'translation' });
      // a bypass or abort vSTE needs no vDEVICE; they are busy while attached
      expect(g.r.ifd.destroy(bypass).errno).toBe(EBUSY);
      expect(g.r.ifd.destroy(abortV0).errno).toBe(0);
      expect(g.r.ifd.destroy(abortCfg).errno).toBe(0);

      // S1 translate: the guest's tables, CD at GPA 0 (S1ContextPtr), LPAE levels in table pages
      const cd = stage1(g);
      const s1 = nestedOk(s, vste(ste0(CFG_S1, cd)));
      expect(g.r.vfio.attach(s1).errno).toBe(0);
      expect(sim.rt.actor('translation')).toBeDefined();
      for (const [iova, m] of g.s1) {
        if (m.gpa >= 0x4000_0000) continue;
        const off = (iova / PAGE) % 97 + 8;
        const o = read1(sim, 'dev2', iova + off, 48);
        expect(o.ok, `read ${iova.toString(16)}`).toBe(true);
        expect(o.data).toEqual(peek(g.r.p, gpaVa(g, m.gpa + off), 48));
        const data = new Uint8Array(24).fill((iova / PAGE) & 0xff);
        const wr = write1(sim, 'dev2', iova + off, data);
        if (m.write) {
          expect(wr.ok).toBe(true);
          expect(peek(g.r.p, gpaVa(g, m.gpa + off), 24)).toEqual(data);
        } else {
          expect(wr).toMatchObject({ ok: false, fault: 'permission', stage: 1 });
        }
      }
      // the parent cannot go while the vIOMMU uses it; the vIOMMU not while nested HWPTs and the vDEVICE hold it
      expect(g.r.ifd.destroy(g.parent).errno).toBe(EBUSY);
      expect(g.r.ifd.destroy(s.viommu).errno).toBe(EBUSY);
    });
  });

  it('vSTE validation: EIO for bad STE content, EOPNOTSUPP / EINVAL from the core and the copy helper', () => {
    journaled((sim) => {
      const s = bringUp(sim, 4);
      // S1 translate without a vDEVICE: attach is refused (no vSID to report events with)
      const { ifd, devId, p } = s.g.r;
      expect(ifd.destroy(s.vdev).errno).toBe(0);
      const s1 = nestedOk(s, vste(ste0(CFG_S1, 0)));
      expect(s.g.r.vfio.attach(s1).errno).toBe(ENOENT);
      // Config stage-2 (6) and nested (7) are not for the guest
      expect(nested(s, vste(ste0(6))).errno).toBe(EIO);
      expect(nested(s, vste(ste0(7))).errno).toBe(EIO);
      // word 0 bits outside V/Config/S1Fmt/S1ContextPtr/S1CDMax; word 1 outside the allowed mask
      expect(nested(s, vste(ste0(CFG_S1) | (1n << 52n))).errno).toBe(EIO);
      expect(nested(s, vste(ste0(CFG_S1), 1n << 19n)).errno).toBe(EIO);
      // EATS 2 (S1-only check) is refused; 1 (translate) accepted
      expect(nested(s, vste(ste0(CFG_S1), 2n << 28n)).errno).toBe(EIO);
      expect(nested(s, vste(ste0(CFG_S1), 1n << 28n)).errno).toBe(0);
      // wrong data type → EINVAL (copy helper), short or long data → EINVAL
      const d = vste(ste0(CFG_S1));
      expect(ifd.hwptAlloc({ dev_id: devId, pt_id: s.viommu, flags: 0, data_type: IOMMU_HWPT_DATA_VTD_S1, data_len: 16, data_uptr: userData(p, d) }).errno).toBe(EINVAL);
      expect(ifd.hwptAlloc({ dev_id: devId, pt_id: s.viommu, flags: 0, data_type: IOMMU_HWPT_DATA_ARM_SMMUV3, data_len: 8, data_uptr: userData(p, d) }).errno).toBe(EINVAL);
      // longer than the kernel struct: __iommu_copy_struct_from_user refuses it (EINVAL), zero tail or not
      const long = new Uint8Array(24);
      long.set(d);
      expect(ifd.hwptAlloc({ dev_id: devId, pt_id: s.viommu, flags: 0, data_type: IOMMU_HWPT_DATA_ARM_SMMUV3, data_len: 24, data_uptr: userData(p, long) }).errno).toBe(EINVAL);
      long[20] = 1;
      expect(ifd.hwptAlloc({ dev_id: devId, pt_id: s.viommu, flags: 0, data_type: IOMMU_HWPT_DATA_ARM_SMMUV3, data_len: 24, data_uptr: userData(p, long) }).errno).toBe(EINVAL);
      // no data at all → EOPNOTSUPP (the core's data_len == 0 rule is EINVAL first: NONE with no data is a paging request)
      expect(ifd.hwptAlloc({ dev_id: devId, pt_id: s.viommu, flags: 0, data_type: 0, data_len: 0, data_uptr: 0n }).errno).toBe(EOPNOTSUPP);
      // the legacy form (nested on the HWPT parent) has no SMMUv3 op
      expect(ifd.hwptAlloc({ dev_id: devId, pt_id: s.g.parent, flags: 0, data_type: IOMMU_HWPT_DATA_ARM_SMMUV3, data_len: 16, data_uptr: userData(p, d) }).errno).toBe(EOPNOTSUPP);
    });
  });

  it('guest stage-1 faults become SMMUv3 event records with the vSID on the ARM_SMMUV3 vEVENTQ; stage-2 faults do not', () => {
    journaled((sim) => {
      const s = bringUp(sim, 5);
      const { g } = s;
      const s1 = nestedOk(s, vste(ste0(CFG_S1, stage1(g))));
      expect(g.r.vfio.attach(s1).errno).toBe(0);
      // nothing yet: a read that fits nothing / an empty queue returns 0
      expect(g.r.p.read(s.evfd, 64).ret).toBe(0);

      const unmapped = S1_BASE + 9 * PAGE + 0x24;
      expect(read1(sim, 'dev2', unmapped, 8)).toMatchObject({ ok: false, fault: 'translation', stage: 1 });
      const ro = S1_BASE + 7 * PAGE + 0x10;
      expect(write1(sim, 'dev2', ro, new Uint8Array(4))).toMatchObject({ ok: false, fault: 'permission', stage: 1 });
      // stage 1 maps to a GPA outside guest RAM: a stage-2 fault, the host's problem, not forwarded
      expect(read1(sim, 'dev2', S1_BASE + 20 * PAGE, 8)).toMatchObject({ ok: false, stage: 2 });

      const r = readVevents(g.r.p, s.evfd, 4096, 32);
      expect(r.evs).toHaveLength(2);
      expect(checkSequence(r.evs, null)).toBe(1);
      expect(r.evs.map((e) => [e.flags, e.seq])).toEqual([[0, 0], [0, 1]]);
      const words = r.evs.map((e) => {
        const dv = new DataView(e.data.buffer, e.data.byteOffset, 32);
        return [0, 8, 16, 24].map((o) => dv.getBigUint64(o, true));
      });
      // word 0: event id 7:0, SID 63:32 = the vSID (not the physical 0x100)
      expect(words[0]![0]! & 0xffn).toBe(0x10n);
      expect(words[0]![0]! >> 32n).toBe(VSID);
      expect(words[0]![2]).toBe(BigInt(unmapped));
      // RnW (word 1 bit 35) set for the read, clear for the write
      expect((words[0]![1]! >> 35n) & 1n).toBe(1n);
      expect(words[1]![0]! & 0xffn).toBe(0x13n);
      expect(words[1]![0]! >> 32n).toBe(VSID);
      expect(words[1]![2]).toBe(BigInt(ro));
      expect((words[1]![1]! >> 35n) & 1n).toBe(0n);
      expect(g.r.p.read(s.evfd, 64).ret).toBe(0);
      // the vEVENTQ fd holds its object: DESTROY is EBUSY until the fd is closed
      expect(g.r.ifd.destroy(s.veventq).errno).toBe(EBUSY);
      expect(g.r.p.close(s.evfd)).toBe(0);
      expect(g.r.ifd.destroy(s.veventq).errno).toBe(0);
      // with no queue of the type the event is discarded; a new queue starts at sequence 0
      expect(read1(sim, 'dev2', unmapped, 8).ok).toBe(false);
      const q = g.r.ifd.veventqAlloc({ flags: 0, viommu_id: s.viommu, type: IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, veventq_depth: 4 });
      expect(q.errno).toBe(0);
      expect(g.r.p.read(q.out.out_veventq_fd, 64).ret).toBe(0);
      expect(read1(sim, 'dev2', unmapped, 8).ok).toBe(false);
      const r2 = readVevents(g.r.p, q.out.out_veventq_fd, 4096, 32);
      expect(r2.evs.map((e) => e.seq)).toEqual([0]);
    });
  });

  it('EATS = 1 turns on ATS: after a guest remap the device ATC keeps the old translation through TLBI_NH_VA until ATC_INV', () => {
    journaled((sim) => {
      const s = bringUp(sim, 8);
      const { g } = s;
      const tr = sim.rt.actor('translation') as TranslationActor;
      const e = tr.st.engine;
      const dev = tr.st.deviceIndex['dev2']!;
      const EATS_TRANS = 1n << 28n;
      const s1 = nestedOk(s, vste(ste0(CFG_S1, stage1(g)), EATS_TRANS));
      expect(g.r.vfio.attach(s1).errno).toBe(0);
      const page = S1_BASE + 3 * PAGE;
      const oldGpa = g.s1.get(page)!.gpa;
      const newGpa = 61 * PAGE;
      expect(read1(sim, 'dev2', page + 0x80, 16).data).toEqual(peek(g.r.p, gpaVa(g, oldGpa + 0x80), 16));
      expect(iotlbEntries(e.atcs[dev]!)).toHaveLength(1);

      writeStage1(g, 'smmuv3', [...g.s1].map(([va, m]) => ({ iova: va, gpa: va === page ? newGpa : m.gpa, write: m.write })), ASID);
      expect(invalidate(s, cmds([TLBI_NH_VA(ASID, page)]), { entryNum: 1 }).errno).toBe(0);
      // the IOTLB has forgotten the page, the device has not: ATS translations live in the endpoint
      const hits = e.stats.atcHits;
      expect(read1(sim, 'dev2', page + 0x80, 16).data).toEqual(peek(g.r.p, gpaVa(g, oldGpa + 0x80), 16));
      expect(e.stats.atcHits).toBe(hits + 1);
      expect(invalidate(s, cmds([ATC_INV(VSID)]), { entryNum: 1 }).errno).toBe(0);
      expect(iotlbEntries(e.atcs[dev]!)).toEqual([]);
      expect(read1(sim, 'dev2', page + 0x80, 16).data).toEqual(peek(g.r.p, gpaVa(g, newGpa + 0x80), 16));

      // EATS = 0 (abort ATS translation requests): the same vSTE without it leaves the ATC out
      const noAts = nestedOk(s, vste(ste0(CFG_S1, stage1(g))));
      expect(g.r.vfio.attach(noAts).errno).toBe(0);
      const before = e.stats.atcHits;
      for (let k = 0; k < 2; k++) expect(read1(sim, 'dev2', S1_BASE + 0x10, 8).ok).toBe(true);
      expect(e.stats.atcHits).toBe(before);
      expect(iotlbEntries(e.atcs[dev]!)).toEqual([]);
    });
  });

  it('user cache invalidation through the vIOMMU: TLBI_NH_VA/ASID/ALL, CFGI_CD, ATC_INV; EIO with entry_num for the first bad command', () => {
    journaled((sim) => {
      const s = bringUp(sim, 6);
      const { g } = s;
      const s1 = nestedOk(s, vste(ste0(CFG_S1, stage1(g))));
      expect(g.r.vfio.attach(s1).errno).toBe(0);
      const iova = S1_BASE + 2 * PAGE + 0x40;
      const oldGpa = g.s1.get(S1_BASE + 2 * PAGE)!.gpa;
      expect(read1(sim, 'dev2', iova, 16).data).toEqual(peek(g.r.p, gpaVa(g, oldGpa + 0x40), 16));

      // the guest remaps the page in its table; until it invalidates, the IOTLB may keep the old translation
      const newGpa = 60 * PAGE;
      const maps = [...g.s1].map(([va, m]) => ({ iova: va, gpa: va === S1_BASE + 2 * PAGE ? newGpa : m.gpa, write: m.write }));
      writeStage1(g, 'smmuv3', maps, ASID);
      expect(read1(sim, 'dev2', iova, 16).data).toEqual(peek(g.r.p, gpaVa(g, oldGpa + 0x40), 16));

      // TLBI_NH_VA for (ASID, page) + CMD_SYNC is not accepted (SYNC is the kernel's) → EIO at entry 1
      let r = invalidate(s, cmds([TLBI_NH_VA(ASID, S1_BASE + 2 * PAGE), CMD_SYNC]), { entryNum: 2 });
      expect([r.errno, r.out.entry_num]).toEqual([EIO, 1]);
      r = invalidate(s, cmds([TLBI_NH_VA(ASID, S1_BASE + 2 * PAGE)]), { entryNum: 1 });
      expect([r.errno, r.out.entry_num]).toEqual([0, 1]);
      expect(read1(sim, 'dev2', iova, 16).data).toEqual(peek(g.r.p, gpaVa(g, newGpa + 0x40), 16));

      // every accepted opcode, with the vSID ones naming our vDEVICE
      r = invalidate(s, cmds([TLBI_NH_ALL, TLBI_NH_ASID(ASID), [op(0x13), BigInt(S1_BASE)], [op(0x30), 7n], CFGI_CD(VSID), [op(0x06, VSID << 32n), 0n], ATC_INV(VSID)]), { entryNum: 7 });
      expect([r.errno, r.out.entry_num]).toEqual([0, 7]);
      // unknown vSID → EIO; a stage-2 / STE command → EIO; the count is the commands before it
      r = invalidate(s, cmds([TLBI_NH_ALL, TLBI_NH_ALL, ATC_INV(0x99n)]), { entryNum: 3 });
      expect([r.errno, r.out.entry_num]).toEqual([EIO, 2]);
      r = invalidate(s, cmds([CFGI_STE(VSID), TLBI_NH_ALL]), { entryNum: 2 });
      expect([r.errno, r.out.entry_num]).toEqual([EIO, 0]);
      r = invalidate(s, cmds([TLBI_NH_ALL, [op(0x2a), 0n]]), { entryNum: 2 });
      expect([r.errno, r.out.entry_num]).toEqual([EIO, 1]);
      // array-level errors: wrong type, short entries, non-zero tails of longer entries; a zero-entry probe
      r = invalidate(s, cmds([TLBI_NH_ALL]), { entryNum: 1, dataType: 0 });
      expect([r.errno, r.out.entry_num]).toEqual([EINVAL, 0]);
      // a shorter entry is zero-extended by copy_struct_from_user (the full-array helper has no minimum):
      // 8 bytes of TLBI_NH_ALL are a whole command; 8 bytes of ATC_INV name a vSID and size 0
      r = invalidate(s, cmds([TLBI_NH_ALL]).subarray(0, 8), { entryNum: 1, entryLen: 8 });
      expect([r.errno, r.out.entry_num]).toEqual([0, 1]);
      const short = new Uint8Array(16);
      short.set(cmds([TLBI_NH_ALL]).subarray(0, 8));
      short.set(cmds([CFGI_STE(VSID)]).subarray(0, 8), 8);
      r = invalidate(s, short, { entryNum: 2, entryLen: 8 });
      expect([r.errno, r.out.entry_num]).toEqual([EIO, 1]);
      r = invalidate(s, cmds([TLBI_NH_ALL, TLBI_NH_ALL], 24, (i) => new Uint8Array(8).fill(i)), { entryNum: 2, entryLen: 24 });
      expect([r.errno, r.out.entry_num]).toEqual([E2BIG, 0]);
      r = invalidate(s, cmds([TLBI_NH_ALL, TLBI_NH_ALL], 24, () => new Uint8Array(8)), { entryNum: 2, entryLen: 24 });
      expect([r.errno, r.out.entry_num]).toEqual([0, 2]);
      // no zero-length probe on SMMUv3 (unlike the mock vIOMMU): the full-array copy refuses entry_num 0
      r = invalidate(s, new Uint8Array(0), { entryNum: 0 });
      expect([r.errno, r.out.entry_num]).toEqual([EINVAL, 0]);
      // core rules: entries without a pointer; a HWPT_PAGING / IOAS target is EINVAL; reserved → EOPNOTSUPP
      const { ifd } = g.r;
      expect(ifd.hwptInvalidate({ hwpt_id: s.viommu, data_uptr: 0n, data_type: IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, entry_len: 16, entry_num: 1 }).errno).toBe(EINVAL);
      expect(ifd.hwptInvalidate({ hwpt_id: g.parent, data_uptr: userData(g.r.p, cmds([TLBI_NH_ALL])), data_type: IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, entry_len: 16, entry_num: 1 }).errno).toBe(EINVAL);
      expect(ifd.hwptInvalidate({ hwpt_id: g.r.ioas, data_uptr: userData(g.r.p, cmds([TLBI_NH_ALL])), data_type: IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, entry_len: 16, entry_num: 1 }).errno).toBe(EINVAL);
      expect(ifd.hwptInvalidate({ hwpt_id: 999, data_uptr: userData(g.r.p, cmds([TLBI_NH_ALL])), data_type: IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, entry_len: 16, entry_num: 1 }).errno).toBe(ENOENT);
      expect(ifd.hwptInvalidate({ hwpt_id: s.viommu, data_uptr: 0n, data_type: IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, entry_len: 16, entry_num: 0, __reserved: 1 }).errno).toBe(EOPNOTSUPP);
      // nested HWPT of SMMUv3 has no invalidation op of its own
      expect(ifd.hwptInvalidate({ hwpt_id: s1, data_uptr: userData(g.r.p, cmds([TLBI_NH_ALL])), data_type: IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, entry_len: 16, entry_num: 1 }).errno).toBe(EOPNOTSUPP);
      expect(domainOf(sim, 'dev2')).toBeGreaterThan(0);
    });
  });
});

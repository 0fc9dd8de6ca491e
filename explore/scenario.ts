/**
 * Explore scenarios as data: a setup (run one call at a time through the
 * typed API, before any concurrency), concurrent thread programs of calls
 * with symbolic ids, and an optional teardown (close every iommufd once the
 * threads are done).  Being data, a failing scenario can be journaled,
 * re-run and shrunk (threads, calls and arguments removed one by one).
 *
 * Names: `$x` is a value bound by a setup step (fd, IOAS id, buffer
 * address); `@x` is a variable a thread saves at run time and another
 * thread's call reads (the thread actors' patch/save mechanism).
 */
import type { ArgPatch, ThreadStep } from '../actors/thread.ts';
import { fieldOf, fieldSize, pack } from '../uapi/layout.ts';
import { ioctlEntry, VFIO_CDEV_IOCTL_OPS } from '../uapi/dispatch.ts';
import * as S from '../uapi/structs.ts';
import {
  IOMMU_TEST_CMD, VFIO_IOMMU_UNMAP_DMA, VFIO_SET_IOMMU,
  IOMMU_DESTROY, IOMMU_IOAS_ALLOC, IOMMU_IOAS_IOVA_RANGES, IOMMU_IOAS_MAP, IOMMU_IOAS_UNMAP, IOMMU_VFIO_IOAS,
} from '../uapi/ioctl.ts';
import {
  IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE, IOMMU_VFIO_IOAS_CLEAR, IOMMU_VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET, IOMMU_TEST_OP_MOCK_DOMAIN,
} from '../uapi/enums.ts';
import { scalarArg } from '../actors/api.ts';
import type { SimConfig } from '../actors/world.ts';
import type { TopologySpec } from '../hardware/topology.ts';

/** A `$name` from setup, an `@name` saved by a thread, or a literal. */
export type Ref = number | string;

export type SetupStep =
  | { op: 'mmap'; length: bigint; as: string }
  | { op: 'open'; as: string }
  | { op: 'ioasAlloc'; fd: string; as: string }
  | { op: 'map'; fd: string; ioas: string; buf: string; iova: bigint; length: bigint }
  /** The explorer's in-kernel access pins [iova, iova+length) of the IOAS (explore/access.ts). */
  | { op: 'accessPin'; fd: string; ioas: string; iova: bigint; length: bigint }
  /** The process writes a byte pattern over [buf, buf+length) (faults the pages in). */
  | { op: 'poke'; buf: string; length: bigint }
  /** Any system call (e.g. sva.bind); `$x` args are setup bindings; `as` binds its return value. */
  | { op: 'syscall'; call: string; args: Record<string, SyscallArg>; as?: string }
  /** IOMMU_TEST_OP_MOCK_DOMAIN on an IOAS: a mock device bound and attached; `as` binds the stdev id, `dev` the device id. */
  | { op: 'mockDomain'; fd: string; ioas: string; as: string; dev?: string }
  /** Any iommufd table ioctl by name (`$x` fields are setup bindings); `out` binds out fields: { field: name }. */
  | { op: 'ioctl'; fd: string; name: string; fields: Record<string, SyscallArg>; out?: Record<string, string> }
  /** IOMMU_TEST_CMD `testOp` on object `id` with the union member `member` (`$x` fields are setup bindings). */
  | { op: 'testCmd'; fd: string; testOp: number; id?: SyscallArg; member: string; fields: Record<string, SyscallArg> }
  /** A device DMA burst of one access, run to completion (fills the device's caches). */
  | { op: 'dma'; dev: string; buf: string; length: number; write: boolean; pasid?: string };

/** A system-call argument: `$name` (setup binding), or a literal. */
export type SyscallArg = string | number | bigint | boolean;

export type CallOp =
  | { op: 'destroy'; fd: string; id: Ref }
  | { op: 'ioasAlloc'; fd: string; save?: string }
  | { op: 'map'; fd: string; ioas: Ref; buf: string; iova: bigint; length: bigint }
  | { op: 'unmap'; fd: string; ioas: Ref; iova: bigint; length: bigint }
  | { op: 'unmapAll'; fd: string; ioas: Ref }
  | { op: 'iovaRanges'; fd: string; ioas: Ref; buf: string }
  | { op: 'vfioIoas'; fd: string; ioas: Ref; vop: 'get' | 'set' | 'clear' }
  | { op: 'close'; fd: string }
  /** IOMMU_TEST_OP_MOCK_DOMAIN(pt_id): a new mock device attached to the IOAS (auto HWPT). */
  | { op: 'mockDomain'; fd: string; ioas: Ref }
  /** VFIO type1 compat on the iommufd: VFIO_SET_IOMMU(type) and VFIO_IOMMU_UNMAP_DMA(iova, size). */
  | { op: 'vfioSetIommu'; fd: string; type: number }
  | { op: 'vfioUnmapDma'; fd: string; iova: bigint; size: bigint }
  /** Any system call (munmap, proc.exit, sva.bind/unbind/submit...); `$x` args are setup bindings. */
  | { op: 'syscall'; call: string; args: Record<string, SyscallArg> }
  /** IOMMU_TEST_CMD `testOp` on object `id` with union member `member` (e.g. MOCK_DOMAIN_REPLACE); `$x` fields are setup bindings. */
  | { op: 'testCmd'; fd: string; testOp: number; id: Ref; member: string; fields: Record<string, SyscallArg> }
  /**
   * Any iommufd table or VFIO cdev ioctl by name (IOMMU_FAULT_QUEUE_ALLOC, VFIO_DEVICE_BIND_IOMMUFD):
   * `$x` fields are setup bindings, `@x` fields thread variables read at call time; `save` keeps out fields: { field: variable }.
   */
  | { op: 'ioctl'; fd: string; name: string; fields: Record<string, SyscallArg>; save?: Record<string, string> }
  /**
   * A lane line of the scenario's text (`script`), compiled by the text
   * runner once the setup has bound its variables.  `text` is the line as
   * written (for reports); `expect` its accepted errnos (0 = ok; empty = any),
   * checked when the run is quiet.
   */
  | { op: 'line'; line: number; col: number; text: string; expect: number[] };

/** A text scenario (scenario/FORMAT.md) behind an explore scenario. */
export interface ScenarioScript {
  file: string;
  text: string;
}

export interface OracleSpec {
  name: string;
  params?: Record<string, unknown>;
}

export interface Scenario {
  name: string;
  description: string;
  /** The bug variant this scenario is built to expose (spec/bugs.md id). */
  exposes?: string;
  config?: Partial<Omit<SimConfig, 'variant'>>;
  /** The machine (default: the simulator's default topology). */
  topology?: TopologySpec;
  setup: SetupStep[];
  threads: CallOp[][];
  /** Close every iommufd fd after the threads finish (checks what survives a close). */
  teardown?: boolean;
  /** Per-scenario "results the kernel could return" oracles (explore/invariants.ts). */
  oracles?: OracleSpec[];
  /**
   * From a text scenario (explore/text.ts): its statements before the
   * `parallel` block run as the setup (after `setup`), the statements after
   * it one at a time once the threads are quiet.
   */
  script?: ScenarioScript;
}

export type Bindings = Record<string, number | bigint>;

const RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;

function bound(b: Bindings, name: string): number | bigint {
  const v = b[name.startsWith('$') ? name.slice(1) : name];
  if (v === undefined) throw new Error(`scenario: '${name}' is not bound by the setup`);
  return v;
}

function fdOf(b: Bindings, name: string): number {
  return Number(bound(b, name));
}

/** An id field: literal, setup binding (resolved now) or thread variable (patched at call time). */
function idField(b: Bindings, r: Ref, offset: number): { value: number; patch?: ArgPatch[] } {
  if (typeof r === 'number') return { value: r };
  if (r.startsWith('@')) return { value: 0, patch: [{ offset, size: 4, from: r.slice(1) }] };
  return { value: Number(bound(b, r)) };
}

/** Arguments with `$name` strings replaced by their setup bindings. */
export function resolveArgs(b: Bindings, args: Record<string, SyscallArg>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) out[k] = typeof v === 'string' && v.startsWith('$') ? bound(b, v) : v;
  return out;
}

/** One call of a thread program as the thread actor's ThreadStep. */
export function compileCall(c: CallOp, b: Bindings): ThreadStep {
  switch (c.op) {
    case 'destroy': {
      const id = idField(b, c.id, 4);
      return { op: 'ioctl', fd: fdOf(b, c.fd), cmd: IOMMU_DESTROY, arg: pack(S.iommu_destroy, { size: 8, id: id.value }), ...(id.patch ? { patch: id.patch } : {}) };
    }
    case 'ioasAlloc':
      return {
        op: 'ioctl', fd: fdOf(b, c.fd), cmd: IOMMU_IOAS_ALLOC, arg: pack(S.iommu_ioas_alloc, { size: 12 }),
        ...(c.save ? { save: [{ offset: 8, size: 4 as const, as: c.save }] } : {}),
      };
    case 'map': {
      const id = idField(b, c.ioas, 8);
      const arg = pack(S.iommu_ioas_map, { size: 40, flags: RW | IOMMU_IOAS_MAP_FIXED_IOVA, ioas_id: id.value, user_va: BigInt(bound(b, c.buf)), length: c.length, iova: c.iova });
      return { op: 'ioctl', fd: fdOf(b, c.fd), cmd: IOMMU_IOAS_MAP, arg, ...(id.patch ? { patch: id.patch } : {}) };
    }
    case 'unmap':
    case 'unmapAll': {
      const id = idField(b, c.ioas, 4);
      const iova = c.op === 'unmap' ? c.iova : 0n;
      const length = c.op === 'unmap' ? c.length : 0xffffffffffffffffn;
      return { op: 'ioctl', fd: fdOf(b, c.fd), cmd: IOMMU_IOAS_UNMAP, arg: pack(S.iommu_ioas_unmap, { size: 24, ioas_id: id.value, iova, length }), ...(id.patch ? { patch: id.patch } : {}) };
    }
    case 'iovaRanges': {
      const id = idField(b, c.ioas, 4);
      const arg = pack(S.iommu_ioas_iova_ranges, { size: 32, ioas_id: id.value, num_iovas: 4, allowed_iovas: BigInt(bound(b, c.buf)) });
      return { op: 'ioctl', fd: fdOf(b, c.fd), cmd: IOMMU_IOAS_IOVA_RANGES, arg, ...(id.patch ? { patch: id.patch } : {}) };
    }
    case 'vfioIoas': {
      const id = idField(b, c.ioas, 4);
      const op = c.vop === 'get' ? IOMMU_VFIO_IOAS_GET : c.vop === 'set' ? IOMMU_VFIO_IOAS_SET : IOMMU_VFIO_IOAS_CLEAR;
      return { op: 'ioctl', fd: fdOf(b, c.fd), cmd: IOMMU_VFIO_IOAS, arg: pack(S.iommu_vfio_ioas, { size: 12, ioas_id: id.value, op }), ...(id.patch ? { patch: id.patch } : {}) };
    }
    case 'close':
      return { op: 'syscall', call: 'close', args: { fd: fdOf(b, c.fd) } };
    case 'mockDomain': {
      const id = idField(b, c.ioas, 8);
      return { op: 'ioctl', fd: fdOf(b, c.fd), cmd: IOMMU_TEST_CMD, arg: mockDomainArg(id.value), ...(id.patch ? { patch: id.patch } : {}) };
    }
    case 'vfioSetIommu':
      return { op: 'ioctl', fd: fdOf(b, c.fd), cmd: VFIO_SET_IOMMU, arg: scalarArg(c.type) };
    case 'vfioUnmapDma':
      return { op: 'ioctl', fd: fdOf(b, c.fd), cmd: VFIO_IOMMU_UNMAP_DMA, arg: pack(S.vfio_iommu_type1_dma_unmap, { argsz: S.vfio_iommu_type1_dma_unmap.size, flags: 0, iova: c.iova, size: c.size }) };
    case 'syscall':
      return { op: 'syscall', call: c.call, args: resolveArgs(b, c.args) };
    case 'line':
      throw new Error(`scenario: line ${c.line} is compiled by the text runner, not compileCall`);
    case 'testCmd': {
      const id = idField(b, c.id, 8);
      const arg = pack((S.iommu_test_cmd_views as unknown as Record<string, never>)[c.member]!, { size: S.iommu_test_cmd.size, op: c.testOp, id: id.value, [c.member]: resolveArgs(b, c.fields) } as never);
      return { op: 'ioctl', fd: fdOf(b, c.fd), cmd: IOMMU_TEST_CMD, arg, ...(id.patch ? { patch: id.patch } : {}) };
    }
    case 'ioctl': {
      const iommufd = ioctlEntry(c.name);
      const vfio = iommufd ? undefined : VFIO_CDEV_IOCTL_OPS.find((e) => e.name === c.name);
      const layout = (iommufd ?? vfio)?.layout;
      if (!layout) throw new Error(`scenario: no ioctl named '${c.name}'`);
      const isVar = (v: SyscallArg) => typeof v === 'string' && v.startsWith('@');
      const patch: ArgPatch[] = [];
      for (const [k, v] of Object.entries(c.fields)) {
        if (!isVar(v)) continue;
        const f = fieldOf(layout, k);
        patch.push({ offset: f.offset, size: fieldSize(f) as 4 | 8, from: (v as string).slice(1) });
      }
      const fields = resolveArgs(b, Object.fromEntries(Object.entries(c.fields).filter(([, v]) => !isVar(v))));
      const head = iommufd ? { size: iommufd.ksize } : { argsz: layout.size };
      const save = Object.entries(c.save ?? {}).map(([k, as]) => {
        const f = fieldOf(layout, k);
        return { offset: f.offset, size: fieldSize(f) as 4 | 8, as };
      });
      return {
        op: 'ioctl', fd: fdOf(b, c.fd), cmd: (iommufd ?? vfio)!.cmd, arg: pack(layout, { ...head, ...fields } as never),
        ...(patch.length ? { patch } : {}), ...(save.length ? { save } : {}),
      };
    }
  }
}

/** struct iommu_test_cmd for MOCK_DOMAIN on `ptId`. */
export function mockDomainArg(ptId: number): Uint8Array {
  return pack(S.iommu_test_cmd_views.mock_domain, { size: S.iommu_test_cmd.size, op: IOMMU_TEST_OP_MOCK_DOMAIN, id: ptId } as never);
}

/** Does any call read or write a thread variable (then those threads share state). */
export function usesVars(calls: readonly CallOp[]): boolean {
  // A text lane line may save (`->`) or read a variable another lane saves; without the text's parse, assume it might.
  return calls.some((c) => (c.op === 'ioasAlloc' && c.save !== undefined) || (c.op === 'ioctl' && (c.save !== undefined || Object.values(c.fields).some((v) => typeof v === 'string' && v.startsWith('@')))) || (c.op === 'line' && /->|\$/.test(c.text)) || Object.values(c).some((v) => typeof v === 'string' && v.startsWith('@')));
}

/**
 * Simpler versions of a call's arguments for the shrinker, most aggressive
 * first (a shorter length, an IOVA range cut to one page).
 */
export function simplerArgs(c: CallOp): CallOp[] {
  const out: CallOp[] = [];
  if ((c.op === 'unmap' || c.op === 'map') && c.length > 0x1000n) {
    out.push({ ...c, length: 0x1000n });
    if (c.length / 2n > 0x1000n && (c.length / 2n) % 0x1000n === 0n) out.push({ ...c, length: c.length / 2n });
  }
  if (c.op === 'unmapAll') out.push({ op: 'unmap', fd: c.fd, ioas: c.ioas, iova: 0n, length: 0x1000n });
  return out;
}

export function scenarioSize(s: Scenario): { threads: number; calls: number } {
  return { threads: s.threads.length, calls: s.threads.reduce((n, t) => n + t.length, 0) };
}

/** JSON-safe copy (bigints as `123n` strings) for reports; `parseScenario` reverses it. */
export function scenarioToJson(s: Scenario): unknown {
  return JSON.parse(JSON.stringify(s, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)));
}

export function parseScenario(v: unknown): Scenario {
  return JSON.parse(JSON.stringify(v), (_k, x) => (typeof x === 'string' && /^\d+n$/.test(x) ? BigInt(x.slice(0, -1)) : x)) as Scenario;
}

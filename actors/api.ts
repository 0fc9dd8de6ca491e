/**
 * The typed API: `proc.iommufd(fd).ioasMap({ ioas_id, user_va, length, flags })`
 * returning `{ ok, errno, out }`.  It never throws for a user error.  It is a
 * thin layer over the raw ABI: every call packs the kernel struct, goes
 * through `Simulation.ioctl` (so it is journaled and replayable exactly as a C
 * program's call would be) and decodes the struct user space gets back.
 */
import type { Simulation, IoctlResult } from './sim.ts';
import { ioctlEntry, VFIO_CDEV_IOCTL_OPS, type IoctlEntry } from '../uapi/dispatch.ts';
import { VFIO_DEVICE_ATTACH_PASID, VFIO_DEVICE_DETACH_PASID } from '../uapi/enums.ts';
import {
  VFIO_CHECK_EXTENSION, VFIO_GET_API_VERSION, VFIO_IOMMU_GET_INFO, VFIO_IOMMU_MAP_DMA, VFIO_IOMMU_UNMAP_DMA, VFIO_SET_IOMMU,
} from '../uapi/ioctl.ts';
import { decode, decodeArray, encodeArray, pack, type Decoded, type EncodeInput } from '../uapi/layout.ts';
import * as S from '../uapi/structs.ts';
import { PROT_READ, PROT_WRITE } from './mm/process.ts';
import type { SyscallResult } from './kernel.ts';

export interface ApiResult<O = Record<string, unknown>> {
  ok: boolean;
  errno: number;
  out: O;
}

export interface IovaRange {
  start: bigint;
  last: bigint;
}

/** A process as a test or a scenario sees it: system calls on its main thread. */
export class Proc {
  private scratch = 0n;

  constructor(
    readonly sim: Simulation,
    readonly pid: number,
    readonly tid = 1,
  ) {}

  syscall(call: string, args: Record<string, unknown> = {}): SyscallResult {
    return this.sim.syscall(this.pid, call, args, this.tid);
  }

  /** mmap: returns the address, or throws with the errno for setup mistakes in a test. */
  mmap(o: { length: bigint | number; prot?: 'r' | 'rw' | number; addr?: bigint; fd?: number; offset?: bigint | number; shared?: boolean }): bigint {
    const prot = typeof o.prot === 'number' ? o.prot : o.prot === 'r' ? PROT_READ : PROT_READ | PROT_WRITE;
    const r = this.syscall('mmap', { ...o, length: BigInt(o.length), prot });
    if (r.errno) throw new Error(`mmap failed: errno ${r.errno}`);
    return BigInt(r.ret as bigint);
  }

  munmap(addr: bigint, length: bigint | number): number {
    return this.syscall('munmap', { addr, length: BigInt(length) }).errno;
  }

  mprotect(addr: bigint, length: bigint | number, prot: number): number {
    return this.syscall('mprotect', { addr, length: BigInt(length), prot }).errno;
  }

  memfdCreate(size: bigint | number): number {
    const r = this.syscall('memfd_create', { size: BigInt(size) });
    if (r.errno) throw new Error(`memfd_create failed: errno ${r.errno}`);
    return Number(r.ret);
  }

  open(path: string): number {
    const r = this.syscall('open', { path });
    return r.errno ? -r.errno : Number(r.ret);
  }

  close(fd: number): number {
    return this.syscall('close', { fd }).errno;
  }

  exit(): number {
    return this.syscall('proc.exit').errno;
  }

  poke(addr: bigint, data: Uint8Array): number {
    return this.syscall('poke', { addr, data }).errno;
  }

  peek(addr: bigint, length: number): Uint8Array | number {
    const r = this.syscall('peek', { addr, length });
    return r.errno ? r.errno : (r.data as Uint8Array);
  }

  /** read(2): `count` bytes into user memory at `buf`; returns the byte count or -errno, and the bytes read. */
  read(fd: number, count: number, buf?: bigint): { ret: number; data: Uint8Array } {
    const at = buf ?? this.scratchPage();
    const r = this.syscall('read', { fd, buf: at, count });
    if (r.errno) return { ret: -r.errno, data: new Uint8Array(0) };
    const n = Number(r.ret);
    const data = n > 0 ? this.peek(at, n) : new Uint8Array(0);
    return { ret: n, data: typeof data === 'number' ? new Uint8Array(0) : data };
  }

  /** write(2) of `data` (placed in user memory first); returns the byte count or -errno. */
  write(fd: number, data: Uint8Array, buf?: bigint): number {
    const at = buf ?? this.scratchPage();
    if (data.length) this.poke(at, data);
    const r = this.syscall('write', { fd, buf: at, count: data.length });
    return r.errno ? -r.errno : Number(r.ret);
  }

  ioctl(fd: number, cmd: number, arg: Uint8Array): IoctlResult {
    return this.sim.ioctl(this.pid, fd, cmd, arg, this.tid);
  }

  /** A page of user memory for arrays the typed API passes by pointer. */
  scratchPage(): bigint {
    if (!this.scratch) this.scratch = this.mmap({ length: 1 << 16 });
    return this.scratch;
  }

  iommufd(fd: number): Iommufd {
    return new Iommufd(this, fd);
  }

  /** open('/dev/iommu') with the typed API on it. */
  openIommufd(): Iommufd {
    const fd = this.open('/dev/iommu');
    if (fd < 0) throw new Error(`open /dev/iommu failed: errno ${-fd}`);
    return new Iommufd(this, fd);
  }
}

type In<L> = Omit<EncodeInput<L>, 'size'>;

/**
 * The argument of a scalar ioctl (VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU) in
 * the raw ABI.  C passes the value itself (`ioctl(fd, VFIO_SET_IOMMU,
 * VFIO_TYPE1v2_IOMMU)`), not a pointer; the simulator's argument bytes carry
 * it as an 8-byte little-endian unsigned long (shorter bytes are
 * zero-extended).  The ioctl's return value comes back as `ret`.
 */
export function scalarArg(v: number | bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
  return b;
}

export interface CompatResult<O = Record<string, unknown>> extends ApiResult<O> {
  /** The ioctl's return value (VFIO_CHECK_EXTENSION: 0/1; VFIO_GET_API_VERSION: 0). */
  ret: number | bigint;
}

/** Typed ioctls on one open /dev/iommu. */
export class Iommufd {
  constructor(
    readonly proc: Proc,
    readonly fd: number,
  ) {}

  /** Any table ioctl by name: pack, call, decode. */
  call<L extends IoctlEntry['layout']>(name: string, fields: Record<string, unknown>): ApiResult<Decoded<L>> {
    const entry = ioctlEntry(name);
    if (!entry) throw new Error(`no ioctl named ${name}`);
    const arg = pack(entry.layout, { size: entry.ksize, ...fields } as never);
    const r = this.proc.ioctl(this.fd, entry.cmd, arg);
    return { ok: r.errno === 0, errno: r.errno, out: decode(entry.layout, r.arg) as Decoded<L> };
  }

  destroy(id: number) {
    return this.call<typeof S.iommu_destroy>('IOMMU_DESTROY', { id });
  }
  ioasAlloc(f: In<typeof S.iommu_ioas_alloc> = {}) {
    return this.call<typeof S.iommu_ioas_alloc>('IOMMU_IOAS_ALLOC', f);
  }
  ioasMap(f: In<typeof S.iommu_ioas_map>) {
    return this.call<typeof S.iommu_ioas_map>('IOMMU_IOAS_MAP', f);
  }
  ioasMapFile(f: In<typeof S.iommu_ioas_map_file>) {
    return this.call<typeof S.iommu_ioas_map_file>('IOMMU_IOAS_MAP_FILE', f);
  }
  ioasCopy(f: In<typeof S.iommu_ioas_copy>) {
    return this.call<typeof S.iommu_ioas_copy>('IOMMU_IOAS_COPY', f);
  }
  ioasUnmap(f: In<typeof S.iommu_ioas_unmap>) {
    return this.call<typeof S.iommu_ioas_unmap>('IOMMU_IOAS_UNMAP', f);
  }
  option(f: In<typeof S.iommu_option>) {
    return this.call<typeof S.iommu_option>('IOMMU_OPTION', f);
  }
  vfioIoas(f: In<typeof S.iommu_vfio_ioas>) {
    return this.call<typeof S.iommu_vfio_ioas>('IOMMU_VFIO_IOAS', f);
  }
  hwptAlloc(f: In<typeof S.iommu_hwpt_alloc>) {
    return this.call<typeof S.iommu_hwpt_alloc>('IOMMU_HWPT_ALLOC', f);
  }
  getHwInfo(f: In<typeof S.iommu_hw_info>) {
    return this.call<typeof S.iommu_hw_info>('IOMMU_GET_HW_INFO', f);
  }
  hwptInvalidate(f: In<typeof S.iommu_hwpt_invalidate>) {
    return this.call<typeof S.iommu_hwpt_invalidate>('IOMMU_HWPT_INVALIDATE', f);
  }
  setDirtyTracking(f: In<typeof S.iommu_hwpt_set_dirty_tracking>) {
    return this.call<typeof S.iommu_hwpt_set_dirty_tracking>('IOMMU_HWPT_SET_DIRTY_TRACKING', f);
  }
  getDirtyBitmap(f: In<typeof S.iommu_hwpt_get_dirty_bitmap>) {
    return this.call<typeof S.iommu_hwpt_get_dirty_bitmap>('IOMMU_HWPT_GET_DIRTY_BITMAP', f);
  }
  faultQueueAlloc(f: In<typeof S.iommu_fault_alloc> = {}) {
    return this.call<typeof S.iommu_fault_alloc>('IOMMU_FAULT_QUEUE_ALLOC', f);
  }
  viommuAlloc(f: In<typeof S.iommu_viommu_alloc>) {
    return this.call<typeof S.iommu_viommu_alloc>('IOMMU_VIOMMU_ALLOC', f);
  }
  vdeviceAlloc(f: In<typeof S.iommu_vdevice_alloc>) {
    return this.call<typeof S.iommu_vdevice_alloc>('IOMMU_VDEVICE_ALLOC', f);
  }
  veventqAlloc(f: In<typeof S.iommu_veventq_alloc>) {
    return this.call<typeof S.iommu_veventq_alloc>('IOMMU_VEVENTQ_ALLOC', f);
  }
  hwQueueAlloc(f: In<typeof S.iommu_hw_queue_alloc>) {
    return this.call<typeof S.iommu_hw_queue_alloc>('IOMMU_HW_QUEUE_ALLOC', f);
  }
  changeProcess() {
    return this.call<typeof S.iommu_ioas_change_process>('IOMMU_IOAS_CHANGE_PROCESS', {});
  }

  // ---- VFIO type1 container compat ioctls on this iommufd (vfio_compat.ts); they act on the compat IOAS.

  private compat(cmd: number, arg: Uint8Array): CompatResult<Uint8Array> {
    const r = this.proc.ioctl(this.fd, cmd, arg);
    return { ok: r.errno === 0, errno: r.errno, out: r.arg, ret: r.ret ?? (r.errno ? -1 : 0) };
  }
  vfioGetApiVersion() {
    return this.compat(VFIO_GET_API_VERSION, new Uint8Array(0));
  }
  vfioCheckExtension(type: number) {
    return this.compat(VFIO_CHECK_EXTENSION, scalarArg(type));
  }
  vfioSetIommu(type: number) {
    return this.compat(VFIO_SET_IOMMU, scalarArg(type));
  }
  /** VFIO_IOMMU_GET_INFO with a buffer of `argsz` bytes (argsz written at offset 0); `out` is the whole buffer afterwards. */
  vfioGetInfo(argsz: number, bufLen = Math.max(argsz, S.vfio_iommu_type1_info.size)) {
    const arg = new Uint8Array(bufLen);
    new DataView(arg.buffer).setUint32(0, argsz, true);
    return this.compat(VFIO_IOMMU_GET_INFO, arg);
  }
  vfioMapDma(f: Omit<EncodeInput<typeof S.vfio_iommu_type1_dma_map>, 'argsz'> & { argsz?: number }) {
    const r = this.compat(VFIO_IOMMU_MAP_DMA, pack(S.vfio_iommu_type1_dma_map, { argsz: S.vfio_iommu_type1_dma_map.size, ...f } as never));
    return { ...r, out: decode(S.vfio_iommu_type1_dma_map, r.out) };
  }
  vfioUnmapDma(f: Omit<EncodeInput<typeof S.vfio_iommu_type1_dma_unmap>, 'argsz'> & { argsz?: number }) {
    const r = this.compat(VFIO_IOMMU_UNMAP_DMA, pack(S.vfio_iommu_type1_dma_unmap, { argsz: S.vfio_iommu_type1_dma_unmap.size, ...f } as never));
    return { ...r, out: decode(S.vfio_iommu_type1_dma_unmap, r.out) };
  }

  /** IOAS_IOVA_RANGES with room for `capacity` ranges; `ranges` holds what the kernel copied out. */
  ioasIovaRanges(ioasId: number, capacity = 16): ApiResult<Decoded<typeof S.iommu_ioas_iova_ranges> & { ranges: IovaRange[] }> {
    const buf = this.proc.scratchPage();
    const r = this.call<typeof S.iommu_ioas_iova_ranges>('IOMMU_IOAS_IOVA_RANGES', { ioas_id: ioasId, num_iovas: capacity, allowed_iovas: buf });
    const n = Math.min(capacity, r.out.num_iovas);
    const bytes = n ? this.proc.peek(buf, n * S.iommu_iova_range.size) : new Uint8Array(0);
    const ranges = typeof bytes === 'number' ? [] : decodeArray(S.iommu_iova_range, bytes, n);
    return { ...r, out: { ...r.out, ranges } };
  }

  /** IOAS_ALLOW_IOVAS from a list (written to user memory first, as a C caller would). */
  ioasAllowIovas(ioasId: number, ranges: readonly IovaRange[]) {
    const buf = this.proc.scratchPage();
    if (ranges.length) {
      const bytes = new Uint8Array(ranges.length * S.iommu_iova_range.size);
      encodeArray(S.iommu_iova_range, ranges as never, bytes);
      this.proc.poke(buf, bytes);
    }
    return this.call<typeof S.iommu_ioas_allow_iovas>('IOMMU_IOAS_ALLOW_IOVAS', { ioas_id: ioasId, num_iovas: ranges.length, allowed_iovas: buf });
  }
}

/** Create a process in the simulation and return its handle. */
export function spawnProc(sim: Simulation, opts: Parameters<Simulation['createProcess']>[0] = {}): Proc {
  return new Proc(sim, sim.createProcess(opts));
}

/** A VFIO device file (/dev/vfio/devices/vfioN) with its cdev ioctls. */
export class VfioDevice {
  constructor(
    readonly proc: Proc,
    readonly fd: number,
  ) {}

  private call(entryName: 'VFIO_DEVICE_BIND_IOMMUFD' | 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' | 'VFIO_DEVICE_DETACH_IOMMUFD_PT', fields: Record<string, unknown>) {
    const e = VFIO_CDEV_IOCTL_OPS.find((x) => x.name === entryName)!;
    const arg = pack(e.layout, { argsz: e.layout.size, ...fields } as never);
    const r = this.proc.ioctl(this.fd, e.cmd, arg);
    return { ok: r.errno === 0, errno: r.errno, out: decode(e.layout, r.arg) as Record<string, any> };
  }

  bind(iommufd: Iommufd | number) {
    return this.call('VFIO_DEVICE_BIND_IOMMUFD', { iommufd: typeof iommufd === 'number' ? iommufd : iommufd.fd });
  }
  attach(ptId: number, pasid?: number) {
    return this.call('VFIO_DEVICE_ATTACH_IOMMUFD_PT', pasid === undefined ? { pt_id: ptId } : { pt_id: ptId, flags: VFIO_DEVICE_ATTACH_PASID, pasid });
  }
  detach(pasid?: number) {
    return this.call('VFIO_DEVICE_DETACH_IOMMUFD_PT', pasid === undefined ? {} : { flags: VFIO_DEVICE_DETACH_PASID, pasid });
  }
}

/** Open the N-th VFIO device of the topology. */
export function openVfio(proc: Proc, index: number): VfioDevice {
  const fd = proc.open(`/dev/vfio/devices/vfio${index}`);
  if (fd < 0) throw new Error(`open vfio${index} failed: errno ${-fd}`);
  return new VfioDevice(proc, fd);
}

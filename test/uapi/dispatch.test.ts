import { describe, expect, it } from 'vitest';
import { E2BIG, EFAULT, EINVAL, ENOTTY, EOPNOTSUPP } from '../../uapi/errno.ts';
import * as io from '../../uapi/ioctl.ts';
import {
  copyStructFromUser, dispatchIoctl, dispatchVfioIoctl, ioctlEntry, IOMMU_TEST_OPS, IOMMUFD_IOCTL_OPS,
  IOMMUFD_IOCTL_OPS_TEST, respond, respondField, respondVfio, testOpEntry, type DispatchResult, type IoctlEntry,
} from '../../uapi/dispatch.ts';
import { decode, pack } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import * as E from '../../uapi/enums.ts';

const TEST = { testBuild: true };
const PROD = { testBuild: false };

/** A user struct of `len` bytes whose leading u32 says `size`. */
function userArg(size: number, len = size, fill = 0): Uint8Array {
  const b = new Uint8Array(len).fill(fill);
  new DataView(b.buffer).setUint32(0, size >>> 0, true);
  return b;
}

function errnoOf(r: DispatchResult): number | 'ok' | 'compat' {
  if (r.route === 'compat') return 'compat';
  return r.ok ? 'ok' : r.errno;
}

function success(r: DispatchResult) {
  if (r.route !== 'iommufd' || !r.ok) throw new Error(`expected success, got ${JSON.stringify(r)}`);
  return r;
}

// uapi.md §3.1
const TABLE: Array<[string, number, number, number]> = [
  ['IOMMU_DESTROY', 0x3b80, 8, 8], ['IOMMU_IOAS_ALLOC', 0x3b81, 12, 12],
  ['IOMMU_IOAS_ALLOW_IOVAS', 0x3b82, 24, 24], ['IOMMU_IOAS_COPY', 0x3b83, 40, 40],
  ['IOMMU_IOAS_IOVA_RANGES', 0x3b84, 32, 32], ['IOMMU_IOAS_MAP', 0x3b85, 40, 40],
  ['IOMMU_IOAS_UNMAP', 0x3b86, 24, 24], ['IOMMU_OPTION', 0x3b87, 24, 24], ['IOMMU_VFIO_IOAS', 0x3b88, 12, 12],
  ['IOMMU_HWPT_ALLOC', 0x3b89, 48, 24], ['IOMMU_GET_HW_INFO', 0x3b8a, 40, 32],
  ['IOMMU_HWPT_SET_DIRTY_TRACKING', 0x3b8b, 16, 16], ['IOMMU_HWPT_GET_DIRTY_BITMAP', 0x3b8c, 48, 48],
  ['IOMMU_HWPT_INVALIDATE', 0x3b8d, 32, 32], ['IOMMU_FAULT_QUEUE_ALLOC', 0x3b8e, 16, 16],
  ['IOMMU_IOAS_MAP_FILE', 0x3b8f, 40, 40], ['IOMMU_VIOMMU_ALLOC', 0x3b90, 40, 24],
  ['IOMMU_VDEVICE_ALLOC', 0x3b91, 24, 24], ['IOMMU_IOAS_CHANGE_PROCESS', 0x3b92, 8, 8],
  ['IOMMU_VEVENTQ_ALLOC', 0x3b93, 32, 28], ['IOMMU_HW_QUEUE_ALLOC', 0x3b94, 40, 40],
  ['IOMMU_TEST_CMD', 0x3ba0, 72, 68],
];

describe('ioctl table (uapi.md §3.1)', () => {
  it.each(TABLE)('%s: cmd %s ksize %i min %i', (name, cmd, ksize, min) => {
    const e = ioctlEntry(name)!;
    expect(e).toBeDefined();
    expect([e.cmd, e.nr, e.ksize, e.minSize]).toEqual([cmd, cmd & 0xff, ksize, min]);
    expect(IOMMUFD_IOCTL_OPS_TEST[e.nr - 0x80]).toBe(e);
  });

  it('production table is 0x15 dense entries; the test table ends at 0xA0 with holes 0x95..0x9F', () => {
    expect(IOMMUFD_IOCTL_OPS.length).toBe(0x15);
    expect(IOMMUFD_IOCTL_OPS.every((e) => e !== undefined)).toBe(true);
    expect(IOMMUFD_IOCTL_OPS_TEST.length).toBe(0x21);
    for (let nr = 0x95; nr <= 0x9f; nr++) expect(IOMMUFD_IOCTL_OPS_TEST[nr - 0x80]).toBeUndefined();
    expect(IOMMUFD_IOCTL_OPS_TEST[0x20]?.name).toBe('IOMMU_TEST_CMD');
  });

  it('every request is a plain _IO code and the struct fits', () => {
    for (const e of IOMMUFD_IOCTL_OPS_TEST) {
      if (!e) continue;
      expect(e.cmd).toBe(io._IO(0x3b, e.nr));
      expect(e.minSize).toBeLessThanOrEqual(e.ksize);
      expect(e.layout.size).toBe(e.ksize);
    }
  });
});

describe('dispatch step 1: numbers outside the table go to VFIO compat', () => {
  it.each([
    ['VFIO_IOMMU_MAP_DMA', io.VFIO_IOMMU_MAP_DMA, PROD],
    ['nr 0', 0, TEST],
    ['nr 0x7F', 0x3b7f, TEST],
    ['nr 0x95 on a production kernel', 0x3b95, PROD],
    ['IOMMU_TEST_CMD on a production kernel', io.IOMMU_TEST_CMD, PROD],
    ['nr 0xA1 on a test kernel', 0x3ba1, TEST],
  ] as const)('%s', (_n, cmd, opts) => {
    // Even an empty (faulting) argument: compat decides, the size is never read here.
    expect(dispatchIoctl(cmd, new Uint8Array(0), opts)).toEqual({ route: 'compat', cmd });
  });

  it('compat routing looks at nr only, so foreign types with a low nr go there too', () => {
    expect(errnoOf(dispatchIoctl(0x1234, userArg(8), PROD))).toBe('compat');
  });
});

describe('dispatch step 2: reading size faults before the request is validated', () => {
  it('EFAULT for a 2-byte arg even with a hole nr on a test build', () => {
    expect(errnoOf(dispatchIoctl(0x3b95, new Uint8Array(2), TEST))).toBe(EFAULT);
  });

  it('EFAULT for 0..3 bytes on a valid command, and for _IOWR encodings', () => {
    for (const len of [0, 1, 2, 3]) {
      expect(errnoOf(dispatchIoctl(io.IOMMU_DESTROY, new Uint8Array(len), PROD))).toBe(EFAULT);
    }
    expect(errnoOf(dispatchIoctl(io._IOWR(0x3b, 0x85, 40), new Uint8Array(3), PROD))).toBe(EFAULT);
  });
});

describe('dispatch step 3: hole or request mismatch → ENOTTY', () => {
  it('hole 0x95..0x9F on a test build', () => {
    for (let nr = 0x95; nr <= 0x9f; nr++) {
      expect(errnoOf(dispatchIoctl(0x3b00 | nr, userArg(72), TEST))).toBe(ENOTTY);
    }
  });

  it('right nr, wrong direction/size bits (_IOWR, _IOR, _IOW)', () => {
    expect(errnoOf(dispatchIoctl(io._IOWR(0x3b, 0x85, 40), userArg(40), PROD))).toBe(ENOTTY);
    expect(errnoOf(dispatchIoctl(io._IOR(0x3b, 0x80, 8), userArg(8), PROD))).toBe(ENOTTY);
    expect(errnoOf(dispatchIoctl(io._IOW(0x3b, 0x80, 8), userArg(8), PROD))).toBe(ENOTTY);
  });

  it('right nr, wrong type byte', () => {
    expect(errnoOf(dispatchIoctl(0x1285, userArg(40), PROD))).toBe(ENOTTY);
  });

  it('ENOTTY beats the size checks', () => {
    expect(errnoOf(dispatchIoctl(io._IOWR(0x3b, 0x85, 40), userArg(0, 4), PROD))).toBe(ENOTTY);
  });
});

describe('dispatch step 4: size < min_size → EINVAL', () => {
  it.each(TABLE)('%s', (name, cmd, _ksize, min) => {
    expect(errnoOf(dispatchIoctl(cmd, userArg(min - 1, 80), TEST))).toBe(EINVAL);
    expect(errnoOf(dispatchIoctl(cmd, userArg(0, 80), TEST))).toBe(EINVAL);
    expect(errnoOf(dispatchIoctl(cmd, userArg(min, 80), TEST))).toBe('ok');
    void name;
  });

  it('EINVAL beats EFAULT when only the size word is readable', () => {
    expect(errnoOf(dispatchIoctl(io.IOMMU_IOAS_MAP, userArg(39, 4), PROD))).toBe(EINVAL);
  });

  it('IOMMU_TEST_CMD: 67 is too short, 68 (end of `last`) is enough', () => {
    expect(errnoOf(dispatchIoctl(io.IOMMU_TEST_CMD, userArg(67, 72), TEST))).toBe(EINVAL);
    expect(errnoOf(dispatchIoctl(io.IOMMU_TEST_CMD, userArg(68, 72), TEST))).toBe('ok');
  });
});

describe('dispatch step 5: copy_struct_from_user', () => {
  it('short size above min is zero-extended; user bytes past size are not read', () => {
    const arg = userArg(24, 48, 0xee);
    new DataView(arg.buffer).setUint32(0, 24, true);
    const r = success(dispatchIoctl(io.IOMMU_HWPT_ALLOC, arg, PROD));
    expect(r.kbuf.length).toBe(48);
    expect(r.userSize).toBe(24);
    expect([...r.kbuf.subarray(4, 24)].every((b) => b === 0xee)).toBe(true);
    expect([...r.kbuf.subarray(24)].every((b) => b === 0)).toBe(true);
    const d = decode(S.iommu_hwpt_alloc, r.kbuf);
    expect([d.data_type, d.data_len, d.data_uptr, d.fault_id]).toEqual([0, 0, 0n, 0]);
  });

  it('an old 40-byte HWPT_ALLOC (6.7) reads fault_id as 0', () => {
    const arg = pack(S.iommu_hwpt_alloc, { size: 40, data_type: 0xdead, data_len: 8, fault_id: 77 }).subarray(0, 40);
    const d = decode(S.iommu_hwpt_alloc, success(dispatchIoctl(io.IOMMU_HWPT_ALLOC, arg, PROD)).kbuf);
    expect([d.size, d.data_type, d.fault_id]).toEqual([40, 0xdead, 0]);
  });

  it('larger size with a zero tail is accepted and truncated to ksize', () => {
    const r = success(dispatchIoctl(io.IOMMU_DESTROY, userArg(4096, 4096), PROD));
    expect(r.kbuf.length).toBe(8);
    expect(r.userSize).toBe(4096);
    expect(decode(S.iommu_destroy, r.kbuf).size).toBe(4096);
  });

  it('larger size with any non-zero tail byte → E2BIG', () => {
    for (const at of [8, 9, 15, 63]) {
      const arg = userArg(64, 64);
      arg[at] = 1;
      expect(errnoOf(dispatchIoctl(io.IOMMU_DESTROY, arg, PROD))).toBe(E2BIG);
    }
  });

  it('a non-zero byte just past ksize but beyond size is ignored', () => {
    const arg = userArg(8, 16);
    arg[8] = 1;
    expect(errnoOf(dispatchIoctl(io.IOMMU_DESTROY, arg, PROD))).toBe('ok');
  });

  it('size beyond the readable memory → EFAULT (below and above ksize)', () => {
    expect(errnoOf(dispatchIoctl(io.IOMMU_IOAS_MAP, userArg(40, 39), PROD))).toBe(EFAULT);
    expect(errnoOf(dispatchIoctl(io.IOMMU_HWPT_ALLOC, userArg(32, 28), PROD))).toBe(EFAULT);
    expect(errnoOf(dispatchIoctl(io.IOMMU_DESTROY, userArg(0xffffffff, 100), PROD))).toBe(EFAULT);
  });

  it('a non-zero tail byte before the fault wins: E2BIG', () => {
    const arg = userArg(0xffffffff, 100);
    arg[50] = 1;
    expect(errnoOf(dispatchIoctl(io.IOMMU_DESTROY, arg, PROD))).toBe(E2BIG);
  });

  it('copyStructFromUser at an offset (driver data / invalidation entries)', () => {
    const user = new Uint8Array(32);
    user.set([1, 2, 3, 4, 5, 6, 7, 8], 16);
    const dst = new Uint8Array(8).fill(0xff);
    expect(copyStructFromUser(dst, user, 4, 16)).toBe(0);
    expect([...dst]).toEqual([1, 2, 3, 4, 0, 0, 0, 0]);
    expect(copyStructFromUser(dst, user, 16, 16)).toBe(0);
    expect(copyStructFromUser(dst, user, 17, 16)).toBe(EFAULT);
    user[31] = 9;
    expect(copyStructFromUser(dst, user, 16, 16)).toBe(E2BIG);
  });
});

describe('respond', () => {
  const map = ioctlEntry('IOMMU_IOAS_MAP')!;

  it('writes min(userSize, ksize) bytes and leaves the user tail alone', () => {
    const arg = userArg(64, 64);
    const kbuf = pack(S.iommu_ioas_map, { size: 64, iova: 0x1234n });
    expect(respond(map, kbuf, arg, 64)).toBe(0);
    expect(decode(S.iommu_ioas_map, arg).iova).toBe(0x1234n);
    expect([...arg.subarray(40)].every((b) => b === 0)).toBe(true);
  });

  it('an older, shorter user struct gets only its own bytes', () => {
    const hw = ioctlEntry('IOMMU_GET_HW_INFO')!;
    const arg = userArg(32, 40, 0x55);
    new DataView(arg.buffer).setUint32(0, 32, true);
    const kbuf = pack(S.iommu_hw_info, { size: 32, out_capabilities: 1n, out_data_type: 0xfeedbeef });
    expect(respond(hw, kbuf, arg, 32)).toBe(0);
    expect(decode(S.iommu_hw_info, arg).out_data_type).toBe(0xfeedbeef);
    expect([...arg.subarray(32)].every((b) => b === 0x55)).toBe(true);
  });

  it('EFAULT when the user struct is not fully writable', () => {
    expect(respond(map, new Uint8Array(40), new Uint8Array(20), 40)).toBe(EFAULT);
    expect(respond(map, new Uint8Array(40), new Uint8Array(0), 40)).toBe(EFAULT);
  });

  it('respondField writes a single field (IOMMU_OPTION val64)', () => {
    const opt = ioctlEntry('IOMMU_OPTION')!;
    expect(opt.writeback).toEqual({ field: 'val64' });
    const arg = userArg(24, 24, 0x77);
    const kbuf = pack(S.iommu_option, { val64: 1n });
    expect(respondField(opt, kbuf, arg, 'val64')).toBe(0);
    const d = decode(S.iommu_option, arg);
    expect(d.val64).toBe(1n);
    expect(d.option_id).toBe(0x77777777);
    expect(respondField(opt, kbuf, new Uint8Array(20), 'val64')).toBe(EFAULT);
  });

  it('write-back policy is recorded per ioctl', () => {
    const wb = (n: string): IoctlEntry['writeback'] => ioctlEntry(n)!.writeback;
    expect(wb('IOMMU_HWPT_INVALIDATE')).toBe('structAlways');
    expect(wb('IOMMU_DESTROY')).toBe('none');
    expect(wb('IOMMU_IOAS_MAP')).toBe('struct');
    expect(wb('IOMMU_TEST_CMD')).toBe('perOp');
  });
});

describe('IOMMU_TEST_CMD op table', () => {
  it('numbers 1..24 in order, each with a view of the whole 72-byte command', () => {
    expect(IOMMU_TEST_OPS.map((o) => o.op)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    for (const o of IOMMU_TEST_OPS) expect(o.view.size).toBe(72);
    expect(testOpEntry(0)).toBeUndefined();
    expect(testOpEntry(E.IOMMU_TEST_OP_MOCK_DOMAIN)?.responds).toBe(true);
    expect(testOpEntry(E.IOMMU_TEST_OP_ADD_RESERVED)?.responds).toBe(false);
  });

  it('decodes a dispatched MOCK_DOMAIN_FLAGS through its view', () => {
    const view = S.iommu_test_cmd_views.mock_domain_flags;
    const arg = pack(view, { size: 72, op: 12, id: 3, mock_domain_flags: { dev_flags: E.MOCK_FLAGS_DEVICE_PASID } });
    const r = success(dispatchIoctl(io.IOMMU_TEST_CMD, arg, TEST));
    const d = decode(testOpEntry(decode(S.iommu_test_cmd, r.kbuf).op)!.view, r.kbuf) as ReturnType<typeof decode<typeof view>>;
    expect([d.id, d.mock_domain_flags.dev_flags]).toEqual([3, 4]);
  });
});

describe('VFIO cdev dispatch (argsz rules)', () => {
  const bind = (argsz: number, flags = 0, len = 16) => {
    const b = new Uint8Array(len);
    const dv = new DataView(b.buffer);
    if (len >= 4) dv.setUint32(0, argsz, true);
    if (len >= 8) dv.setUint32(4, flags, true);
    return b;
  };

  it('accepts argsz == minsz and ignores non-zero bytes past it', () => {
    const arg = bind(64, 0, 64);
    arg.fill(0xff, 16);
    const r = dispatchVfioIoctl(io.VFIO_DEVICE_BIND_IOMMUFD, arg);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.argsz).toBe(64);
      expect([...r.kbuf.subarray(16)].every((x) => x === 0)).toBe(true);
    }
  });

  it('argsz < minsz → EINVAL; unreadable minsz → EFAULT', () => {
    expect(dispatchVfioIoctl(io.VFIO_DEVICE_BIND_IOMMUFD, bind(15))).toEqual({ ok: false, errno: EINVAL });
    expect(dispatchVfioIoctl(io.VFIO_DEVICE_BIND_IOMMUFD, bind(16, 0, 15))).toEqual({ ok: false, errno: EFAULT });
    expect(dispatchVfioIoctl(io.VFIO_DEVICE_DETACH_IOMMUFD_PT, bind(7, 0, 8))).toEqual({ ok: false, errno: EINVAL });
    expect(dispatchVfioIoctl(io.VFIO_DEVICE_DETACH_IOMMUFD_PT, bind(8, 0, 8)).ok).toBe(true);
  });

  it('unknown flags → EINVAL, not EOPNOTSUPP', () => {
    expect(dispatchVfioIoctl(io.VFIO_DEVICE_ATTACH_IOMMUFD_PT, bind(16, 2))).toEqual({ ok: false, errno: EINVAL });
    expect(dispatchVfioIoctl(io.VFIO_DEVICE_BIND_IOMMUFD, bind(16, 1 << 31))).toEqual({ ok: false, errno: EINVAL });
  });

  it('the PASID flag requires argsz to cover pasid, and copies it', () => {
    const attach = io.VFIO_DEVICE_ATTACH_IOMMUFD_PT;
    expect(dispatchVfioIoctl(attach, bind(12, E.VFIO_DEVICE_ATTACH_PASID, 16))).toEqual({ ok: false, errno: EINVAL });
    expect(dispatchVfioIoctl(attach, bind(16, E.VFIO_DEVICE_ATTACH_PASID, 12))).toEqual({ ok: false, errno: EFAULT });
    const arg = pack(S.vfio_device_attach_iommufd_pt, { argsz: 16, flags: 1, pt_id: 5, pasid: 9 });
    const r = dispatchVfioIoctl(attach, arg);
    expect(r.ok && decode(S.vfio_device_attach_iommufd_pt, r.kbuf).pasid).toBe(9);
  });

  it('without the PASID flag a 12-byte attach is fine and pasid reads 0', () => {
    const arg = pack(S.vfio_device_attach_iommufd_pt, { argsz: 16, pt_id: 5, pasid: 9 });
    const r = dispatchVfioIoctl(io.VFIO_DEVICE_ATTACH_IOMMUFD_PT, arg);
    expect(r.ok && decode(S.vfio_device_attach_iommufd_pt, r.kbuf).pasid).toBe(0);
    expect(dispatchVfioIoctl(io.VFIO_DEVICE_ATTACH_IOMMUFD_PT, arg.subarray(0, 12)).ok).toBe(true);
  });

  it('known flag the device cannot honour → EOPNOTSUPP', () => {
    const arg = pack(S.vfio_device_attach_iommufd_pt, { argsz: 16, flags: 1 });
    expect(dispatchVfioIoctl(io.VFIO_DEVICE_ATTACH_IOMMUFD_PT, arg, { unsupportedFlags: 1 })).toEqual({
      ok: false,
      errno: EOPNOTSUPP,
    });
  });

  it('unknown request → ENOTTY', () => {
    expect(dispatchVfioIoctl(0x3b79, bind(16))).toEqual({ ok: false, errno: ENOTTY });
    expect(dispatchVfioIoctl(io.IOMMU_DESTROY, bind(16))).toEqual({ ok: false, errno: ENOTTY });
  });

  it('respondVfio copies only the out field', () => {
    const arg = bind(16, 0, 24);
    arg.fill(0x11, 16);
    const r = dispatchVfioIoctl(io.VFIO_DEVICE_BIND_IOMMUFD, arg);
    if (!r.ok) throw new Error('bind dispatch failed');
    const kbuf = r.kbuf.slice();
    new DataView(kbuf.buffer).setUint32(12, 42, true);
    new DataView(kbuf.buffer).setUint32(8, 99, true);
    expect(respondVfio(r.entry, kbuf, arg)).toBe(0);
    const d = decode(S.vfio_device_bind_iommufd, arg);
    expect([d.out_devid, d.iommufd]).toEqual([42, 0]);
    expect(respondVfio(r.entry, kbuf, arg.subarray(0, 14))).toBe(EFAULT);
  });
});

/**
 * Built-in explore scenarios: one per known-bug variant (each written from
 * the bug's trigger in spec/bugs.md, with no hand-written interleaving — the
 * explorer has to find it), plus small ones for POR and benchmarks.
 */
import type { Scenario } from './scenario.ts';
import { svaTopology } from '../actors/hw/sva-api.ts';

const proc1 = [
  { op: 'mmap', length: 0x10000n, as: 'buf' },
  { op: 'open', as: 'fd' },
  { op: 'ioasAlloc', fd: 'fd', as: 'ioas' },
] as const;

export const SCENARIOS: Record<string, Scenario> = {
  'destroy-race': {
    name: 'destroy-race',
    description: 'B01 trigger: two threads IOMMU_DESTROY the same idle IOAS',
    exposes: 'B01',
    setup: [...proc1],
    threads: [
      [{ op: 'destroy', fd: '$fd', id: '$ioas' }],
      [{ op: 'destroy', fd: '$fd', id: '$ioas' }],
    ],
    oracles: [{ name: 'destroy-pair', params: { id: '$ioas' } }],
  },
  'put-destroy-race': {
    name: 'put-destroy-race',
    description: 'B02 trigger: a get/put ioctl on an IOAS (IOVA_RANGES) races IOMMU_DESTROY of it',
    exposes: 'B02',
    setup: [...proc1],
    threads: [
      [{ op: 'iovaRanges', fd: '$fd', ioas: '$ioas', buf: '$buf' }],
      [{ op: 'destroy', fd: '$fd', id: '$ioas' }],
    ],
  },
  'unmap-access-race': {
    name: 'unmap-access-race',
    description: 'B04 trigger: an access pins the first page of a 2-page mapping; two threads UNMAP the whole range',
    exposes: 'B04',
    setup: [
      ...proc1,
      { op: 'map', fd: 'fd', ioas: 'ioas', buf: 'buf', iova: 0x100000n, length: 0x2000n },
      { op: 'accessPin', fd: 'fd', ioas: 'ioas', iova: 0x100000n, length: 0x1000n },
    ],
    threads: [
      [{ op: 'unmap', fd: '$fd', ioas: '$ioas', iova: 0x100000n, length: 0x2000n }],
      [{ op: 'unmap', fd: '$fd', ioas: '$ioas', iova: 0x100000n, length: 0x2000n }],
    ],
    teardown: true,
    oracles: [{ name: 'unmap-once', params: { length: 0x2000n } }],
  },
  'map-unmap': {
    name: 'map-unmap',
    description: 'two threads MAP then UNMAP the same fixed IOVA on one IOAS, then every fd closes (small; used for POR)',
    setup: [...proc1],
    threads: [
      [
        { op: 'map', fd: '$fd', ioas: '$ioas', buf: '$buf', iova: 0x100000n, length: 0x1000n },
        { op: 'unmap', fd: '$fd', ioas: '$ioas', iova: 0x100000n, length: 0x1000n },
      ],
      [
        { op: 'map', fd: '$fd', ioas: '$ioas', buf: '$buf', iova: 0x100000n, length: 0x1000n },
      ],
    ],
    teardown: true,
  },
  'alloc-destroy': {
    name: 'alloc-destroy',
    description: 'one thread allocates an IOAS and saves its id, another destroys whatever that id names (symbolic ids through patch/save)',
    setup: [{ op: 'open', as: 'fd' }],
    threads: [
      [{ op: 'ioasAlloc', fd: '$fd', save: 'new' }],
      [{ op: 'destroy', fd: '$fd', id: '@new' }],
    ],
    teardown: true,
  },
  churn: {
    name: 'churn',
    description: 'three threads map, query and unmap on one IOAS and destroy a second one, then close (about 200 deliveries; the benchmark workload)',
    setup: [...proc1, { op: 'ioasAlloc', fd: 'fd', as: 'ioas2' }],
    threads: [0, 1, 2].map((t) => {
      const iova = 0x100000n + BigInt(t) * 0x10000n;
      const round = [
        { op: 'map', fd: '$fd', ioas: '$ioas', buf: '$buf', iova, length: 0x4000n },
        { op: 'iovaRanges', fd: '$fd', ioas: '$ioas', buf: '$buf' },
        { op: 'unmap', fd: '$fd', ioas: '$ioas', iova, length: 0x4000n },
        { op: 'map', fd: '$fd', ioas: '$ioas', buf: '$buf', iova: 0x200000n, length: 0x2000n },
      ] as const;
      return [...round, ...round, ...round, { op: 'iovaRanges', fd: '$fd', ioas: '$ioas', buf: '$buf' }, { op: 'unmapAll', fd: '$fd', ioas: '$ioas' }, { op: 'destroy', fd: '$fd', id: '$ioas2' }];
    }),
    teardown: true,
  },
};

/** An SVA process: a poked two-page buffer and acc0 bound to its address space ($pasid). */
const svaProc = [
  { op: 'mmap', length: 0x2000n, as: 'buf' },
  { op: 'poke', buf: 'buf', length: 0x2000n },
  { op: 'syscall', call: 'sva.bind', args: { dev: 'acc0' }, as: 'pasid' },
] as const;

Object.assign(SCENARIOS, {
  'sva-exit-unbind': {
    name: 'sva-exit-unbind',
    description: 'S01 trigger: the bound process exits while the driver unbinds and the device submits DMA on the PASID',
    exposes: 'S01',
    topology: svaTopology(),
    setup: [...svaProc],
    threads: [
      [{ op: 'syscall', call: 'proc.exit', args: {} }],
      [{ op: 'syscall', call: 'sva.unbind', args: { dev: 'acc0', pid: 1 } }],
      [{ op: 'syscall', call: 'sva.submit', args: { dev: 'acc0', va: '$buf', length: 16, write: false, pasid: '$pasid' } }],
    ],
  },
  'sva-bind-unbind': {
    name: 'sva-bind-unbind',
    description: 'S02 trigger: acc1 binds the mm (reusing its SVA domain on the same IOMMU) while acc0 unbinds the last bond of that domain',
    exposes: 'S02',
    topology: svaTopology(),
    setup: [...svaProc],
    threads: [
      [{ op: 'syscall', call: 'sva.unbind', args: { dev: 'acc0', pid: 1 } }],
      [{ op: 'syscall', call: 'sva.bind', args: { dev: 'acc1' } }],
    ],
  },
  'sva-munmap-dma': {
    name: 'sva-munmap-dma',
    description: 'S03 trigger: the process unmaps a buffer the device has cached translations of while the device reads it again',
    exposes: 'S03',
    topology: svaTopology(),
    setup: [...svaProc, { op: 'dma', dev: 'acc0', buf: 'buf', length: 0x2000, write: false, pasid: '$pasid' }],
    threads: [
      [{ op: 'syscall', call: 'munmap', args: { addr: '$buf', length: 0x2000n } }],
      [{ op: 'syscall', call: 'sva.submit', args: { dev: 'acc0', va: '$buf', length: 16, write: false, pasid: '$pasid' } }],
    ],
  },
} satisfies Record<string, Scenario>);

/** Variants of device / auto-HWPT / compat bugs (B05, B06, B14). */
Object.assign(SCENARIOS, {
  'auto-hwpt-create-race': {
    name: 'auto-hwpt-create-race',
    description: 'B05 trigger: IOAS with a mapping; two threads MOCK_DOMAIN the same IOAS (both want an automatic HWPT)',
    exposes: 'B05',
    setup: [...proc1, { op: 'map', fd: 'fd', ioas: 'ioas', buf: 'buf', iova: 0x1000000n, length: 0x2000n }],
    threads: [
      [{ op: 'mockDomain', fd: '$fd', ioas: '$ioas' }],
      [{ op: 'mockDomain', fd: '$fd', ioas: '$ioas' }],
    ],
  },
  'auto-hwpt-destroy-race': {
    name: 'auto-hwpt-destroy-race',
    description: "B06 trigger: a mock device is the only user of the IOAS's auto HWPT; one thread destroys it (its HWPT goes) while another MOCK_DOMAINs the IOAS",
    exposes: 'B06',
    setup: [...proc1, { op: 'map', fd: 'fd', ioas: 'ioas', buf: 'buf', iova: 0x1000000n, length: 0x1000n }, { op: 'mockDomain', fd: 'fd', ioas: 'ioas', as: 'stdev' }],
    threads: [
      [{ op: 'destroy', fd: '$fd', id: '$stdev' }],
      [{ op: 'mockDomain', fd: '$fd', ioas: '$ioas' }],
    ],
  },
  'compat-unmap-empty': {
    name: 'compat-unmap-empty',
    description: 'B14 trigger: VFIO_SET_IOMMU(type1v2) on the compat IOAS, then VFIO_IOMMU_UNMAP_DMA of a range nothing maps; native UNMAP of the same range alongside',
    exposes: 'B14',
    setup: [...proc1],
    threads: [
      [{ op: 'vfioIoas', fd: '$fd', ioas: '$ioas', vop: 'set' }, { op: 'vfioSetIommu', fd: '$fd', type: 3 }, { op: 'vfioUnmapDma', fd: '$fd', iova: 0x100000n, size: 0x1000n }],
      [{ op: 'unmap', fd: '$fd', ioas: '$ioas', iova: 0x100000n, length: 0x1000n }],
    ],
    oracles: [{ name: 'compat-unmap-empty' }],
  },
} satisfies Record<string, Scenario>);

/** Fault-queue races (B07): a mock device on a fault-capable HWPT with one page-request group queued. */
Object.assign(SCENARIOS, {
  'fault-read-detach-race': {
    name: 'fault-read-detach-race',
    description: 'B07 trigger: a fault-capable HWPT with one queued IOPF group; one thread read()s the FAULT fd while another replaces the mock device back onto the IOAS (the replace flushes its groups INVALID)',
    exposes: 'B07',
    setup: [
      ...proc1,
      { op: 'mockDomain', fd: 'fd', ioas: 'ioas', as: 'stdev', dev: 'idev' },
      { op: 'ioctl', fd: 'fd', name: 'IOMMU_FAULT_QUEUE_ALLOC', fields: { flags: 0 }, out: { out_fault_id: 'fault', out_fault_fd: 'ffd' } },
      {
        op: 'ioctl', fd: 'fd', name: 'IOMMU_HWPT_ALLOC',
        fields: { flags: 1 << 2 /* IOMMU_HWPT_FAULT_ID_VALID */, dev_id: '$idev', pt_id: '$ioas', data_type: 0, data_len: 0, data_uptr: 0n, fault_id: '$fault' },
        out: { out_hwpt_id: 'hwpt' },
      },
      { op: 'testCmd', fd: 'fd', testOp: 10 /* MOCK_DOMAIN_REPLACE */, id: '$stdev', member: 'mock_domain_replace', fields: { pt_id: '$hwpt' } },
      { op: 'testCmd', fd: 'fd', testOp: 15 /* TRIGGER_IOPF */, member: 'trigger_iopf', fields: { dev_id: '$idev', pasid: 0, grpid: 1, perm: 1, addr: 0x1000000n } },
    ],
    threads: [
      [{ op: 'syscall', call: 'read', args: { fd: '$ffd', buf: '$buf', count: 40 } }],
      [{ op: 'testCmd', fd: '$fd', testOp: 10 /* MOCK_DOMAIN_REPLACE */, id: '$stdev', member: 'mock_domain_replace', fields: { pt_id: '$ioas' } }],
    ],
  },
} satisfies Record<string, Scenario>);

/** Event-object allocation aborts (B03): the response copy-out fails after the object's file exists. */
Object.assign(SCENARIOS, {
  'fault-alloc-abort': {
    name: 'fault-alloc-abort',
    description: "B03 trigger: IOMMU_FAULT_QUEUE_ALLOC whose response copy-out fails (fail_nth 3: the object's kzalloc and xa_alloc pass, the copy_to_user fails), so the FAULT is aborted after its file was created; then the iommufd closes",
    exposes: 'B03',
    config: { failNth: 3 },
    setup: [{ op: 'open', as: 'fd' }],
    threads: [[{ op: 'ioctl', fd: '$fd', name: 'IOMMU_FAULT_QUEUE_ALLOC', fields: { flags: 0 } }]],
    teardown: true,
  },
} satisfies Record<string, Scenario>);

/** Driver unbind vs. a slow ioctl holding the device (B08): virtual time, with a stalled IOMMU_GET_HW_INFO. */
Object.assign(SCENARIOS, {
  'unbind-hwinfo-stall': {
    name: 'unbind-hwinfo-stall',
    description: "B08 trigger: a VFIO device bound to the iommufd is closed (the driver unbinds it) while another thread's IOMMU_GET_HW_INFO on it holds its short-term reference through a 30 s driver stall",
    exposes: 'B08',
    setup: [
      { op: 'open', as: 'fd' },
      { op: 'syscall', call: 'open', args: { path: '/dev/vfio/devices/vfio0' }, as: 'vfd' },
      { op: 'syscall', call: 'fault_inject.stall', args: { site: 'hw_info', ms: 30_000 } },
    ],
    threads: [
      [
        { op: 'ioctl', fd: '$vfd', name: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { flags: 0, iommufd: '$fd' }, save: { out_devid: 'dev' } },
        { op: 'close', fd: '$vfd' },
      ],
      [{ op: 'ioctl', fd: '$fd', name: 'IOMMU_GET_HW_INFO', fields: { flags: 0, dev_id: '@dev', data_len: 0, data_uptr: 0n } }],
    ],
    teardown: true,
  },
} satisfies Record<string, Scenario>);

/** Non-race errno bugs: one call, an oracle on its errno. */
Object.assign(SCENARIOS, {
  'hwpt-alloc-no-data': {
    name: 'hwpt-alloc-no-data',
    description: 'B25 trigger: IOMMU_HWPT_ALLOC on an IOAS with data_type SELFTEST but data_len 0 and no data pointer (EINVAL, no object)',
    exposes: 'B25',
    setup: [...proc1, { op: 'mockDomain', fd: 'fd', ioas: 'ioas', as: 'stdev', dev: 'idev' }],
    threads: [[{ op: 'ioctl', fd: '$fd', name: 'IOMMU_HWPT_ALLOC', fields: { flags: 0, dev_id: '$idev', pt_id: '$ioas', data_type: 0xdead /* IOMMU_HWPT_DATA_SELFTEST */, data_len: 0, data_uptr: 0n } }]],
    oracles: [{ name: 'ioctl-errno-is', params: { name: 'IOMMU_HWPT_ALLOC', errno: 22 } }],
  },
  'dirty-bitmap-huge-page': {
    name: 'dirty-bitmap-huge-page',
    description: 'B13 trigger: GET_DIRTY_BITMAP on a dirty-tracking mock HWPT with page_size 1 << 63 over [0, 1 << 63) (every range check passes; one bit)',
    exposes: 'B13',
    setup: [
      ...proc1,
      { op: 'mockDomain', fd: 'fd', ioas: 'ioas', as: 'stdev', dev: 'idev' },
      { op: 'ioctl', fd: 'fd', name: 'IOMMU_HWPT_ALLOC', fields: { flags: 1 << 1 /* DIRTY_TRACKING */, dev_id: '$idev', pt_id: '$ioas', data_type: 0, data_len: 0, data_uptr: 0n }, out: { out_hwpt_id: 'hwpt' } },
      { op: 'ioctl', fd: 'fd', name: 'IOMMU_HWPT_SET_DIRTY_TRACKING', fields: { flags: 1, hwpt_id: '$hwpt' } },
    ],
    threads: [[{ op: 'ioctl', fd: '$fd', name: 'IOMMU_HWPT_GET_DIRTY_BITMAP', fields: { hwpt_id: '$hwpt', flags: 0, iova: 0n, length: 1n << 63n, page_size: 1n << 63n, data: '$buf' } }]],
    oracles: [{ name: 'ioctl-errno-is', params: { name: 'IOMMU_HWPT_GET_DIRTY_BITMAP', errno: 0 } }],
  },
  'fault-write-efault': {
    name: 'fault-write-efault',
    description: 'B17 trigger: write() of one page response to a FAULT fd from an unmapped buffer (EFAULT)',
    exposes: 'B17',
    setup: [{ op: 'open', as: 'fd' }, { op: 'ioctl', fd: 'fd', name: 'IOMMU_FAULT_QUEUE_ALLOC', fields: { flags: 0 }, out: { out_fault_fd: 'ffd' } }],
    threads: [[{ op: 'syscall', call: 'write', args: { fd: '$ffd', buf: 0x7000_0000n, count: 8 } }]],
    oracles: [{ name: 'syscall-errno-is', params: { call: 'write', errno: 14 } }],
  },
} satisfies Record<string, Scenario>);

/** The variants the model implements, with the scenario that exposes each. */
export const VARIANTS: Record<string, { scenario: string; summary: string; suite?: 2 | 3 | 4; plain?: string; budget?: Partial<Record<'random' | 'pct' | 'por', number>> }> = {
  B01: { scenario: 'destroy-race', summary: 'IOMMU_DESTROY took a users reference before deciding to destroy' },
  B02: { scenario: 'put-destroy-race', summary: 'put_object touched the object after dropping the last transient reference' },
  B03: { scenario: 'fault-alloc-abort', summary: "a FAULT/vEVENTQ alloc whose copy-out failed fput() its file (release deferred to task work) and freed the object at once: the release dropped a users reference on freed memory", suite: 4 },
  B04: { scenario: 'unmap-access-race', summary: 'forced unmap used the area pointer after dropping the IOVA lock' },
  B05: { scenario: 'auto-hwpt-create-race', summary: 'an automatic HWPT was published on the IOAS list and attached before its domain was populated: a concurrent attach reused a domain without the IOAS mappings', suite: 3 },
  B06: { scenario: 'auto-hwpt-destroy-race', summary: 'the auto-HWPT list walk took no "get unless zero" reference: a HWPT being destroyed was attached to', suite: 2, budget: { por: 2000 } },
  B07: { scenario: 'fault-read-detach-race', summary: "read() took a fault group off the deliver list in a later step than its copy-out (list unlocked): a detach flush in between answered it and the read still queued it for a response", suite: 3 },
  B08: { scenario: 'unbind-hwinfo-stall', summary: 'the unbind waited only 10 s for short-term users to drain: a GET_HW_INFO holding the device through a longer stall made it time out into the WARN path, leaving the device object in place', suite: 4, budget: { por: 2000 } },
  B12: { scenario: 'compat-unmap-empty', summary: "splitting an area (VFIO type1 UNMAP_DMA inside it, under a domain) left the split area in its pages' domains tree and added neither half (the domains-tree invariant; a plain test, the scenario names the compat setup it shares)", plain: 'test/explore/b12-split-domains-tree.test.ts' },
  B13: { scenario: 'dirty-bitmap-huge-page', summary: 'the dirty bitmap index divided by 64 * page_size in 64 bits: page_size 1 << 63 wrapped the divisor to 0 (divide error)', suite: 4 },
  B14: { scenario: 'compat-unmap-empty', summary: 'VFIO-compat UNMAP_DMA of an empty range failed ENOENT instead of succeeding with size 0', suite: 2 },
  B16: { scenario: 'auto-hwpt-create-race', summary: "a replace that failed after enforcing the device's reserved regions on the new IOAS removed them from the old one (needs fail_nth at the attach handle; a plain test, the scenario only names the device setup it shares)", plain: 'test/explore/b16-replace-unwind.test.ts' },
  B17: { scenario: 'fault-write-efault', summary: "FAULT write() returned copy_from_user's count of bytes not copied as success when the first response record was unreadable, instead of EFAULT", suite: 4 },
  B19: { scenario: 'fault-read-detach-race', summary: "FAULT read() records were uninitialised stack structs: the 4-byte hole before addr (now __reserved) leaked kernel stack (the read data is checked by a plain test over this scenario's setup)", plain: 'test/explore/b19-pgfault-padding.test.ts' },
  B20: { scenario: 'hwpt-alloc-no-data', summary: "__iommu_copy_struct_from_user compared the data type before the NULL check of its descriptor (every check is EINVAL: only a NULL descriptor differs, an oops instead of WARN + EINVAL; no ioctl reaches it, so it is a plain test, not an explore target)", plain: 'test/models/b20-copy-order.test.ts' },
  B21: { scenario: 'auto-hwpt-create-race', summary: "aborting an automatic HWPT whose domain failed to join the IOAS ran the normal destroy, which takes ioas->mutex again: a self-deadlock (fail_nth at the join; a plain test, the scenario names the setup it shares)", plain: 'test/explore/b21-abort-deadlock.test.ts' },
  B25: { scenario: 'hwpt-alloc-no-data', summary: 'HWPT_ALLOC took a non-NONE data_type with data_len 0 as "no data" and built a plain paging HWPT instead of failing EINVAL', suite: 4 },
  S01: { scenario: 'sva-exit-unbind', summary: "the SVA domain's mm release callback did not block the PASID: the IOMMU walked the exited process's freed page tables" },
  S02: { scenario: 'sva-bind-unbind', summary: "bind took the SVA domain's user reference after dropping iommu_sva_lock: the unbind of the last bond freed the domain under the new bond" },
  S03: { scenario: 'sva-munmap-dma', summary: 'munmap freed the pages before the SVA domain\'s IOTLB/ATC flush ran (deferred to a workqueue)' },
};

export function scenarioByName(name: string): Scenario {
  const s = SCENARIOS[name];
  if (!s) throw new Error(`no scenario named '${name}' (have: ${Object.keys(SCENARIOS).join(', ')})`);
  return s;
}

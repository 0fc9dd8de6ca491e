// syz programs for the iommufd ioctls, written from the format in spec/bugs.md §0.3:
// imported into the raw ABI with the results the kernel rules give, and journals exported back.
import { describe, expect, it } from 'vitest';
import { importSyz, exportSyz } from '../../scenario/syz.ts';
import { journalScenario } from './helpers.ts';

function runSyz(prog: string) {
  const imp = importSyz(prog);
  const j = journalScenario(imp.scenario);
  return { imp, ...j, log: j.result.log.filter((l) => /IOMMU|VFIO|0x3b/.test(l)).map((l) => l.replace(/^\d+: /, '')) };
}

const OPEN = "r0 = openat$iommufd(0xffffffffffffff9c, &(0x7f0000000000)='/dev/iommu\\x00', 0x2, 0x0)";

describe('syz import', () => {
  it('alloc, map pages, unmap all, destroy: resources flow from out-fields', () => {
    const { log, imp } = runSyz(`# {Threaded:false Repeat:false Procs:1 Slowdown:1 Sandbox:none}
${OPEN}
ioctl$IOMMU_IOAS_ALLOC(r0, 0x3b81, &(0x7f0000000040)={0xc, 0x0, <r1=>0x0})
ioctl$IOMMU_IOAS_MAP$PAGES(r0, 0x3b85, &(0x7f0000000080)={0x28, 0x7, r1, 0x0, &(0x7f0000ffb000/0x3000)=nil, 0x3000, 0x100000})
ioctl$IOMMU_IOAS_MAP$PAGES(r0, 0x3b85, &(0x7f0000000080)={0x28, 0x7, r1, 0x0, &(0x7f0000ffb000/0x3000)=nil, 0x3000, 0x100000})
ioctl$IOMMU_DESTROY$ioas(r0, 0x3b80, &(0x7f0000000180)={0x8, r1})
ioctl$IOMMU_IOAS_UNMAP$ALL(r0, 0x3b86, &(0x7f0000000140)={0x18, r1, 0x0, 0xffffffffffffffff})
ioctl$IOMMU_DESTROY$ioas(r0, 0x3b80, &(0x7f0000000180)={0x8, r1})
ioctl$IOMMU_DESTROY$ioas(r0, 0x3b80, &(0x7f0000000180)={0x8, r1})
`);
    expect(imp.unsupported).toEqual([]);
    expect(log).toEqual([
      'IOMMU_IOAS_ALLOC -> ok r1=1',
      'IOMMU_IOAS_MAP -> ok',
      'IOMMU_IOAS_MAP -> EEXIST',
      // an IOAS with mappings can be destroyed (it unmaps everything)
      'IOMMU_DESTROY -> ok',
      'IOMMU_IOAS_UNMAP -> ENOENT',
      'IOMMU_DESTROY -> ENOENT',
      'IOMMU_DESTROY -> ENOENT',
    ]);
  });

  it('a failed defining call leaves the resource at its placeholder: stale-id calls', () => {
    const { log } = runSyz(`${OPEN}
ioctl$IOMMU_IOAS_ALLOC(r0, 0x3b81, &(0x7f0000000040)={0xc, 0x1, <r1=>0x7})
ioctl$IOMMU_IOAS_MAP(r0, 0x3b85, &(0x7f0000000080)={0x28, 0x6, r1, 0x0, &(0x7f0000001000/0x1000)=nil, 0x1000, 0x0})
ioctl$IOMMU_DESTROY$ioas(r0, 0x3b80, &(0x7f0000000180)={0x8, r2})
`);
    // flags != 0 → EOPNOTSUPP, r1 stays 0x7 (no such id), r2 was never defined (0)
    expect(log).toEqual(['IOMMU_IOAS_ALLOC -> EOPNOTSUPP', 'IOMMU_IOAS_MAP -> ENOENT', 'IOMMU_DESTROY -> ENOENT']);
  });

  it('mutated sizes, reserved fields, flags and request values get the dispatcher errnos', () => {
    const { log } = runSyz(`${OPEN}
ioctl$IOMMU_IOAS_ALLOC(r0, 0x3b81, &(0x7f0000000040)={0xc, 0x0, <r1=>0x0})
ioctl$IOMMU_IOAS_MAP(r0, 0x3b85, &(0x7f0000000080)={0x20, 0x6, r1, 0x0, &(0x7f0000001000/0x1000)=nil, 0x1000, 0x0})
ioctl$IOMMU_IOAS_MAP(r0, 0x3b85, &(0x7f0000000080)={0x28, 0x6, r1, 0x1, &(0x7f0000001000/0x1000)=nil, 0x1000, 0x0})
ioctl$IOMMU_IOAS_MAP(r0, 0x3b85, &(0x7f0000000080)={0x28, 0x86, r1, 0x0, &(0x7f0000001000/0x1000)=nil, 0x1000, 0x0})
ioctl$IOMMU_IOAS_MAP(r0, 0xc0283b85, &(0x7f0000000080)={0x28, 0x6, r1, 0x0, &(0x7f0000001000/0x1000)=nil, 0x1000, 0x0})
ioctl$IOMMU_IOAS_MAP(r0, 0x3b85, &(0x7f0000000080)={0x28, 0x6, r1, 0x0, &(0x7f0000001000/0x1000)=nil, 0xffffffffffffffff, 0x0})
ioctl$IOMMU_IOAS_UNMAP(r0, 0x3b86, &(0x7f0000000140)={0x18, r1, 0xfffffffffffff000, 0x2000})
`);
    expect(log).toEqual([
      'IOMMU_IOAS_ALLOC -> ok r1=1',
      'IOMMU_IOAS_MAP -> EINVAL', // size < min_size
      'IOMMU_IOAS_MAP -> EOPNOTSUPP', // __reserved != 0
      'IOMMU_IOAS_MAP -> EOPNOTSUPP', // unknown flag bit
      'IOMMU_IOAS_MAP -> ENOTTY', // _IOWR-encoded request 0xc0283b85: not iommufd's
      'IOMMU_IOAS_MAP -> EOVERFLOW',
      'IOMMU_IOAS_UNMAP -> EOVERFLOW',
    ]);
  });

  it('ALLOW_IOVAS with an array of ranges in fuzzer memory steers automatic IOVAs', () => {
    const { log, imp } = runSyz(`${OPEN}
ioctl$IOMMU_IOAS_ALLOC(r0, 0x3b81, &(0x7f0000000040)={0xc, 0x0, <r1=>0x0})
ioctl$IOMMU_IOAS_ALLOW_IOVAS(r0, 0x3b82, &(0x7f0000000200)={0x18, r1, 0x2, 0x0, &(0x7f0000000300)=[{0x100000, 0x1fffff}, {0x400000, 0x4fffff}]})
ioctl$IOMMU_IOAS_MAP(r0, 0x3b85, &(0x7f0000000080)={0x28, 0x6, r1, 0x0, &(0x7f0000001000/0x1000)=nil, 0x1000, <r2=>0x0})
ioctl$IOMMU_IOAS_MAP(r0, 0x3b85, &(0x7f0000000080)={0x28, 0x7, r1, 0x0, &(0x7f0000001000/0x1000)=nil, 0x1000, 0x300000})
ioctl$IOMMU_IOAS_ALLOW_IOVAS(r0, 0x3b82, &(0x7f0000000200)={0x18, r1, 0x1, 0x0, &(0x7f0000000300)=[{0x0, 0x0}]})
ioctl$IOMMU_IOAS_IOVA_RANGES(r0, 0x3b84, &(0x7f0000000400)={0x20, r1, 0x1, 0x0, &(0x7f0000000500), 0x0})
`);
    expect(imp.scenario).toContain('poke syz 0x7f0000000300 hex:0000100000000000ffff1f0000000000');
    expect(log).toEqual([
      'IOMMU_IOAS_ALLOC -> ok r1=1',
      'IOMMU_IOAS_ALLOW_IOVAS -> ok',
      'IOMMU_IOAS_MAP -> ok r2=0x100000', // automatic IOVA: inside the first allowed range
      'IOMMU_IOAS_MAP -> ok', // FIXED_IOVA is not checked against the allowed list (uapi.md §4.2)
      'IOMMU_IOAS_ALLOW_IOVAS -> EINVAL', // start >= last
      'IOMMU_IOAS_IOVA_RANGES -> ok', // the complement of the reserved ranges: one range
    ]);
  });

  it('(async) calls run concurrently on their own threads', () => {
    const { imp, log, result } = runSyz(`${OPEN}
ioctl$IOMMU_IOAS_ALLOC(r0, 0x3b81, &(0x7f0000000040)={0xc, 0x0, <r1=>0x0})
ioctl$IOMMU_IOAS_MAP(r0, 0x3b85, &(0x7f0000000080)={0x28, 0x7, r1, 0x0, &(0x7f0000001000/0x1000)=nil, 0x1000, 0x100000}) (async)
ioctl$IOMMU_IOAS_MAP(r0, 0x3b85, &(0x7f0000000080)={0x28, 0x7, r1, 0x0, &(0x7f0000001000/0x1000)=nil, 0x1000, 0x100000}) (async)
ioctl$IOMMU_DESTROY$ioas(r0, 0x3b80, &(0x7f0000000180)={0x8, r1})
close(r0)
`);
    expect(imp.scenario).toMatch(/parallel \{\n  t1: IOMMU_IOAS_MAP[^\n]*\n  t2: IOMMU_IOAS_MAP[^\n]*\n  t3: IOMMU_DESTROY[^\n]*\n\}/);
    expect(result.failures).toEqual([]);
    expect(log.filter((l) => l.startsWith('IOMMU_IOAS_MAP')).sort()).toEqual(['IOMMU_IOAS_MAP -> EEXIST', 'IOMMU_IOAS_MAP -> ok']);
  });

  it('selftest ops: CREATE_ACCESS defines an fd resource, the $syz ACCESS_PAGES iova is (nth_area, offset)', () => {
    const { imp } = runSyz(`${OPEN}
ioctl$IOMMU_IOAS_ALLOC(r0, 0x3b81, &(0x7f0000000040)={0xc, 0x0, <r1=>0x0})
ioctl$IOMMU_TEST_OP_CREATE_ACCESS(r0, 0x3ba0, &(0x7f00000000c0)={0x48, 0x5, r1, 0x0, <r2=>0xffffffffffffffff, 0x1})
ioctl$IOMMU_TEST_OP_ACCESS_PAGES$syz(r0, 0x3ba0, &(0x7f0000000100)={0x48, 0x7, r2, 0x0, 0x1, <r3=>0x0, 0x2, 0x10, 0x2000, 0x0})
`);
    expect(imp.unsupported).toEqual([]);
    expect(imp.scenario).toContain('create_access.out_access_fd=0xffffffffffffffff create_access.flags=0x1 -> r2=create_access.out_access_fd');
    expect(imp.scenario).toContain('access_pages.iova=0x1000000002 access_pages.length=0x2000 access_pages.uptr=0x0');
  });

  it('unsupported calls and properties are reported with their line numbers, never dropped silently', () => {
    const imp = importSyz(`${OPEN}
socket$inet(0x2, 0x1, 0x0)
ioctl$IOMMU_DESTROY$ioas(r0, 0x3b80, &(0x7f0000000180)={0x8, 0x1}) (fail_nth: 2)
ioctl$KVM_CREATE_VM(r0, 0xae01, 0x0)
this is not a call
`);
    expect(imp.unsupported.map((u) => u.line)).toEqual([2, 3, 4, 5]);
    expect(imp.unsupported[0]!.message).toContain('socket$inet');
    expect(imp.unsupported[1]!.message).toContain('fail_nth: 2');
    expect(imp.scenario).toContain('# line 2: unsupported: system call socket$inet');
    expect(imp.scenario).toContain('IOMMU_DESTROY on r0 size=0x8 id=0x1');
  });
});

describe('syz export', () => {
  it('a journal becomes a syz program with resources, and importing it gives the same results', () => {
    const first = runSyz(`${OPEN}
ioctl$IOMMU_IOAS_ALLOC(r0, 0x3b81, &(0x7f0000000040)={0xc, 0x0, <r1=>0x0})
ioctl$IOMMU_IOAS_ALLOC(r0, 0x3b81, &(0x7f0000000040)={0xc, 0x0, <r2=>0x0})
ioctl$IOMMU_IOAS_MAP(r0, 0x3b85, &(0x7f0000000080)={0x28, 0x7, r2, 0x0, &(0x7f0000001000/0x1000)=nil, 0x1000, 0x100000})
ioctl$IOMMU_IOAS_COPY(r0, 0x3b83, &(0x7f0000000080)={0x28, 0x7, r1, r2, 0x1000, 0x200000, 0x100000})
ioctl$IOMMU_DESTROY$ioas(r0, 0x3b80, &(0x7f0000000180)={0x8, r2})
`);
    const out = exportSyz(first.bytes);
    expect(out.program).toContain("r0 = openat$iommufd(0xffffffffffffff9c, &(0x7f0000000000)='/dev/iommu\\x00', 0x2, 0x0)");
    expect(out.program).toContain('ioctl$IOMMU_IOAS_ALLOC(r0, 0x3b81, &(0x7f0000000040)={0xc, 0x0, <r1=>0x0})');
    expect(out.program).toMatch(/ioctl\$IOMMU_IOAS_COPY\(r0, 0x3b83, &\(0x[0-9a-f]+\)=\{0x28, 0x7, r1, r2, 0x1000, 0x200000, 0x100000\}\)/);
    const again = runSyz(out.program);
    expect(again.log).toEqual(first.log);
  });
});

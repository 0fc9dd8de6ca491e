// The scenario parser: what it accepts, and errors that name file:line:col.
import { describe, expect, it } from 'vitest';
import { parseScenario, ScenarioError } from '../../scenario/parse.ts';
import { Simulation } from '../../actors/sim.ts';
import { runScenario } from '../../scenario/run.ts';

function parseError(text: string): ScenarioError {
  try {
    parseScenario(text, 'scenario.txt');
  } catch (e) {
    if (e instanceof ScenarioError) return e;
    throw e;
  }
  throw new Error('no error');
}

const HEAD = 'proc vmm uid=1000 memlock=64M\nmmap ram = vmm 16M rw\nopen fd = vmm /dev/iommu\nvmm: IOMMU_IOAS_ALLOC -> ioas\n';

describe('scenario parser', () => {
  it('names the unknown field with line and column and lists the fields', () => {
    const e = parseError(HEAD + '\n\n\n\n\n\n\nvmm: IOMMU_IOAS_MAP ioas_id=$ioas iovaa=0x1000\n');
    expect(e.message).toBe("scenario.txt:12:35: unknown field 'iovaa' for IOMMU_IOAS_MAP (fields: size, flags, ioas_id, __reserved, user_va, length, iova)");
    expect(e.pos).toEqual({ line: 12, col: 35 });
  });

  it.each([
    ['vmm: IOMMU_IOAS_MAPP ioas_id=1', 1, 6, "unknown ioctl 'IOMMU_IOAS_MAPP'"],
    ['vmm: IOMMU_IOAS_MAP flags=READABLE|WRITABLE', 1, 36, "unknown symbol 'WRITABLE' for IOMMU_IOAS_MAP.flags (flags: FIXED_IOVA, WRITEABLE, READABLE)"],
    ['vmm: IOMMU_IOAS_MAP length=12Q', 1, 28, "bad number '12Q'"],
    ['parallel {\n  t1: IOMMU_IOAS_ALLOC', 1, 1, "parallel block is not closed with '}'"],
    ['}', 1, 1, "'}' without a parallel block"],
    ['vmm: IOMMU_IOAS_ALLOC expect EWHAT', 1, 30, "unknown errno 'EWHAT'"],
    ['frobnicate x', 1, 1, "unknown statement 'frobnicate'"],
    ['vmm: 0x3bff size=8', 1, 13, 'request 0x3bff has no known struct'],
    ['vmm: IOMMU_DESTROY -> x', 1, 23, 'IOMMU_DESTROY has no default out-field'],
    ['parallel {\n  mmap x = vmm 4K\n}', 2, 3, 'inside parallel { } every line is LANE: action'],
    ['poke vmm $ram hex:123', 1, 15, "bad hex bytes '123'"],
  ])('%s → line %i col %i', (text, line, col, msg) => {
    const e = parseError(text);
    expect(e.pos).toEqual({ line, col });
    expect(e.reason).toContain(msg);
  });

  it('parses fields, symbols, suffixes, variables with offsets and saves', () => {
    const p = parseScenario(HEAD + 'vmm: IOMMU_IOAS_MAP ioas_id=$ioas flags=READABLE|WRITEABLE|FIXED_IOVA user_va=$ram+1M length=1M iova=0x100000 -> at=iova expect ok iova=0x100000\n');
    const st = p.stmts[4]!;
    expect(st.op).toBe('ioctl');
    if (st.op !== 'ioctl') return;
    expect(st.fields.map((f) => f.leaf.path)).toEqual(['ioas_id', 'flags', 'user_va', 'length', 'iova']);
    expect(st.saves).toMatchObject([{ name: 'at', leaf: { path: 'iova', offset: 32 } }]);
    expect(st.expect?.errnos).toEqual([0]);
    const len = st.fields[3]!.value as { terms: { k: string; v: bigint }[] };
    expect(len.terms[0]!.v).toBe(1n << 20n);
  });

  it('runtime errors name the line: an unset variable, an unknown thread', () => {
    const sim = new Simulation();
    expect(() => runScenario(sim, HEAD + 'vmm: IOMMU_DESTROY id=$nope\n', 's.scn')).toThrow(/^s\.scn:5:23: \$nope is not set/);
    expect(() => runScenario(new Simulation(), HEAD + 'ghost: IOMMU_IOAS_ALLOC\n', 's.scn')).toThrow(/^s\.scn:5:1: unknown process or thread 'ghost'/);
  });

  it('expectations that miss are reported, not thrown, and do not stop the run', () => {
    const r = runScenario(new Simulation(), HEAD + 'vmm: IOMMU_DESTROY id=$ioas expect EBUSY\nvmm: IOMMU_DESTROY id=$ioas expect ENOENT\n', 's.scn');
    expect(r.failures).toEqual([{ pos: { line: 5, col: 1 }, message: 'IOMMU_DESTROY: expected EBUSY, got ok' }]);
    expect(r.log.at(-1)).toBe('6: IOMMU_DESTROY -> ENOENT');
  });
});

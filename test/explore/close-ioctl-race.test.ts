/**
 * close() of an iommufd racing an ioctl on it from another thread: the
 * ioctl holds the file (fdget) until it returns, so the close only drops the
 * fd and the context's release runs when the ioctl puts the file.  Without
 * that reference the ioctl was delivered to a context already torn down.
 */
import { describe, expect, it } from 'vitest';
import { explore, runScenario, chooserOf } from '../../explore/index.ts';
import { scenarioFromText } from '../../explore/text.ts';

const RACE = `proc vmm uid=1000
thread t1 of vmm
thread t2 of vmm
open iommufd = vmm /dev/iommu
vmm: IOMMU_IOAS_ALLOC -> ioas expect ok
parallel {
  t1: close iommufd
  t2: IOMMU_IOAS_IOVA_RANGES ioas_id=$ioas num_iovas=0 allowed_iovas=0 expect ok|EMSGSIZE|EBADF
}
`;

describe('close vs ioctl on the same iommufd', () => {
  it('every interleaving finishes the ioctl and then releases the context (POR, whole tree)', () => {
    const r = explore({ scenario: scenarioFromText(RACE, 'close-race.scn'), strategy: 'por', schedules: 2000, all: true });
    expect(r.failures).toEqual([]);
    expect(r.schedules).toBeLessThan(2000);
    // EBADF when the close came first, the ioctl's own answer when it came second
    expect(r.distinctEndStates).toBeGreaterThanOrEqual(2);
  });

  it('the release waits for the in-flight ioctl', () => {
    const sc = scenarioFromText(RACE, 'close-race.scn');
    let seen = false;
    for (let seed = 1; seed <= 40 && !seen; seed++) {
      const r = runScenario(sc, { chooser: chooserOf({ name: 'random', seed }), record: true });
      expect(r.violation).toBeNull();
      const envs = r.envs!;
      const ioctl = envs.findIndex((e) => e.type === 'ioctl' && e.src === 'thread:1.3');
      const ret = envs.findIndex((e) => e.type === 'ioctl.ret' && e.dst === 'thread:1.3');
      const close = envs.findIndex((e) => e.type === 'syscall' && (e.body as { call: string }).call === 'close' && e.src === 'thread:1.2');
      if (ioctl < 0 || close < ioctl || close > ret) continue;
      // closed while the ioctl was in the context: it still answers, with the IOAS's result
      seen = true;
      expect((envs[ret]!.body as { errno: number }).errno).toBe(90); // EMSGSIZE: one range, room for none
      const release = envs.findIndex((e) => e.dst === 'iommufd:1' && e.type === 'close');
      expect(release).toBeGreaterThan(ret);
      // posted by the returning thread's put of the file, not by close()
      expect(envs[release]!.src).toBe('thread:1.3');
      expect(envs[release]!.cause).toBe(envs[ret]!.seq);
    }
    expect(seen).toBe(true);
  });
});

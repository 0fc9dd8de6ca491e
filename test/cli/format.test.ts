/** The one-line renderings `journal dump` and time travel print: a DMA burst reads access by access. */
import { describe, expect, it } from 'vitest';
import { formatEnvelope, plain } from '../../cli/format.ts';
import { burstOf } from '../../hardware/burst.ts';
import type { Envelope } from '../../actors/runtime/envelope.ts';

describe('envelope text', () => {
  it('a dma message shows its burst access by access, data by length', () => {
    const burst = burstOf([
      { iova: 0x1000, length: 64, write: true, data: new Uint8Array(64) },
      { iova: 0x2000, length: 8, write: false, pasid: 1, priv: true },
    ]);
    const e: Envelope = { seq: 7, t: 0, src: 'device:dev0', dst: 'translation', kind: 'dma', type: 'dma', body: { device: 'dev0', burst }, cause: 0 };
    expect(formatEnvelope(e)).toBe('     7  device:dev0 → translation  dma/dma  device=dev0 burst=[write 0x1000 64 <64 bytes>, read 0x2000 8 pasid=1 priv]');
  });

  it('a long burst shows its first six accesses and how many more', () => {
    const burst = burstOf(Array.from({ length: 8 }, (_, i) => ({ iova: i * 0x1000, length: 4, write: false })));
    expect(plain({ burst })).toBe('burst=[read 0x0 4, read 0x1000 4, read 0x2000 4, read 0x3000 4, read 0x4000 4, read 0x5000 4, …2 more]');
  });
});

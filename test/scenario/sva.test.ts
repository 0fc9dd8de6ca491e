import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../scenario/parse.ts';
import { runProgram } from '../../scenario/run.ts';
import { exportScenario } from '../../scenario/export.ts';
import { JournalReader, JournalWriter, memorySink } from '../../journal/index.ts';
import { Simulation } from '../../actors/sim.ts';
import { ReplaySession } from '../../replay/session.ts';

const SCN = `
proc app uid=1000
mmap buf = app 64K rw
poke app $buf "hello sva"
sva bind app dev1
sva bind app dev1
sva submit app dev1 read $buf 9
sva unbind app dev1
sva unbind app dev1
sva unbind app dev1 expect ENOENT
`;

function runText(text: string): Uint8Array {
  const sink = memorySink();
  const sim = new Simulation({ journal: new JournalWriter(sink) });
  runProgram(sim, parseScenario(text, 'sva.scn'));
  sim.close();
  return sink.bytes();
}

describe('sva statements in the scenario format', () => {
  it('bind twice, submit, unbind twice, a third unbind fails ENOENT; journals replay and export back to the same records', () => {
    const bytes = runText(SCN);
    expect(ReplaySession.fromBytes(bytes).runToEnd()).toBeNull();
    const again = exportScenario(bytes).text;
    expect(again).toContain('sva submit');
    const bytes2 = runText(again);
    const recs = (b: Uint8Array) => [...JournalReader.fromBytes(b).records()].filter((r) => r.type === 'env' || r.type === 'input').map((r) => r.value);
    expect(recs(bytes2)).toEqual(recs(bytes));
  });

  it('a wrong action names the line and column', () => {
    expect(() => parseScenario('proc app\nsva bond app dev1\n', 'x.scn')).toThrow(/x\.scn:2:5: expected bind, unbind or submit/);
  });
});

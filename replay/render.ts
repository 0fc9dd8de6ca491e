/** Text renderings of the inspect view and of diffs, for the terminal. */
import type { InspectView } from './inspect.ts';
import type { StateDiff } from './diff.ts';
import { plain } from '../cli/format.ts';

export function renderView(v: InspectView, sections?: readonly string[]): string {
  const want = (s: string) => !sections || sections.length === 0 || sections.includes(s);
  const L: string[] = [`state after delivery ${v.seq} (t=${v.t})`];
  if (want('objects')) {
    for (const c of v.contexts) {
      L.push(`${c.actor} [${c.lifecycle}] file refs ${c.fileRefs}, rlimit mode ${c.rlimitMode}${c.vfioIoas ? `, compat ioas ${c.vfioIoas}` : ''}${c.callsInFlight ? `, ${c.callsInFlight} ioctl(s) in flight` : ''}`);
      if (!c.objects.length) L.push('  (no objects)');
      for (const o of c.objects) {
        L.push(`  #${o.id} ${o.type.padEnd(11)} ${o.lifecycle.padEnd(16)} users=${o.users}${o.shortterm ? ` shortterm=${o.shortterm}` : ''}${o.slot !== 'live' ? ` [${o.slot}]` : ''}${o.refs.length ? ` → ${o.refs.map((r) => '#' + r).join(' ')}` : ''}`);
        const areas = (o.detail.areas as any[] | undefined) ?? [];
        for (const a of areas) L.push(`      area 0x${a.iova.toString(16)}..0x${a.last.toString(16)} prot=${a.prot} pages=${a.pages}${a.creating ? ' (being created)' : ''}`);
        const rest = Object.entries(o.detail).filter(([k, x]) => k !== 'areas' && !(Array.isArray(x) && x.length === 0));
        if (rest.length) L.push(`      ${rest.map(([k, x]) => `${k}=${plain(x)}`).join('  ')}`);
      }
    }
  }
  if (want('memory')) {
    L.push(`memory: ${v.memory.framesInUse} frames in use, ${v.memory.pinnedFrames} pinned; locked_vm by uid: ${plain(v.memory.lockedVmByUser) || 'none'}`);
    for (const p of v.processes) L.push(`  pid ${p.pid} uid ${p.uid}${p.exited ? ' (exited)' : ''}: ${p.vmas} vmas, VmLck ${p.lockedVm}, VmPin ${p.pinnedVm}, fds ${plain(p.fds) || 'none'}`);
    for (const p of v.pages) L.push(`  iopt_pages ${p.id} (${p.kind}, pid ${p.pid}): ${p.npinned}/${p.npages} pinned, ${p.writable ? 'rw' : 'ro'}, kref ${p.kref}`);
  }
  if (want('hardware') && Object.keys(v.hardware).length) {
    for (const [id, h] of Object.entries(v.hardware)) L.push(`${id}: ${plain(h)}`);
  }
  if (want('queue')) {
    L.push(`queued messages: ${v.queued.length}`);
    for (const q of v.queued.slice(0, 20)) L.push(`  #${q.id} ${q.src} → ${q.dst} ${q.kind}/${q.type} (cause ${q.cause})`);
  }
  if (want('threads')) for (const t of v.threads) L.push(`  ${t.id}: ${t.status}, ${t.calls} calls${t.lastErrno !== null ? `, last errno ${t.lastErrno}` : ''}${t.failures ? `, ${t.failures} expectation failures` : ''}`);
  return L.join('\n');
}

export function renderDiff(d: StateDiff): string {
  const L: string[] = [`changes from delivery ${d.from} to ${d.to}`];
  for (const a of d.added) L.push(`  + ${a.key} ${a.type}`);
  for (const r of d.removed) L.push(`  - ${r.key} ${r.type}`);
  for (const c of d.changed) {
    L.push(`  ~ ${c.key} ${c.type}`);
    for (const f of c.fields) L.push(`      ${f.path}: ${plain(f.from) || '∅'} → ${plain(f.to) || '∅'}`);
  }
  if (d.other.length) {
    L.push('  elsewhere:');
    for (const f of d.other.slice(0, 40)) L.push(`      ${f.path}: ${plain(f.from) || '∅'} → ${plain(f.to) || '∅'}`);
    if (d.other.length > 40) L.push(`      … ${d.other.length - 40} more`);
  }
  if (L.length === 1) L.push('  (no changes)');
  return L.join('\n');
}

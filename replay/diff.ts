/**
 * What changed between two states, object by object: objects that appeared
 * or went away, and for the rest the fields whose values differ.
 */
import { allObjects, type InspectView } from './inspect.ts';

export interface FieldChange {
  path: string;
  from: unknown;
  to: unknown;
}

export interface StateDiff {
  from: number;
  to: number;
  added: { key: string; type: string }[];
  removed: { key: string; type: string }[];
  changed: { key: string; type: string; fields: FieldChange[] }[];
  /** Changes outside the object table (processes, pages, memory, queue). */
  other: FieldChange[];
}

/** Leaf-level differences between two plain values. */
export function deepChanges(a: unknown, b: unknown, path = '', out: FieldChange[] = []): FieldChange[] {
  if (Object.is(a, b)) return out;
  const isObj = (x: unknown) => x !== null && typeof x === 'object' && !ArrayBuffer.isView(x);
  if (isObj(a) && isObj(b) && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    for (const k of keys) deepChanges((a as any)[k], (b as any)[k], path ? `${path}.${k}` : k, out);
    return out;
  }
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b) && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0) return out;
  out.push({ path, from: a, to: b });
  return out;
}

export function diffViews(a: InspectView, b: InspectView): StateDiff {
  const key = (o: { ctx: string; id: number }) => `${o.ctx}#${o.id}`;
  const before = new Map(allObjects(a).map((o) => [key(o), o]));
  const after = new Map(allObjects(b).map((o) => [key(o), o]));
  const d: StateDiff = { from: a.seq, to: b.seq, added: [], removed: [], changed: [], other: [] };
  for (const [k, o] of after) if (!before.has(k)) d.added.push({ key: k, type: o.type });
  for (const [k, o] of before) {
    const n = after.get(k);
    if (!n) {
      d.removed.push({ key: k, type: o.type });
      continue;
    }
    // A reused id holding a different object shows as removed + added.
    if (n.actor !== o.actor) {
      d.removed.push({ key: k, type: o.type });
      d.added.push({ key: k, type: n.type });
      continue;
    }
    const fields = deepChanges(o, n);
    if (fields.length) d.changed.push({ key: k, type: o.type, fields });
  }
  const rest = (v: InspectView) => ({ processes: v.processes, threads: v.threads, pages: v.pages, memory: v.memory, queued: v.queued.length, hardware: v.hardware, contexts: v.contexts.map((c) => ({ ...c, objects: c.objects.length })) });
  d.other = deepChanges(rest(a), rest(b));
  return d;
}

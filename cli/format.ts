/**
 * Human-readable rendering of envelopes: ioctl names and decoded struct
 * fields instead of bytes, errno names instead of numbers.  Used by the demo
 * trace, `journal dump` and the time-travel commands.
 */
import type { Envelope } from '../actors/runtime/envelope.ts';
import { ioctlName } from '../uapi/ioctl.ts';
import { errnoName } from '../uapi/errno.ts';
import { dispatchIoctl } from '../uapi/dispatch.ts';
import { decode } from '../uapi/layout.ts';
import { burstAccess, burstSize, isDmaBurst, type DmaBurst } from '../hardware/burst.ts';

function hex(v: bigint | number): string {
  return typeof v === 'bigint' ? `0x${v.toString(16)}` : String(v);
}

/** `a=1 b=0x1000` for a decoded struct, skipping `size` and zero reserved fields. */
export function fieldsText(o: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (k === 'size' || (k.startsWith('__reserved') && (v === 0 || v === 0n))) continue;
    if (typeof v === 'bigint' || typeof v === 'number') parts.push(`${k}=${hex(v)}`);
  }
  return parts.join(' ');
}

function ioctlText(cmd: number, arg: Uint8Array): string {
  const name = ioctlName(cmd) ?? `0x${cmd.toString(16)}`;
  const d = dispatchIoctl(cmd, arg, { testBuild: true });
  if (d.route === 'iommufd' && d.ok) return `${name} ${fieldsText(decode(d.entry.layout, d.kbuf) as Record<string, unknown>)}`;
  return name;
}

function bodyText(e: Envelope): string {
  const b = e.body as any;
  if (b == null || typeof b !== 'object') return b == null ? '' : String(b);
  if (e.type === 'ioctl' && b.arg instanceof Uint8Array) return ioctlText(b.cmd, b.arg);
  if (e.type === 'syscall') return `${b.call} ${plain(b.args)}`;
  if ('errno' in b && (e.type.endsWith('.ret') || e.kind === 'reply')) {
    const ret = b.ret !== undefined ? ` ret=${hex(b.ret)}` : '';
    return `${b.errno ? errnoName(b.errno) : 'ok'}${ret}`;
  }
  if (e.type === 'op') return `${b.op} ${plain(b.args)}`;
  if (e.type === 'op.ret') return `${b.errno ? errnoName(b.errno) : 'ok'}${b.out ? ' ' + plain(b.out) : ''}`;
  return plain(b);
}

/** A compact one-line rendering of plain data (bigints in hex, byte arrays by length). */
export function plain(v: unknown, depth = 0): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'bigint') return hex(v);
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v instanceof Uint8Array) return `<${v.length} bytes>`;
  if (ArrayBuffer.isView(v)) return `<${(v as ArrayBufferView).byteLength} bytes>`;
  if (isDmaBurst(v)) return burstText(v);
  if (depth > 2) return '…';
  if (Array.isArray(v)) return `[${v.slice(0, 6).map((x) => plain(x, depth + 1)).join(', ')}${v.length > 6 ? `, …${v.length - 6} more` : ''}]`;
  const entries = Object.entries(v as object).filter(([, x]) => x !== undefined);
  return entries.map(([k, x]) => `${k}=${plain(x, depth + 1)}`).join(' ');
}

/** A DMA burst access by access, as a scenario's dma line has them (data by length): `[write 0x1000 64 <64 bytes>, read 0x2000 8 pasid=1]`. */
function burstText(b: DmaBurst): string {
  const n = burstSize(b);
  const items: string[] = [];
  for (let i = 0; i < Math.min(n, 6); i++) {
    const a = burstAccess(b, i);
    items.push(`${a.write ? 'write' : 'read'} 0x${a.iova.toString(16)} ${a.length}${a.pasid ? ` pasid=${a.pasid}` : ''}${a.priv ? ' priv' : ''}${a.data ? ` <${a.data.length} bytes>` : ''}`);
  }
  return `[${items.join(', ')}${n > 6 ? `, …${n - 6} more` : ''}]`;
}

export function formatEnvelope(e: Envelope): string {
  const seq = String(e.seq).padStart(6);
  return `${seq}  ${e.src} → ${e.dst}  ${e.kind}/${e.type}  ${bodyText(e)}`.trimEnd();
}

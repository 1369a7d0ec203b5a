import { unsafeEntryName } from '../unsafeEntryName.js';
import { SliceSource, type RandomSource } from '../io/RandomSource.js';
import type { ScanContext } from '../ScanContext.js';
import type { ScanDispatch } from './dispatch.js';
import { scanLegacyTorchTarMember } from './scanLegacyTorchTar.js';

const BLOCK = 512;

function octal(buf: Buffer, start: number, len: number): number {
  const field = buf.subarray(start, start + len);
  if (field[0]! & 0x80) {
    // GNU base-256 for sizes past 8 GiB.
    let v = 0;
    for (let i = 1; i < field.length; i++) v = v * 256 + field[i]!;
    return v;
  }
  const s = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return s === '' ? 0 : /^[0-7]+$/.test(s) ? Number.parseInt(s, 8) : Number.NaN;
}

function cstring(buf: Buffer, start: number, len: number): string {
  const field = buf.subarray(start, start + len);
  const nul = field.indexOf(0);
  return field.toString('utf8', 0, nul === -1 ? field.length : nul);
}

/**
 * Tar archives (legacy PyTorch checkpoints are tars of `sys_info`, `pickle`, `storages`,
 * `tensors`). Hand-written because a tar header is 512 fixed bytes and, unlike streaming tar
 * libraries, walking headers by offset skips member data without reading it.
 */
export async function scanTar(src: RandomSource, ctx: ScanContext, dispatch: ScanDispatch): Promise<string> {
  let pos = 0;
  let entries = 0;
  let longName: string | null = null;
  let paxPath: string | null = null;
  const members = new Set<string>();
  const pending: { name: string; start: number; size: number }[] = [];
  while (pos + BLOCK <= src.size) {
    const h = await src.read(pos, BLOCK);
    if (h.every((b) => b === 0)) break;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    if (octal(h, 148, 8) !== sum) {
      ctx.add('archive/malformed', 'high', 'tar header checksum mismatch; the rest of the archive was not scanned', pos);
      break;
    }
    const size = octal(h, 124, 12);
    if (!Number.isSafeInteger(size) || pos + BLOCK + size > src.size) {
      ctx.add('archive/malformed', 'high', 'tar member size is invalid or runs past the end; the rest of the archive was not scanned', pos);
      break;
    }
    const type = String.fromCharCode(h[156]!);
    const prefix = h.subarray(257, 262).toString('latin1') === 'ustar' ? cstring(h, 345, 155) : '';
    let name = longName ?? paxPath ?? (prefix ? `${prefix}/${cstring(h, 0, 100)}` : cstring(h, 0, 100));
    const dataStart = pos + BLOCK;
    pos = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L' || type === 'x') {
      const body = (await src.read(dataStart, Math.min(size, 1 << 16))).toString('utf8');
      if (type === 'L') longName = body.replace(/\0.*$/s, '');
      else paxPath = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body)?.[1] ?? null;
      continue;
    }
    longName = null;
    paxPath = null;
    if (++entries > ctx.limits.maxEntries) {
      ctx.add('archive/too-many-entries', 'high', `more than ${ctx.limits.maxEntries} entries; the rest was not scanned`);
      break;
    }
    name = name.replace(/^\.\//, '');
    const child = ctx.child(name);
    const unsafe = unsafeEntryName(name);
    if (unsafe) child.add('archive/path-traversal', 'high', `member name ${JSON.stringify(name.slice(0, 200))} ${unsafe}`);
    if ((type === '1' || type === '2') && unsafeEntryName(cstring(h, 157, 100)) !== null) {
      child.add('archive/path-traversal', 'high', `link target ${JSON.stringify(cstring(h, 157, 100))} points outside the extraction directory`);
    }
    if (members.has(name)) child.add('archive/duplicate-entry', 'high', 'member name appears twice: loaders and scanners may read different copies');
    members.add(name);
    if (type !== '0' && type !== '\0' && type !== '7') continue;
    pending.push({ name, start: dataStart, size });
  }
  const legacyTorch = members.has('pickle') && members.has('storages') && members.has('tensors');
  for (const m of pending) {
    const child = ctx.child(m.name);
    if (child.depth > ctx.limits.maxDepth) {
      child.add('archive/too-deep', 'high', `archives nested deeper than ${ctx.limits.maxDepth} levels are not scanned`);
      continue;
    }
    const slice = new SliceSource(src, m.start, m.size);
    if (legacyTorch && (m.name === 'storages' || m.name === 'tensors')) await scanLegacyTorchTarMember(slice, m.name, child);
    else await dispatch.scanSource(slice, m.name, child);
  }
  return legacyTorch ? 'pytorch-legacy-tar' : 'tar';
}

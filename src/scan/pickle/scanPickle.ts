import { readerFromSource, type ByteReader } from '../io/ByteReader.js';
import { BufferSource } from '../io/RandomSource.js';
import { ScanContext } from '../ScanContext.js';
import type { Severity } from '../types.js';
import { classifyGlobal } from './classifyGlobal.js';
import { numpyArrayLayout } from './numpyDtype.js';
import { ufuncModules, ufuncNames } from './numpyUfuncs.js';
import { Op, isOpcode } from './opcodes.js';
import { decodeLong, decodePyStringRepr, decodeRawUnicodeEscape, parsePyInt } from './pyLiterals.js';
import {
  CallResult, GlobalRef, LONG_VALUE, MAX_TRACKED_ITEMS, Opaque, PickleBytes, PickleDict, UNKNOWN, addItem, dictGet, isDunderName, type PickleValue,
} from './values.js';

/** Bytes of a joblib array (without alignment) run as opcodes to see what plain pickle.load would do. */
const ARRAY_OPCODE_WINDOW = 64 * 1024;
/** Strings longer than this are not materialised; module/attribute names are far shorter. */
const MAX_STRING = 4096;
/** Protocol-0 text arguments longer than this are skipped to their newline, not materialised. */
const MAX_LINE = 1 << 20;
/** What `line()` returns for an over-long argument (cannot be a real line: lines never hold NUL here). */
const OVERLONG = '\u0000overlong';
/** First pickle of a legacy (non-zip) torch.save file is this LONG. */
const TORCH_LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const TORCH_LEGACY_PICKLES = 5;

export interface PickleStreamOptions {
  /** Scan exactly one pickle (zip `data.pkl`, npy object data); bytes after STOP are still reported. */
  single?: boolean;
  /** Bytes after the last pickle are expected (legacy torch storages) and not reported. */
  trailingExpected?: boolean;
}

export interface PickleStreamResult {
  pickles: number;
  /** Legacy torch.save layout (magic-number pickle first). */
  legacyTorch: boolean;
  /** Value returned by the last complete pickle. */
  lastValue: PickleValue | undefined;
  /** False when the stream was malformed or truncated. */
  complete: boolean;
}

class Malformed extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly truncated = false,
  ) {
    super(message);
  }
}

interface Tally {
  rule: string;
  severity: Severity;
  message: string;
  offset: number;
  count: number;
}

/**
 * Simulates the pickle VM over the opcode stream (no execution) and reports every callable the
 * stream would import or call. Findings are deduplicated per callable with a count so a model
 * with 10,000 tensors yields one line per distinct global.
 */
export async function scanPickleStream(r: ByteReader, ctx: ScanContext, options: PickleStreamOptions = {}): Promise<PickleStreamResult> {
  const tallies = new Map<string, Tally>();
  const note = (rule: string, severity: Severity, message: string, offset: number, key = rule + '|' + message): void => {
    const t = tallies.get(key);
    if (t) t.count++;
    else tallies.set(key, { rule, severity, message, offset, count: 1 });
  };
  const result: PickleStreamResult = { pickles: 0, legacyTorch: false, lastValue: undefined, complete: true };
  try {
    for (;;) {
      const start = r.offset;
      const vm = new PickleVm(r, ctx, note);
      try {
        result.lastValue = await vm.run();
      } catch (err) {
        if (!(err instanceof Malformed)) throw err;
        result.complete = false;
        // High, not medium: where the scanner's parse stops, a more lenient or differently
        // written loader may read on (parser differential), so an unparsed pickle fails closed.
        ctx.add(
          err.truncated ? 'pickle/truncated' : 'pickle/malformed',
          'high',
          `${err.truncated ? 'truncated' : 'malformed'} pickle: ${err.message} (a loader runs every opcode before this point; what follows was not scanned)`,
          err.offset,
        );
        return result;
      }
      result.pickles++;
      if (result.pickles === 1 && result.lastValue === TORCH_LEGACY_MAGIC && !options.single) result.legacyTorch = true;
      if (result.legacyTorch && result.pickles === TORCH_LEGACY_PICKLES) return result;
      if (await r.atEnd()) return result;
      if (result.legacyTorch) continue;
      if (options.trailingExpected) return result;
      const next = r.buf[r.pos]!;
      const looksLikePickle = next === Op.PROTO || (isOpcode[next] && next !== Op.STOP);
      if (options.single || !looksLikePickle) {
        ctx.add('pickle/trailing-data', 'medium', `data after the STOP opcode of the pickle at byte ${start}; loaders ignore it but polyglot files hide payloads there`, r.offset);
        return result;
      }
      if (result.pickles >= ctx.limits.maxPicklesPerStream) {
        // Benign files never concatenate this many pickles; a payload could sit behind them.
        ctx.add('scan/limit', 'high', `more than ${ctx.limits.maxPicklesPerStream} pickles in one stream; the rest was not scanned`, r.offset);
        return result;
      }
      note('pickle/multiple-pickles', 'medium', 'another pickle follows the STOP opcode; a loader that calls load() again runs it too (it is scanned)', r.offset);
    }
  } finally {
    for (const t of tallies.values()) {
      ctx.add(t.rule, t.severity, t.count > 1 ? `${t.message} (${t.count} times)` : t.message, t.offset);
    }
  }
}

/**
 * Third-party functions that real pickles call to rebuild objects (pandas frames and
 * timestamps, sklearn trees): still medium at import, but not escalated as gadget-shaped calls.
 */
const knownReconstructors = new Set([
  'pandas._libs.internals._unpickle_block', 'pandas._libs.tslibs.timestamps._unpickle_timestamp',
  'pandas.core.indexes.base._new_Index', 'pandas.core.indexes.datetimes._new_DatetimeIndex', 'pandas.core.indexes.period._new_PeriodIndex',
  'sklearn.neighbors._kd_tree.newObj', 'sklearn.neighbors._ball_tree.newObj', 'sklearn.neighbors._binary_tree.newObj', 'sklearn.metrics._dist_metrics.newObj',
]);

/** true: a dunder string among the tracked values; null: a container was cut at the tracking cap, so unknown. */
function findDunder(v: PickleValue, depth: number): boolean | null {
  if (isDunderName(v)) return true;
  if (depth === 0 || !Array.isArray(v)) return false;
  let unknown = v.length >= MAX_TRACKED_ITEMS;
  for (const item of v) {
    const r = findDunder(item, depth - 1);
    if (r === true) return true;
    if (r === null) unknown = true;
  }
  return unknown ? null : false;
}

type Note = (rule: string, severity: Severity, message: string, offset: number, key?: string) => void;

class PickleVm {
  private stack: PickleValue[] = [];
  private readonly metastack: PickleValue[][] = [];
  private readonly memo = new Map<number, PickleValue>();
  private memoWarned = false;
  /** False in a copy that explores another reading of the same bytes: containers it shares with the original stay untouched. */
  private mutates = true;
  /** Opcodes executed so far, and imports among them (used by the sniffer). */
  ops = 0;
  imports = 0;

  constructor(
    private readonly r: ByteReader,
    private readonly ctx: ScanContext,
    private readonly note: Note,
  ) {}

  private pop(at: number): PickleValue {
    if (this.stack.length === 0) throw new Malformed('stack underflow', at);
    return this.stack.pop()!;
  }

  private top(at: number): PickleValue {
    if (this.stack.length === 0) throw new Malformed('stack underflow', at);
    return this.stack[this.stack.length - 1]!;
  }

  private popMark(at: number): PickleValue[] {
    const items = this.stack;
    const prev = this.metastack.pop();
    if (prev === undefined) throw new Malformed('MARK expected but not found', at);
    this.stack = prev;
    return items;
  }

  private memoPut(index: number, value: PickleValue): void {
    if (this.memo.size >= this.ctx.limits.maxPickleMemo && !this.memo.has(index)) {
      if (!this.memoWarned) {
        this.memoWarned = true;
        this.ctx.add('scan/limit', 'medium', `pickle memo exceeds ${this.ctx.limits.maxPickleMemo} entries; later memo values are not tracked`, this.r.offset);
      }
      return;
    }
    this.memo.set(index, value);
  }

  private memoGet(index: number, at: number): PickleValue {
    const v = this.memo.get(index);
    if (v === undefined) {
      if (this.memoWarned) return UNKNOWN;
      throw new Malformed(`memo key ${index} not found`, at);
    }
    return v;
  }

  private async need(n: number, at: number): Promise<void> {
    if (!(await this.r.ensure(n))) throw new Malformed('unexpected end of data', at, true);
  }

  /** The next text line when it is already buffered (the common case), else null. */
  private lineFast(): string | null {
    const r = this.r;
    const nl = r.buf.indexOf(0x0a, r.pos);
    if (nl === -1 || nl - r.pos > MAX_LINE) return null;
    const s = r.buf.toString('latin1', r.pos, nl);
    r.pos = nl + 1;
    return s;
  }

  private async line(at: number): Promise<string> {
    const r = this.r;
    let scanned = 0;
    for (;;) {
      const nl = r.buf.indexOf(0x0a, r.pos + scanned);
      if (nl !== -1) {
        const s = r.buf.toString('latin1', r.pos, nl);
        r.pos = nl + 1;
        return s;
      }
      scanned = r.buf.length - r.pos;
      if (scanned > MAX_LINE) return this.skipLine(at);
      if (!(await r.ensure(scanned + 1))) throw new Malformed('unexpected end of data in a text argument', at, true);
    }
  }

  /** Consumes an over-long line without keeping it (Python has no line limit, so neither may the scan stop). */
  private async skipLine(at: number): Promise<string> {
    const r = this.r;
    for (;;) {
      const nl = r.buf.indexOf(0x0a, r.pos);
      if (nl !== -1) {
        r.pos = nl + 1;
        return OVERLONG;
      }
      r.pos = r.buf.length;
      if (!(await r.ensure(1))) throw new Malformed('unexpected end of data in a text argument', at, true);
    }
  }

  /** Reads a length-prefixed payload: short ones become values, long ones are skipped by offset. */
  private payload(len: number, at: number, kind: 'str' | 'bytes'): PickleValue | Promise<PickleValue> {
    const r = this.r;
    if (len <= MAX_STRING && r.pos + len <= r.buf.length) return this.payloadInBuffer(len, kind);
    return this.payloadSlow(len, at, kind);
  }

  private async payloadSlow(len: number, at: number, kind: 'str' | 'bytes'): Promise<PickleValue> {
    if (len > MAX_STRING) {
      if (!(await this.r.skip(len))) throw new Malformed(`payload of ${len} bytes runs past the end`, at, true);
      return LONG_VALUE;
    }
    await this.need(len, at);
    return this.payloadInBuffer(len, kind);
  }

  private payloadInBuffer(len: number, kind: 'str' | 'bytes'): PickleValue {
    const r = this.r;
    const v = kind === 'str' ? r.buf.toString('utf8', r.pos, r.pos + len) : new PickleBytes(r.buf.toString('latin1', r.pos, r.pos + len));
    r.pos += len;
    return v;
  }

  private importGlobal(module: string, name: string, at: number, via: string): GlobalRef {
    this.imports++;
    const v = classifyGlobal(module, name);
    if (v.severity !== null) this.note(v.rule, v.severity, `${via} imports ${module}.${name}: ${v.reason}`, at, `${v.rule}|${module}.${name}`);
    return new GlobalRef(module, name);
  }

  private unresolved(at: number): PickleValue {
    this.note('pickle/unresolved-global', 'high', 'import of a module or name that is not a short literal string: it cannot be known statically', at);
    return UNKNOWN;
  }

  private checkCallee(callee: PickleValue, at: number, opcode: string): void {
    if (callee instanceof GlobalRef) return;
    const what = callee instanceof CallResult ? 'the result of another call' : callee instanceof Opaque ? callee.what : typeof callee;
    this.note('pickle/dynamic-call', 'high', `${opcode} calls a callable that is not a plain import (${what}); statically unknown code runs on load`, at, `dyn|${opcode}`);
  }

  /**
   * What a call of an import does beyond the import itself. numpy's `_ufunc_reconstruct` is an
   * import gadget unless it names a real ufunc. For other callables not on the allowlist
   * (medium at import), a call is escalated to high when it is the shape of a gadget: a
   * *function* (lower-case name) that is called at all, unless it is a reconstructor taking a
   * class first (Cython `__pyx_unpickle_X(cls, checksum, state)`, sklearn `newObj(cls)`) and no
   * text; any unknown function called with str/bytes (a command, code or a path goes in).
   * Classes stay medium: checkpoints are full of them.
   */
  private checkCall(callee: PickleValue, args: PickleValue, at: number, opcode: string, kwargs: PickleValue = null): void {
    if (!(callee instanceof GlobalRef)) return;
    if (callee.name === '_ufunc_reconstruct' && /^numpy\.(_)?core$/.test(callee.module)) {
      this.checkUfuncReconstruct(Array.isArray(args) ? args : [], at);
      return;
    }
    if (classifyGlobal(callee.module, callee.name).severity !== 'medium') return;
    const positional = Array.isArray(args) ? args : [];
    const keywordValues = kwargs instanceof PickleDict ? kwargs.items.map(([, v]) => v) : [];
    const isText = (a: PickleValue): boolean => typeof a === 'string' || a instanceof PickleBytes || a === LONG_VALUE;
    const lastName = callee.name.slice(callee.name.lastIndexOf('.') + 1);
    const functionLike = /^_*[a-z]/.test(lastName);
    if (!functionLike) return;
    const what = `${callee.module}.${callee.name}`;
    if ((positional.some(isText) || keywordValues.some(isText)) && !knownReconstructors.has(what)) {
      this.note('pickle/unknown-call-with-string', 'high', `${opcode} calls unknown function ${what} with string/bytes arguments (the shape of a command/code gadget)`, at, `ucs|${what}`);
      return;
    }
    if (positional[0] instanceof GlobalRef || /^__pyx_unpickle_/.test(lastName) || knownReconstructors.has(what)) return;
    this.note('pickle/unknown-call', 'high', `${opcode} calls unknown function ${what}: loading runs it, and a function (unlike a class or a reconstructor taking a class) is what a gadget looks like`, at, `uc|${what}`);
  }

  /** `_ufunc_reconstruct(module, name)` is `getattr(__import__(module), name)`: only real numpy ufuncs pass. */
  private checkUfuncReconstruct(args: PickleValue[], at: number): void {
    const [mod, name] = args;
    if (typeof mod !== 'string' || typeof name !== 'string') {
      this.note('pickle/unresolved-global', 'high', 'numpy _ufunc_reconstruct with a computed module or name', at);
      return;
    }
    if (ufuncModules.has(mod) && ufuncNames.has(name)) return;
    const v = classifyGlobal(mod, name);
    this.note('pickle/dangerous-global', v.severity === 'critical' ? 'critical' : 'high', `numpy _ufunc_reconstruct imports ${mod}.${name}, which is not a numpy ufunc (arbitrary import gadget)`, at, `ufunc|${mod}.${name}`);
  }

  /**
   * Python's load_build looks `__setstate__` up on the instance, so a first BUILD that stores a
   * callable under `__setstate__` in the instance dict makes the second BUILD call it; slot
   * state runs setattr (`__class__`, `__dict__`). No real object's state names dunder attributes.
   */
  private checkBuildState(state: PickleValue, at: number): void {
    const parts = Array.isArray(state) && state.length === 2 ? state : [state];
    for (const part of parts) {
      const key = part instanceof PickleDict || part instanceof CallResult ? part.dunderKey : undefined;
      if (key !== undefined) {
        this.note('pickle/dunder-state', 'critical', `BUILD state sets the attribute ${key}: Python looks special methods up on the instance, so stored callables run on load (e.g. a later BUILD calls __setstate__)`, at, `dunder|${key}`);
      } else if (part instanceof CallResult && part.callee instanceof GlobalRef && part.callee.name === 'dict' && /^_?_?builtins?_?_?$/.test(part.callee.module)) {
        const found = findDunder(part.args, 4);
        if (found === true) this.note('pickle/dunder-state', 'critical', 'BUILD state is a dict() built from pairs that name a dunder attribute', at, 'dunder|dict()');
        else if (found === null) this.note('pickle/dunder-state', 'high', 'BUILD state is a dict() whose keys cannot all be read statically', at, 'dunder|dict()?');
      }
    }
  }

  private push(v: PickleValue): void {
    this.stack.push(v);
  }

  private static tracked(items: PickleValue[]): PickleValue[] {
    return items.length > MAX_TRACKED_ITEMS ? items.slice(0, MAX_TRACKED_ITEMS) : items;
  }

  async run(): Promise<PickleValue> {
    const r = this.r;
    for (;;) {
      if (r.pos + 9 > r.buf.length) await r.ensure(9);
      if (r.pos >= r.buf.length) throw new Malformed('stream ended before STOP', r.offset, true);
      const at = r.offset;
      const op = r.buf[r.pos++]!;
      this.ops++;
      switch (op) {
        case Op.PROTO: {
          if (r.pos + 1 > r.buf.length) await this.need(1, at);
          const proto = r.buf[r.pos++]!;
          if (proto > 5) throw new Malformed(`unsupported protocol ${proto}`, at);
          break;
        }
        case Op.FRAME: {
          if (r.pos + 8 > r.buf.length) await this.need(8, at);
          r.pos += 8; // frames are transparent to the VM
          break;
        }
        case Op.STOP:
          return this.stack.length ? this.stack[this.stack.length - 1]! : null;
        case Op.MARK:
          this.metastack.push(this.stack);
          this.stack = [];
          break;
        case Op.POP:
          if (this.stack.length) this.stack.pop();
          else this.popMark(at);
          break;
        case Op.POP_MARK:
          this.popMark(at);
          break;
        case Op.DUP:
          this.push(this.top(at));
          break;
        case Op.NONE:
          this.push(null);
          break;
        case Op.NEWTRUE:
          this.push(true);
          break;
        case Op.NEWFALSE:
          this.push(false);
          break;
        case Op.INT: {
          const v = parsePyInt(this.lineFast() ?? (await this.line(at)));
          this.push(v ?? UNKNOWN); // unparseable here may still be valid Python: keep scanning
          break;
        }
        case Op.LONG: {
          const v = parsePyInt(this.lineFast() ?? (await this.line(at)));
          this.push(v ?? UNKNOWN);
          break;
        }
        case Op.FLOAT: {
          // Python's float() accepts more than Number() ('1_0.5', 'infinity'); floats never
          // decide a verdict, so any argument is accepted rather than stopping the scan.
          if (this.lineFast() === null) await this.line(at);
          this.push(0);
          break;
        }
        case Op.BININT:
          if (r.pos + 4 > r.buf.length) await this.need(4, at);
          this.push(r.buf.readInt32LE(r.pos));
          r.pos += 4;
          break;
        case Op.BININT1:
          if (r.pos + 1 > r.buf.length) await this.need(1, at);
          this.push(r.buf[r.pos++]!);
          break;
        case Op.BININT2:
          if (r.pos + 2 > r.buf.length) await this.need(2, at);
          this.push(r.buf.readUInt16LE(r.pos));
          r.pos += 2;
          break;
        case Op.BINFLOAT:
          if (r.pos + 8 > r.buf.length) await this.need(8, at);
          this.push(r.buf.readDoubleBE(r.pos));
          r.pos += 8;
          break;
        case Op.LONG1:
        case Op.LONG4: {
          const w = op === Op.LONG1 ? 1 : 4;
          if (r.pos + w > r.buf.length) await this.need(w, at);
          const n = w === 1 ? r.buf[r.pos]! : r.buf.readInt32LE(r.pos);
          r.pos += w;
          if (n < 0) throw new Malformed('negative LONG length', at);
          if (n > 1024) {
            if (!(await r.skip(n))) throw new Malformed('LONG runs past the end', at, true);
            this.push(UNKNOWN);
          } else {
            if (r.pos + n > r.buf.length) await this.need(n, at);
            this.push(decodeLong(r.buf.subarray(r.pos, r.pos + n)));
            r.pos += n;
          }
          break;
        }
        case Op.STRING: {
          const raw = this.lineFast() ?? (await this.line(at));
          if (raw === OVERLONG) {
            this.push(LONG_VALUE);
            break;
          }
          const s = decodePyStringRepr(raw);
          if (s === null) throw new Malformed('STRING argument is not a quoted string', at);
          this.push(s.length > MAX_STRING ? LONG_VALUE : s);
          break;
        }
        case Op.UNICODE: {
          const s = this.lineFast() ?? (await this.line(at));
          this.push(s === OVERLONG || s.length > MAX_STRING ? LONG_VALUE : decodeRawUnicodeEscape(s));
          break;
        }
        case Op.SHORT_BINSTRING:
        case Op.SHORT_BINBYTES:
        case Op.SHORT_BINUNICODE: {
          if (r.pos + 1 > r.buf.length) await this.need(1, at);
          const n = r.buf[r.pos++]!;
          // Python 3 decodes py2 str (SHORT_BINSTRING) to str with the default ASCII encoding.
          {
            const v = this.payload(n, at, op === Op.SHORT_BINBYTES ? 'bytes' : 'str');
            this.push(v instanceof Promise ? await v : v);
          }
          break;
        }
        case Op.BINSTRING:
        case Op.BINBYTES:
        case Op.BINUNICODE: {
          if (r.pos + 4 > r.buf.length) await this.need(4, at);
          const n = op === Op.BINSTRING ? r.buf.readInt32LE(r.pos) : r.buf.readUInt32LE(r.pos);
          r.pos += 4;
          if (n < 0) throw new Malformed('negative length', at);
          {
            const v = this.payload(n, at, op === Op.BINBYTES ? 'bytes' : 'str');
            this.push(v instanceof Promise ? await v : v);
          }
          break;
        }
        case Op.BINUNICODE8:
        case Op.BINBYTES8:
        case Op.BYTEARRAY8: {
          if (r.pos + 8 > r.buf.length) await this.need(8, at);
          const n = Number(r.buf.readBigUInt64LE(r.pos));
          r.pos += 8;
          if (!Number.isSafeInteger(n)) throw new Malformed('length exceeds 2^53', at);
          {
            const v = this.payload(n, at, op === Op.BINUNICODE8 ? 'str' : 'bytes');
            this.push(v instanceof Promise ? await v : v);
          }
          break;
        }
        case Op.NEXT_BUFFER:
          // Out-of-band buffers come from the caller, not the file: a model file never needs them.
          this.note('pickle/out-of-band-buffer', 'medium', 'NEXT_BUFFER expects out-of-band data supplied by the loader', at);
          this.push(UNKNOWN);
          break;
        case Op.READONLY_BUFFER:
          this.top(at);
          break;
        case Op.EMPTY_TUPLE:
          this.push([]);
          break;
        case Op.TUPLE1:
          this.push([this.pop(at)]);
          break;
        case Op.TUPLE2: {
          const b = this.pop(at);
          const a = this.pop(at);
          this.push([a, b]);
          break;
        }
        case Op.TUPLE3: {
          const c = this.pop(at);
          const b = this.pop(at);
          const a = this.pop(at);
          this.push([a, b, c]);
          break;
        }
        case Op.TUPLE:
        case Op.LIST:
          this.push(PickleVm.tracked(this.popMark(at)));
          break;
        case Op.EMPTY_LIST:
          this.push([]);
          break;
        case Op.EMPTY_DICT:
          this.push(new PickleDict());
          break;
        case Op.EMPTY_SET:
          this.push(new Opaque('set'));
          break;
        case Op.FROZENSET:
          this.popMark(at);
          this.push(new Opaque('frozenset'));
          break;
        case Op.DICT: {
          const items = this.popMark(at);
          if (items.length % 2) throw new Malformed('odd number of items for DICT', at);
          const d = new PickleDict();
          for (let i = 0; i < items.length; i += 2) addItem(d, items[i]!, items[i + 1]!);
          this.push(d);
          break;
        }
        case Op.APPEND: {
          const v = this.pop(at);
          const list = this.top(at);
          if (this.mutates && Array.isArray(list) && list.length < MAX_TRACKED_ITEMS) list.push(v);
          break;
        }
        case Op.APPENDS: {
          const items = this.popMark(at);
          const list = this.top(at);
          if (this.mutates && Array.isArray(list)) for (const v of items) if (list.length < MAX_TRACKED_ITEMS) list.push(v);
          break;
        }
        case Op.ADDITEMS:
          this.popMark(at);
          this.top(at);
          break;
        case Op.SETITEM: {
          const v = this.pop(at);
          const k = this.pop(at);
          const d = this.top(at);
          if (this.mutates) addItem(d, k, v);
          break;
        }
        case Op.SETITEMS: {
          const items = this.popMark(at);
          if (items.length % 2) throw new Malformed('odd number of items for SETITEMS', at);
          const d = this.top(at);
          if (this.mutates) for (let i = 0; i < items.length; i += 2) addItem(d, items[i]!, items[i + 1]!);
          break;
        }
        case Op.PUT: {
          const idx = parsePyInt(this.lineFast() ?? (await this.line(at)), false);
          if (typeof idx !== 'number' || idx < 0) throw new Malformed('bad PUT argument', at);
          this.memoPut(idx, this.top(at));
          break;
        }
        case Op.BINPUT:
          if (r.pos + 1 > r.buf.length) await this.need(1, at);
          this.memoPut(r.buf[r.pos++]!, this.top(at));
          break;
        case Op.LONG_BINPUT:
          if (r.pos + 4 > r.buf.length) await this.need(4, at);
          this.memoPut(r.buf.readUInt32LE(r.pos), this.top(at));
          r.pos += 4;
          break;
        case Op.MEMOIZE:
          this.memoPut(this.memo.size, this.top(at));
          break;
        case Op.GET: {
          const idx = parsePyInt(this.lineFast() ?? (await this.line(at)), false);
          if (typeof idx !== 'number') throw new Malformed('bad GET argument', at);
          this.push(this.memoGet(idx, at));
          break;
        }
        case Op.BINGET:
          if (r.pos + 1 > r.buf.length) await this.need(1, at);
          this.push(this.memoGet(r.buf[r.pos++]!, at));
          break;
        case Op.LONG_BINGET:
          if (r.pos + 4 > r.buf.length) await this.need(4, at);
          this.push(this.memoGet(r.buf.readUInt32LE(r.pos), at));
          r.pos += 4;
          break;
        case Op.GLOBAL: {
          const module = this.lineFast() ?? (await this.line(at));
          const name = this.lineFast() ?? (await this.line(at));
          this.push(module === OVERLONG || name === OVERLONG ? this.unresolved(at) : this.importGlobal(module, name, at, 'GLOBAL'));
          break;
        }
        case Op.STACK_GLOBAL: {
          const name = this.pop(at);
          const module = this.pop(at);
          if (typeof module === 'string' && typeof name === 'string') {
            this.push(this.importGlobal(module, name, at, 'STACK_GLOBAL'));
          } else {
            this.push(this.unresolved(at));
          }
          break;
        }
        case Op.INST: {
          const module = this.lineFast() ?? (await this.line(at));
          const name = this.lineFast() ?? (await this.line(at));
          const ref = module === OVERLONG || name === OVERLONG ? this.unresolved(at) : this.importGlobal(module, name, at, 'INST');
          const instArgs = PickleVm.tracked(this.popMark(at));
          this.checkCall(ref, instArgs, at, 'INST');
          this.push(new CallResult(ref, instArgs));
          break;
        }
        case Op.OBJ: {
          const items = this.popMark(at);
          const cls = items.length ? items[0]! : UNKNOWN;
          if (!items.length) throw new Malformed('OBJ without a class', at);
          this.checkCallee(cls, at, 'OBJ');
          const objArgs = PickleVm.tracked(items.slice(1));
          this.checkCall(cls, objArgs, at, 'OBJ');
          this.push(new CallResult(cls, objArgs));
          break;
        }
        case Op.EXT1:
        case Op.EXT2:
        case Op.EXT4: {
          const w = op === Op.EXT1 ? 1 : op === Op.EXT2 ? 2 : 4;
          if (r.pos + w > r.buf.length) await this.need(w, at);
          const code = w === 1 ? r.buf[r.pos]! : w === 2 ? r.buf.readUInt16LE(r.pos) : r.buf.readInt32LE(r.pos);
          r.pos += w;
          this.note('pickle/extension-code', 'high', `EXT${w} imports the callable registered under extension code ${code} (copyreg): it cannot be resolved from the file`, at, `ext|${code}`);
          this.push(UNKNOWN);
          break;
        }
        case Op.REDUCE: {
          const args = this.pop(at);
          const callee = this.pop(at);
          this.checkCallee(callee, at, 'REDUCE');
          this.checkCall(callee, args, at, 'REDUCE');
          this.push(new CallResult(callee, args));
          break;
        }
        case Op.NEWOBJ: {
          const args = this.pop(at);
          const cls = this.pop(at);
          this.checkCallee(cls, at, 'NEWOBJ');
          this.checkCall(cls, args, at, 'NEWOBJ');
          this.push(new CallResult(cls, args));
          break;
        }
        case Op.NEWOBJ_EX: {
          const kwargs = this.pop(at);
          const args = this.pop(at);
          const cls = this.pop(at);
          this.checkCallee(cls, at, 'NEWOBJ_EX');
          this.checkCall(cls, args, at, 'NEWOBJ_EX', kwargs);
          this.push(new CallResult(cls, args));
          break;
        }
        case Op.BUILD: {
          const state = this.pop(at);
          const inst = this.top(at);
          if (inst instanceof GlobalRef) {
            this.note('pickle/build-on-global', 'high', `BUILD sets attributes on the imported object ${inst.module}.${inst.name} itself (monkey-patching on load)`, at);
          } else if (inst instanceof CallResult) {
            this.checkBuildState(state, at);
            if (this.mutates) {
              inst.state = state;
              if (isJoblibArrayWrapper(inst)) await this.skipJoblibArray(inst, at);
            }
          }
          break;
        }
        case Op.PERSID: {
          const id = (this.lineFast() ?? (await this.line(at)));
          this.push(new CallResult(new Opaque('persistent_load'), id.length > MAX_STRING ? LONG_VALUE : id));
          break;
        }
        case Op.BINPERSID: {
          const id = this.pop(at);
          this.push(new CallResult(new Opaque('persistent_load'), id));
          break;
        }
        default:
          throw new Malformed(`invalid opcode 0x${op.toString(16).padStart(2, '0')}`, at);
      }
    }
  }

  /**
   * joblib writes numpy array bytes straight into the stream right after the wrapper's BUILD;
   * skip them by the size the wrapper declares, or scan them as a pickle for object arrays.
   */
  /**
   * Plain `pickle.load` (not joblib's unpickler) does not consume array bytes: it runs them as
   * opcodes. joblib >= 1.2 writes an alignment length byte first (0-15, never an opcode); older
   * files and crafted ones start with data, so a copy of the VM runs a window of it and reports
   * what it would import. Its own stop is silent (pickle.load fails there too), except when the
   * window ends first.
   */
  private async followArrayAsOpcodes(): Promise<void> {
    const r = this.r;
    if (!(await r.ensure(1)) || !isOpcode[r.buf[r.pos]!]) return;
    const whole = !(await r.ensure(ARRAY_OPCODE_WINDOW));
    const base = r.offset;
    const bytes = Buffer.from(r.buf.subarray(r.pos, r.pos + ARRAY_OPCODE_WINDOW));
    const fork = new PickleVm(readerFromSource(new BufferSource(bytes)), this.ctx, (rule, severity, message, offset, key) => this.note(rule, severity, `${message} (array bytes run as opcodes by plain pickle.load)`, base + offset, key));
    fork.mutates = false;
    fork.stack = [...this.stack];
    for (const frame of this.metastack) fork.metastack.push([...frame]);
    for (const [k, v] of this.memo) fork.memo.set(k, v);
    try {
      await fork.run();
    } catch (err) {
      if (!(err instanceof Malformed)) throw err;
      if (err.truncated && !whole) {
        this.note('pickle/array-as-opcodes', 'medium', `joblib array bytes at ${base} still parse as pickle opcodes after ${ARRAY_OPCODE_WINDOW} bytes (plain pickle.load runs them); not followed further`, base);
      }
    }
  }

  private async skipJoblibArray(wrapper: CallResult, at: number): Promise<void> {
    const state = wrapper.state;
    const shape = dictGet(state, 'shape');
    const layout = numpyArrayLayout(dictGet(state, 'dtype'));
    const stop = (why: string): never => {
      // joblib itself reads on; without the exact size the rest of the stream cannot be followed.
      this.note('pickle/joblib-unparsed', 'high', `joblib array wrapper the scanner cannot size (${why}): the rest of the stream was not scanned`, at);
      throw new Malformed(`joblib array wrapper without a certain size (${why})`, at);
    };
    if (state instanceof PickleDict && state.truncated) stop('wrapper state has more items than are tracked');
    if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) stop('shape is not a tuple of integers');
    if (layout.kind === 'unknown') return stop(layout.why);
    if (layout.kind === 'object') {
      await new PickleVm(this.r, this.ctx, this.note).run();
      return;
    }
    let count = 1;
    for (const d of shape as number[]) count *= d;
    const align = dictGet(state, 'numpy_array_alignment_bytes');
    if (align === undefined || align === null) await this.followArrayAsOpcodes();
    else {
      if (this.r.pos + 1 > this.r.buf.length) await this.need(1, at);
      const pad = this.r.buf[this.r.pos++]!;
      if (!(await this.r.skip(pad))) throw new Malformed('joblib padding runs past the end', at, true);
    }
    const bytes = count * layout.itemsize;
    if (!Number.isSafeInteger(bytes) || !(await this.r.skip(bytes))) throw new Malformed('joblib array data runs past the end', at, true);
  }
}

/**
 * joblib's unpickler reads array bytes after BUILD on any NumpyArrayWrapper instance
 * (`isinstance`), however it was made: NEWOBJ/REDUCE on the class or copyreg._reconstructor(cls, ...).
 */
function isJoblibArrayWrapper(inst: CallResult): boolean {
  const isWrapperClass = (v: PickleValue | undefined): boolean =>
    v instanceof GlobalRef && v.module.startsWith('joblib') && (v.name === 'NumpyArrayWrapper' || v.name.endsWith('.NumpyArrayWrapper'));
  if (isWrapperClass(inst.callee)) return true;
  const c = inst.callee;
  return c instanceof GlobalRef && (c.module === 'copyreg' || c.module === 'copy_reg') && Array.isArray(inst.args) && isWrapperClass(inst.args[0]);
}

/**
 * Decides whether bytes without a PROTO header are a (protocol 0/1) pickle: the prefix must
 * run as a pickle to STOP, or for several opcodes until the prefix ends, or import something
 * before it breaks. Random bytes and text fail within a few opcodes.
 */
export async function sniffPickle(prefix: Buffer, ctx: ScanContext): Promise<boolean> {
  const quiet = new ScanContext(ctx.limits, []);
  const vm = new PickleVm(readerFromSource(new BufferSource(prefix)), quiet, () => undefined);
  try {
    await vm.run();
    return vm.ops >= 2;
  } catch (err) {
    if (!(err instanceof Malformed)) throw err;
    // A loader runs every opcode before an error, so an import followed by garbage is still a
    // pickle that executes code (torch.load on a non-zip file unpickles exactly like this).
    return (err.truncated && vm.ops >= 4) || (vm.imports > 0 && vm.ops >= 2);
  }
}

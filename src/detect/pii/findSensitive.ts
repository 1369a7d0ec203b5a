import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { isValidIBAN } from 'ibantools';
import { isValidPhoneNumber } from 'libphonenumber-js/max';
import { luhnValid, plausibleCardPrefix, ssnValid, shannonEntropy } from './checksums.js';
import { INVISIBLE_CLASS, isInvisibleCodeUnit, isTagAt } from '../text/invisibleCharacters.js';

export type SensitiveCategory = 'pii' | 'secret';

export interface SensitiveFinding {
  kind: string;
  category: SensitiveCategory;
  start: number;
  end: number;
}

export interface FindOptions {
  /** Recognizer kinds to run; empty or undefined means all. */
  kinds?: readonly string[];
  pii?: boolean;
  secrets?: boolean;
  entropyBitsPerChar?: number;
  minTokenLength?: number;
}

interface Recognizer {
  kind: string;
  category: SensitiveCategory;
  /** Candidate pattern (global), unless `find` locates candidates itself. */
  pattern?: RegExp;
  /** Linear-time candidate search for shapes a plain regex would scan quadratically. */
  find?: (text: string) => Iterable<[number, number]>;
  /** Checksum / rule validation of a candidate; a candidate that fails is not a finding. */
  validate?: (m: RegExpExecArray, options: FindOptions, budget: ScanBudget) => boolean;
  /**
   * Cheap pre-checks (each pass over a text costs about as much as the regex it saves): every
   * finding is at least `minLength` characters long and contains `needs` verbatim, so a text
   * shorter than that or without it is skipped. They must hold for every finding; pii.test.ts
   * has, per recognizer, a text that only just matches.
   */
  minLength: number;
  needs?: string;
  /** A pattern every finding contains, cheaper to test than the full one. */
  hint?: RegExp;
}

/**
 * Expensive validations a scan may still make. One budget covers everything a guard reads for one
 * request, one answer or one stream (createScanBudget), not each text: a body of a thousand
 * messages would otherwise get a thousand budgets. Phone numbers are the expensive check
 * (libphonenumber metadata, ~50 µs each); past the budget a plausible candidate counts as a phone
 * number, so crafted input costs over-redaction, not CPU.
 */
export interface ScanBudget {
  /** Metadata validations of phone candidates left. */
  phoneChecks: number;
}

/** Phone validations per budget: 128 × ~50 µs bounds a request's (or answer's) share at ~6 ms. */
export const PHONE_CHECKS_PER_SCAN = 128;

export function createScanBudget(): ScanBudget {
  return { phoneChecks: PHONE_CHECKS_PER_SCAN };
}

/** Characters of new text per extra phone check a stream earns: its cost stays linear in its length. */
const CHARS_PER_EARNED_CHECK = 256;

/**
 * A stream's budget grows with the text it passes (one check per 256 new characters, banked up to
 * four budgets): a long answer with many phone-like numbers is not over-redacted once 128 are
 * spent, and crafted output still costs at most ~0.2 ms of checks per KiB.
 */
export function earnPhoneChecks(budget: ScanBudget, newChars: number): void {
  budget.phoneChecks = Math.min(budget.phoneChecks + newChars / CHARS_PER_EARNED_CHECK, 4 * PHONE_CHECKS_PER_SCAN);
}

/** ISO and day/month dates (`2024-05-17`, `17.05.2024`): 8 digits with separators, never phone numbers worth a check. */
const DATE_SHAPE = /^(?:\d{4}([-./])\d{1,2}\1\d{1,2}|\d{1,2}([-./])\d{1,2}\2\d{4})$/;

/** Phone metadata validations made by this process, for tests and diagnostics (a plain count, no values). */
let phoneValidations = 0;
export function phoneValidationCount(): number {
  return phoneValidations;
}

const phoneMemo = new Map<string, boolean>();

const KEY_BEGIN = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/g;
const KEY_END = /-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/g;

/** BEGIN…END private-key blocks; each END is searched once, so repeated BEGINs stay linear. */
function* findPrivateKeys(text: string): Iterable<[number, number]> {
  KEY_BEGIN.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = KEY_BEGIN.exec(text)) !== null) {
    KEY_END.lastIndex = m.index + m[0].length;
    const end = KEY_END.exec(text);
    if (!end) return;
    yield [m.index, end.index + end[0].length];
    KEY_BEGIN.lastIndex = end.index + end[0].length;
  }
}

const EMAIL_LOCAL = /[A-Za-z0-9._%+-]/;
const EMAIL_DOMAIN = /(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}\b/y;

/** E-mail addresses found from each '@' outwards (a left-to-right regex rescans the local part at every position). */
function* findEmails(text: string): Iterable<[number, number]> {
  let at = text.indexOf('@');
  let floor = 0;
  while (at !== -1) {
    let start = at;
    while (start > floor && at - start < 64 && EMAIL_LOCAL.test(text[start - 1]!)) start--;
    EMAIL_DOMAIN.lastIndex = at + 1;
    const d = start < at ? EMAIL_DOMAIN.exec(text) : null;
    if (d && (start === 0 || !/[A-Za-z0-9]/.test(text[start - 1]!))) {
      const end = at + 1 + d[0].length;
      yield [start, end];
      floor = end;
      at = text.indexOf('@', end);
    } else {
      at = text.indexOf('@', at + 1);
    }
  }
}

function decodesToJson(part: string): boolean {
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null;
  } catch {
    return false;
  }
}

/**
 * Recognizers, most specific first: an overlapping later finding is dropped, so a JWT is reported
 * as a JWT and not also as a high-entropy token.
 */
const recognizerList: Recognizer[] = [
  { kind: 'private_key', category: 'secret', find: findPrivateKeys, minLength: 52, needs: '-----BEGIN ' },
  { kind: 'aws_access_key', category: 'secret', minLength: 20, pattern: /\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z2-7]{16}\b/g },
  // Gaps are bounded (\s{0,16}): a stream holds back 64 characters, so a longer gap would let the value through unseen.
  { kind: 'aws_secret_key', category: 'secret', minLength: 59, pattern: /\baws_?secret_?access_?key\b["']?\s{0,16}[:=]\s{0,16}["']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])/gi },
  { kind: 'gcp_api_key', category: 'secret', minLength: 39, needs: 'AIza', pattern: /\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/g },
  { kind: 'github_token', category: 'secret', minLength: 33, needs: '_', pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b/g },
  { kind: 'slack_token', category: 'secret', minLength: 15, needs: 'xox', pattern: /\bxox[abposr]-[A-Za-z0-9-]{10,250}\b/g },
  { kind: 'stripe_key', category: 'secret', minLength: 32, needs: 'k_', pattern: /\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{24,247}\b/g },
  { kind: 'openai_key', category: 'secret', minLength: 23, needs: 'sk-', pattern: /\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,250}(?![A-Za-z0-9_-])/g },
  { kind: 'azure_storage_key', category: 'secret', minLength: 99, needs: 'AccountKey=', pattern: /\bAccountKey=[A-Za-z0-9+/]{86}==/g },
  {
    kind: 'jwt',
    category: 'secret',
    minLength: 40,
    needs: '.eyJ',
    pattern: /\beyJ[A-Za-z0-9_-]{8,4096}\.eyJ[A-Za-z0-9_-]{8,16384}\.[A-Za-z0-9_-]{16,2048}(?![A-Za-z0-9_-])/g,
    validate: (m) => {
      const [h, p] = m[0].split('.');
      return decodesToJson(h!) && decodesToJson(p!);
    },
  },
  {
    kind: 'password_assignment',
    category: 'secret',
    minLength: 12,
    pattern: /\b(?:password|passwd|pwd|secret|api_?key|access_?token|auth_?token|client_?secret)\b["']?\s{0,16}[:=]\s{0,16}["']?[^\s"',;]{8,200}/gi,
  },
  {
    kind: 'iban',
    category: 'pii',
    minLength: 15,
    pattern: /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b/g,
    validate: (m) => isValidIBAN(m[0].replace(/ /g, '')),
  },
  {
    kind: 'credit_card',
    category: 'pii',
    minLength: 12,
    pattern: /(?<![\w-])(?:\d[ -]?){11,18}\d(?![\w-])/g,
    validate: (m) => {
      const digits = m[0].replace(/[ -]/g, '');
      // Separators, when used, must be consistent (4-4-4-4, 4-6-5): rejects dates, phone numbers.
      const seps = m[0].match(/[ -]/g);
      if (seps && new Set(seps).size > 1) return false;
      return digits.length >= 12 && digits.length <= 19 && plausibleCardPrefix(digits) && luhnValid(digits);
    },
  },
  {
    kind: 'us_ssn',
    category: 'pii',
    minLength: 11,
    pattern: /(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])/g,
    validate: (m) => ssnValid(m[1]!, m[3]!, m[4]!),
  },
  { kind: 'email', category: 'pii', find: findEmails, minLength: 6, needs: '@' },
  {
    kind: 'phone',
    category: 'pii',
    // validate wants 8 digits and a leading '+' or a separator.
    minLength: 9,
    pattern: /(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}(?![\w])/g,
    validate: (m, _options, budget) => {
      const s = m[0];
      const digits = s.replace(/\D/g, '');
      if (digits.length < 8 || digits.length > 15) return false;
      // Bare digit runs without + or separators are more often ids, amounts or years than phones.
      if (!s.startsWith('+') && !/[ .()-]/.test(s)) return false;
      if (DATE_SHAPE.test(s)) return false;
      // Keyed by a hash so the memo never holds phone numbers themselves. Looked up before the
      // budget: an answer already known costs no check, spent budget or not.
      const key = createHash('sha256').update(s).digest('base64');
      const known = phoneMemo.get(key);
      if (known !== undefined) return known;
      // Metadata validation costs ~50 µs; past the scan's budget, plausible candidates are
      // treated as phone numbers (over-redaction) rather than letting crafted input burn CPU.
      if (budget.phoneChecks < 1) return true;
      budget.phoneChecks--;
      phoneValidations++;
      const valid = s.startsWith('+') ? isValidPhoneNumber(s) : isValidPhoneNumber(s, 'US');
      // Stream redaction re-validates the same candidates on every chunk: remember recent answers.
      if (phoneMemo.size >= 4096) phoneMemo.clear();
      phoneMemo.set(key, valid);
      return valid;
    },
  },
  {
    kind: 'ip_address',
    category: 'pii',
    minLength: 7,
    needs: '.',
    pattern: /(?<![\d.])(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(?![\d.])/g,
  },
  {
    kind: 'ip_address',
    category: 'pii',
    // "::" is one. Every match holds two colons with at most 4 hex digits between them: the
    // hint's leading literal is found fast, where the pattern can start at any position.
    minLength: 2,
    hint: /:[0-9A-Fa-f]{0,4}:/,
    pattern: /(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])/g,
    validate: (m) => isIPv6(m[0]) && m[0].split(':').length >= 3,
  },
  {
    kind: 'high_entropy_token',
    category: 'secret',
    minLength: 16,
    pattern: /(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_-]{16,512}={0,2}(?![A-Za-z0-9+/_=-])/g,
    validate: (m, o) => {
      const s = m[0];
      if (s.length < (o.minTokenLength ?? 32)) return false;
      // Secrets mix letters and digits; prose words, paths and hex digests do not clear the entropy bar.
      if (!/[0-9]/.test(s) || !/[a-z]/.test(s) || !/[A-Z]/.test(s)) return false;
      return shannonEntropy(s) >= (o.entropyBitsPerChar ?? 4.0);
    },
  },
];

/**
 * The recognizers, all of one object shape (every field present, maybe undefined): findInText reads
 * their fields for every text, and differently shaped objects make those reads megamorphic.
 */
export const recognizers: Recognizer[] = recognizerList.map((r) => ({
  kind: r.kind,
  category: r.category,
  pattern: r.pattern,
  find: r.find,
  validate: r.validate,
  minLength: r.minLength,
  needs: r.needs,
  hint: r.hint,
}));

export const recognizerKinds: readonly string[] = [...new Set(recognizers.map((r) => r.kind))];

/**
 * Characters that read as ASCII (full-width forms, the ideographic space) or not at all (the
 * invisible characters the injection scan drops too, tag characters).
 */
const LOOKALIKE = new RegExp(`[${INVISIBLE_CLASS}\\u3000\\uFF01-\\uFF5E]|\\uDB40[\\uDC00-\\uDC7F]`);

/**
 * `text` as a reader sees it: full-width ASCII folded to ASCII, invisible characters dropped, with
 * each folded character's offset in `text`. A plain mapping, not NFKC: it runs on every text that
 * has such a character, and NFKC per code point would multiply the cost of any non-Latin text.
 */
function foldLookalikes(text: string): { text: string; offsets: number[] } {
  let out = '';
  const offsets: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isInvisibleCodeUnit(c)) continue;
    if (isTagAt(text, i)) {
      i++;
      continue;
    }
    out += c === 0x3000 ? ' ' : c >= 0xff01 && c <= 0xff5e ? String.fromCharCode(c - 0xfee0) : text[i];
    offsets.push(i);
  }
  return { text: out, offsets };
}

/**
 * Finds personal data and secrets in `text`. Findings carry offsets and kinds only; callers
 * redact or count them and never log the matched value. A value written with look-alike
 * characters (full-width digits, an invisible character inside a key) is found too: the reader
 * sees it, and its span in `text` covers the invisible characters inside it.
 * `budget` is shared by every text of one request or answer (createScanBudget); without one the
 * call gets its own.
 */
export function findSensitive(text: string, options: FindOptions = {}, budget: ScanBudget = createScanBudget()): SensitiveFinding[] {
  const direct = findInText(text, options, budget);
  if (!LOOKALIKE.test(text)) return direct;
  const folded = foldLookalikes(text);
  const extra = findInText(folded.text, options, budget)
    .map((f) => ({ ...f, start: folded.offsets[f.start]!, end: folded.offsets[f.end - 1]! + 1 }))
    .filter((f) => !direct.some((d) => d.start < f.end && f.start < d.end));
  return extra.length === 0 ? direct : [...direct, ...extra].sort(byStart);
}

const byStart = (a: SensitiveFinding, b: SensitiveFinding): number => a.start - b.start;

function findInText(text: string, options: FindOptions, budget: ScanBudget): SensitiveFinding[] {
  const out: SensitiveFinding[] = [];
  const kinds = options.kinds && options.kinds.length > 0 ? new Set(options.kinds) : undefined;
  const covered = new Coverage(text.length);
  for (let i = 0; i < recognizers.length; i++) {
    const r = recognizers[i]!;
    if (kinds && !kinds.has(r.kind)) continue;
    if (r.category === 'pii' && options.pii === false) continue;
    if (r.category === 'secret' && options.secrets === false) continue;
    if (text.length < r.minLength || (r.needs !== undefined && !text.includes(r.needs)) || (r.hint !== undefined && !r.hint.test(text))) continue;
    if (r.find) {
      for (const [start, end] of r.find(text)) {
        if (covered.overlaps(start, end)) continue;
        covered.mark(start, end);
        out.push({ kind: r.kind, category: r.category, start, end });
      }
      continue;
    }
    if (!r.pattern) continue;
    r.pattern.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = r.pattern.exec(text)) !== null) {
      if (m[0].length === 0) {
        r.pattern.lastIndex++;
        continue;
      }
      const start = m.index;
      const end = start + m[0].length;
      if (covered.overlaps(start, end)) continue;
      if (r.validate && !r.validate(m, options, budget)) continue;
      covered.mark(start, end);
      out.push({ kind: r.kind, category: r.category, start, end });
    }
  }
  // Most texts have no finding, many one: nothing to sort then.
  return out.length > 1 ? out.sort(byStart) : out;
}

/** Characters already inside a finding: overlap checks cost the match length, not the number of findings. */
class Coverage {
  private bits: Uint8Array | undefined;
  constructor(private readonly length: number) {}

  overlaps(start: number, end: number): boolean {
    if (!this.bits) return false;
    for (let i = start; i < end; i++) if (this.bits[i]) return true;
    return false;
  }

  mark(start: number, end: number): void {
    this.bits ??= new Uint8Array(this.length);
    this.bits.fill(1, start, end);
  }
}

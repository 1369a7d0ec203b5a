import { WardenError } from '../errors/index.js';

export type OutputFormat = 'text' | 'json' | 'sarif';

export function parseFormat(value: string | undefined, allowed: readonly OutputFormat[] = ['text', 'json']): OutputFormat {
  const f = (value ?? 'text') as OutputFormat;
  if (!allowed.includes(f)) throw new WardenError('WARDEN_USAGE', `--format must be one of ${allowed.join(', ')}`);
  return f;
}

/** JSON goes to stdout and nothing else does (DESIGN.md contract). */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/**
 * What server data must not bring to a terminal as is: controls (ESC sequences, OSC titles, a lone
 * CR that rewrites a line), C1 controls, bidi overrides and isolates, line and paragraph
 * separators. Tabs, newlines and CRLF stay, so printed policies and PEM files are unchanged.
 */
const TEXT_UNSAFE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]|\r(?!\n)/g;
/** In a table cell also newlines, tabs, every other invisible format character and lone surrogates: a cell is one line. */
const CELL_UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

const escapeChar = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** `text` with every character a terminal would act on, or that hides or reorders text, shown as \uXXXX. */
export function terminalSafe(text: string): string {
  return text.replace(TEXT_UNSAFE, escapeChar);
}

export function printText(text: string): void {
  const safe = terminalSafe(text);
  process.stdout.write(safe.endsWith('\n') ? safe : safe + '\n');
}

/** Renders rows as an aligned text table; cells are escaped (server data: names, titles, principals). */
export function formatTable(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cell = (c: string | number | null | undefined): string => (c === null || c === undefined ? '-' : String(c).replace(CELL_UNSAFE, escapeChar));
  const cells = [headers, ...rows.map((r) => r.map(cell))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (c ?? '').padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

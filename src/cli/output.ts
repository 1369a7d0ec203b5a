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

export function printText(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}

/** Renders rows as an aligned text table. */
export function formatTable(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (c ?? '').padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

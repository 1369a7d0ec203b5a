import { readFileSync, statSync } from 'node:fs';
import { parse as parseCsv } from 'csv-parse/sync';
import { WardenError } from '../../errors/index.js';

export interface TrainingData {
  rows: number[][];
  featureNames?: string[];
  labels?: (string | number)[];
}

export interface ReadDataOptions {
  /** Column (name or 0-based index) holding the class label; excluded from the features. */
  labelColumn?: string;
  maxBytes?: number;
}

const DEFAULT_MAX_BYTES = 512 * 1024 * 1024;

function toNumber(cell: unknown, row: number, col: number): number {
  const v = typeof cell === 'number' ? cell : typeof cell === 'string' && cell.trim() !== '' ? Number(cell) : NaN;
  if (!Number.isFinite(v)) throw new WardenError('WARDEN_DETECT_DATA_INVALID', `row ${row}, column ${col + 1} is not a finite number`);
  return v;
}

function splitLabel(table: unknown[][], header: string[] | undefined, labelColumn: string | undefined, firstRow: number): TrainingData {
  let labelIndex = -1;
  if (labelColumn !== undefined) {
    labelIndex = header ? header.indexOf(labelColumn) : -1;
    if (labelIndex < 0 && /^\d+$/.test(labelColumn)) labelIndex = Number(labelColumn);
    const width = table[0]?.length ?? 0;
    if (labelIndex < 0 || labelIndex >= width) throw new WardenError('WARDEN_DETECT_DATA_INVALID', `label column ${labelColumn} not found`);
  }
  const width = table[0]?.length ?? 0;
  const rows: number[][] = [];
  const labels: (string | number)[] = [];
  table.forEach((r, i) => {
    if (r.length !== width) throw new WardenError('WARDEN_DETECT_DATA_INVALID', `row ${i + firstRow} has ${r.length} columns, expected ${width}`);
    const out: number[] = [];
    r.forEach((cell, j) => {
      if (j === labelIndex) labels.push(typeof cell === 'number' ? cell : String(cell));
      else out.push(toNumber(cell, i + firstRow, j));
    });
    rows.push(out);
  });
  const featureNames = header?.filter((_, j) => j !== labelIndex);
  return { rows, ...(featureNames ? { featureNames } : {}), ...(labelIndex >= 0 ? { labels } : {}) };
}

/**
 * Reads numeric training rows from CSV (optional header row) or JSON: an array of rows, or
 * `{ "rows": [...], "labels"?: [...], "features"?: [...] }`.
 */
export function readDataFile(path: string, options: ReadDataOptions = {}): TrainingData {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  let text: string;
  try {
    if (statSync(path).size > maxBytes) throw new WardenError('WARDEN_DETECT_DATA_INVALID', `${path} is larger than ${maxBytes} bytes`);
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    if (cause instanceof WardenError) throw cause;
    throw new WardenError('WARDEN_IO', `cannot read ${path}`, { cause });
  }
  if (/\.json$/i.test(path) || /^\s*[[{]/.test(text)) return parseJsonData(text, path, options);
  let table: string[][];
  try {
    table = parseCsv(text, { skip_empty_lines: true, trim: true, relax_column_count: true }) as string[][];
  } catch (cause) {
    throw new WardenError('WARDEN_DETECT_DATA_INVALID', `${path} is not valid CSV: ${(cause as Error).message.split('\n')[0]}`, { cause });
  }
  if (table.length === 0) throw new WardenError('WARDEN_DETECT_DATA_INVALID', `${path} has no rows`);
  const first = table[0]!;
  const hasHeader = first.some((c) => c !== '' && !Number.isFinite(Number(c))) && table.length > 1 && table[1]!.some((c) => Number.isFinite(Number(c)));
  const header = hasHeader ? first : undefined;
  return splitLabel(hasHeader ? table.slice(1) : table, header, options.labelColumn, hasHeader ? 2 : 1);
}

function parseJsonData(text: string, path: string, options: ReadDataOptions): TrainingData {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new WardenError('WARDEN_DETECT_DATA_INVALID', `${path} is not valid JSON`, { cause });
  }
  if (Array.isArray(doc)) {
    if (!doc.every(Array.isArray)) throw new WardenError('WARDEN_DETECT_DATA_INVALID', `${path}: expected an array of rows`);
    return splitLabel(doc as unknown[][], undefined, options.labelColumn, 1);
  }
  const obj = doc as { rows?: unknown; labels?: unknown; features?: unknown };
  if (!obj || typeof obj !== 'object' || !Array.isArray(obj.rows) || !obj.rows.every(Array.isArray)) {
    throw new WardenError('WARDEN_DETECT_DATA_INVALID', `${path}: expected an array of rows or {"rows": [...]}`);
  }
  const data = splitLabel(obj.rows as unknown[][], undefined, undefined, 1);
  if (obj.labels !== undefined) {
    if (!Array.isArray(obj.labels) || obj.labels.length !== data.rows.length || !obj.labels.every((l) => typeof l === 'string' || typeof l === 'number')) {
      throw new WardenError('WARDEN_DETECT_DATA_INVALID', `${path}: labels must be one string or number per row`);
    }
    data.labels = obj.labels as (string | number)[];
  }
  if (obj.features !== undefined) {
    if (!Array.isArray(obj.features) || !obj.features.every((f) => typeof f === 'string')) {
      throw new WardenError('WARDEN_DETECT_DATA_INVALID', `${path}: features must be an array of names`);
    }
    data.featureNames = obj.features as string[];
  }
  return data;
}

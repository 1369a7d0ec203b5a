import { closeSync, existsSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument, type YAMLError } from 'yaml';
import type { z } from 'zod';
import { WardenError } from '../errors/index.js';
import { configSchema, type WardenConfig } from './schema.js';

export interface LoadedConfig extends WardenConfig {
  /** Absolute path of the data directory (embedded state, keys, logs). */
  dataDir: string;
  /** The file the configuration came from, if any. */
  configPath: string | null;
}

export interface LoadConfigOptions {
  /** Explicit config file (--config); otherwise WARDEN_CONFIG, otherwise ./warden.yaml when present. */
  configPath?: string;
  /** --data-dir; otherwise WARDEN_DATA_DIR, otherwise .warden */
  dataDir?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Values that win over file and environment (CLI flags). */
  overrides?: Record<string, unknown>;
}

/** camelCase → UPPER_SNAKE, so gateway.maxBodyBytes ↔ WARDEN_GATEWAY_MAX_BODY_BYTES. */
export function envNameFor(path: readonly string[]): string {
  return 'WARDEN_' + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Where a value came from when it was not the file: dotted key → "from WARDEN_…" / "from the command line". */
type Origins = Map<string, string>;

/** The origin of the closest enclosing key set by a variable or flag (a JSON variable sets a whole subtree). */
function originOf(path: readonly PropertyKey[], origins: Origins, file: string): string {
  for (let n = path.length; n > 0; n--) {
    const origin = origins.get(path.slice(0, n).map(String).join('.'));
    if (origin) return origin;
  }
  return `in ${file}`;
}

function formatIssues(error: z.ZodError, origins: Origins, file: string): string {
  return error.issues
    .map((issue) => {
      const where = ` (${originOf(issue.path, origins, file)})`;
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((k) => `${[...issue.path, k].join('.')}: unknown key${where}`).join('; ');
      }
      const path = issue.path.length ? issue.path.join('.') : '(root)';
      return `${path}: ${issue.message}${where}`;
    })
    .join('; ');
}

function coerceEnvValue(raw: string, example: unknown, name: string): unknown {
  if (typeof example === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new WardenError('WARDEN_CONFIG_INVALID', `${name}: expected a number`);
    return n;
  }
  if (typeof example === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new WardenError('WARDEN_CONFIG_INVALID', `${name}: expected true or false`);
  }
  if (Array.isArray(example) || isPlainObject(example)) {
    try {
      return JSON.parse(raw);
    } catch {
      throw new WardenError('WARDEN_CONFIG_INVALID', `${name}: expected JSON`);
    }
  }
  return raw;
}

/** Applies WARDEN_* variables for every key the schema knows (found by walking the defaults). */
function applyEnv(target: Record<string, unknown>, defaults: Record<string, unknown>, env: NodeJS.ProcessEnv, origins: Origins, path: string[] = []): void {
  for (const [key, example] of Object.entries(defaults)) {
    const here = [...path, key];
    const name = envNameFor(here);
    const raw = env[name];
    if (raw !== undefined) {
      target[key] = coerceEnvValue(raw, example, name);
      origins.set(here.join('.'), `from ${name}`);
      continue;
    }
    if (isPlainObject(example)) {
      const child = isPlainObject(target[key]) ? (target[key] as Record<string, unknown>) : {};
      applyEnv(child, example, env, origins, here);
      if (Object.keys(child).length > 0) target[key] = child;
    }
  }
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (!isPlainObject(node[part])) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

/** A configuration file is a few kilobytes; parsing tens of megabytes of YAML takes minutes and gigabytes. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

function readConfigText(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (cause) {
    throw new WardenError('WARDEN_CONFIG_UNREADABLE', `cannot read ${path}`, { cause });
  }
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_CONFIG_BYTES) throw new WardenError('WARDEN_CONFIG_INVALID', `${path} is ${size} bytes, more than the ${MAX_CONFIG_BYTES} a configuration file may have`);
    const text = readFileSync(fd, 'utf8');
    // A pipe or a device reports size 0: its content is held to the same limit.
    if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) throw new WardenError('WARDEN_CONFIG_INVALID', `${path} is more than the ${MAX_CONFIG_BYTES} bytes a configuration file may have`);
    return text;
  } catch (cause) {
    if (cause instanceof WardenError) throw cause;
    throw new WardenError('WARDEN_CONFIG_UNREADABLE', `cannot read ${path}`, { cause });
  } finally {
    closeSync(fd);
  }
}

/**
 * Where a YAML problem is, never what is there: yaml's own messages quote the source line, and
 * that line may be `url: postgres://user:password@…`.
 */
function yamlProblem(e: YAMLError): string {
  const at = e.linePos?.[0];
  return `${e.code}${at ? ` at line ${at.line}, column ${at.col}` : ''}`;
}

export function readConfigFile(path: string): Record<string, unknown> {
  const text = readConfigText(path);
  let doc: unknown;
  try {
    // Silent: the library would otherwise print its warnings, source excerpt included, on stderr.
    const parsed = parseDocument(text, { logLevel: 'silent' });
    const error = parsed.errors[0];
    if (error) throw new WardenError('WARDEN_CONFIG_UNREADABLE', `${path} is not valid YAML: ${yamlProblem(error)}`);
    // A warning is something yaml could not honour (an unknown tag such as !env, read as plain text): refused, not guessed.
    const warning = parsed.warnings[0];
    if (warning) throw new WardenError('WARDEN_CONFIG_INVALID', `${path}: ${yamlProblem(warning)} (Warden supports no YAML tags; use WARDEN_* variables for values from the environment)`);
    doc = parsed.toJS({ maxAliasCount: 100 });
  } catch (cause) {
    if (cause instanceof WardenError) throw cause;
    throw new WardenError('WARDEN_CONFIG_UNREADABLE', `${path} is not valid YAML: ${(cause as Error).message.split('\n')[0]}`, { cause });
  }
  if (doc === null || doc === undefined) return {};
  if (!isPlainObject(doc)) throw new WardenError('WARDEN_CONFIG_INVALID', `${path}: the top level must be a mapping`);
  return doc;
}

/** Loads warden.yaml, applies WARDEN_* variables and CLI overrides, validates, fills defaults. */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const explicit = options.configPath ?? env.WARDEN_CONFIG;
  const implicit = resolve(cwd, 'warden.yaml');
  const configPath = explicit ? resolve(cwd, explicit) : existsSync(implicit) ? implicit : null;

  const raw = configPath ? readConfigFile(configPath) : {};
  const defaults = configSchema.parse({}) as unknown as Record<string, unknown>;
  // A bad value is reported against where it came from: the file, a WARDEN_* variable or a flag.
  const origins: Origins = new Map();
  applyEnv(raw, defaults, env, origins);
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    if (value === undefined) continue;
    setPath(raw, key, value);
    origins.set(key, 'from the command line');
  }

  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new WardenError('WARDEN_CONFIG_INVALID', formatIssues(result.error, origins, configPath ?? 'environment'));
  }
  const dataDir = resolve(cwd, options.dataDir ?? env.WARDEN_DATA_DIR ?? '.warden');
  return { ...result.data, dataDir, configPath };
}

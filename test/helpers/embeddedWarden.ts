import { readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Agent, request } from 'undici';
import { loadConfig } from '../../src/config/index.js';
import { startWarden, type RunningWarden } from '../../src/server/index.js';
import { removeDir, tempDataDir } from './warden.js';

export type AdminAnswer = { status: number; json: Record<string, unknown> & { error?: { code: string; message: string } } };

export interface EmbeddedWarden {
  warden: RunningWarden;
  /** What the process logged at warn and above (JSON lines). */
  logs: string[];
  admin: (method: 'GET' | 'POST' | 'PUT', path: string, body?: object) => Promise<AdminAnswer>;
  /** POST /v1/embeddings for `model` with `key`: status and error code. */
  invoke: (key: string, model: string) => Promise<{ status: number; code: string | undefined }>;
  /** POST /api/v1/keys; the key's id and secret. */
  createKey: (name: string, scopes: string[]) => Promise<{ id: string; key: string }>;
}

/** `warden up --demo` in this process on loopback ports (closed and removed after the test). */
export async function startEmbeddedWarden(t: TestContext, prefix: string): Promise<EmbeddedWarden> {
  const dataDir = tempDataDir(prefix);
  const config = loadConfig({ dataDir, cwd: dataDir, env: {}, overrides: { 'server.port': 0, 'gateway.port': 0 } });
  const logs: string[] = [];
  const logger = pino({ level: 'warn' }, new Writable({ write: (chunk: Buffer, _enc, done) => (logs.push(chunk.toString()), done()) }));
  const warden = await startWarden({ config, logger, demo: true });
  const agent = new Agent({ connect: { ca: readFileSync(warden.ready.caBundle, 'utf8'), servername: 'localhost' } });
  t.after(async () => {
    await agent.close();
    await warden.close();
    removeDir(dataDir);
  });
  const admin: EmbeddedWarden['admin'] = async (method, path, body) => {
    const r = await request(`${warden.ready.adminUrl}/api/v1${path}`, {
      method,
      dispatcher: agent,
      headers: { authorization: `Bearer ${warden.ready.adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: r.statusCode, json: (await r.body.json()) as AdminAnswer['json'] };
  };
  const invoke: EmbeddedWarden['invoke'] = async (key, model) => {
    const r = await request(`${warden.ready.gatewayUrl}/v1/embeddings`, {
      method: 'POST',
      dispatcher: agent,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, input: 'hi' }),
    });
    const text = await r.body.text();
    let code: string | undefined;
    try {
      code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
    } catch {
      code = undefined;
    }
    return { status: r.statusCode, code };
  };
  const createKey: EmbeddedWarden['createKey'] = async (name, scopes) => {
    const r = await admin('POST', '/keys', { name, scopes });
    if (r.status !== 201) throw new Error(`creating ${name}: ${r.status} ${JSON.stringify(r.json)}`);
    return { id: (r.json.record as { id: string }).id, key: r.json.key as string };
  };
  return { warden, logs, admin, invoke, createKey };
}

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

export interface InjectedControlPlane {
  warden: RunningWarden;
  adminToken: string;
  /** One admin API call (fastify inject, no sockets) with this bearer token; `path` is under /api/v1. */
  call: (token: string, method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, headers?: Record<string, string>) => Promise<AdminAnswer>;
  /** POST /pep/tokens as the admin: a new PEP token's id and secret. */
  pepToken: (name: string) => Promise<{ id: string; token: string }>;
}

/** The control plane alone (no gateway, no demo), called in-process; closed and removed after the test. */
export async function startControlPlaneOnly(t: TestContext, prefix: string, overrides: Record<string, unknown> = {}): Promise<InjectedControlPlane> {
  const dataDir = tempDataDir(prefix);
  const config = loadConfig({ dataDir, cwd: dataDir, env: {}, overrides: { 'server.port': 0, ...overrides } });
  const warden = await startWarden({ config, logger: pino({ level: 'silent' }), demo: false, gateway: false });
  t.after(async () => {
    await warden.close();
    removeDir(dataDir);
  });
  const adminToken = warden.ready.adminToken!;
  const call: InjectedControlPlane['call'] = async (token, method, path, body, headers = {}) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const sent = { authorization: `Bearer ${token}`, ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...headers };
    const r = await warden.controlPlane.app.inject({ method, url: `/api/v1${path}`, headers: sent, payload });
    return { status: r.statusCode, json: r.json() as AdminAnswer['json'] };
  };
  const pepToken: InjectedControlPlane['pepToken'] = async (name) => {
    const r = await call(adminToken, 'POST', '/pep/tokens', { name });
    if (r.status !== 201) throw new Error(`creating PEP token ${name}: ${r.status} ${JSON.stringify(r.json)}`);
    return { id: r.json.id as string, token: r.json.token as string };
  };
  return { warden, adminToken, call, pepToken };
}

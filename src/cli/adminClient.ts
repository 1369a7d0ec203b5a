import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { WardenError, type ErrorCode } from '../errors/index.js';
import type { Command } from 'commander';
import type { LoadedConfig } from '../config/index.js';
import { configFor } from './context.js';
import { adminApiTls } from '../identity/controlPlaneIdentity.js';
import { checkControlPlaneUrl } from '../identity/controlPlaneUrl.js';
import { redactUrl } from '../observe/logger.js';

export interface AdminClientOptions {
  /** Admin API base URL; default from <data-dir>/server.json (written by `warden up`) or the config. */
  url?: string;
  /** Admin token; default WARDEN_ADMIN_TOKEN. */
  token?: string;
  /** CA bundle; default <data-dir>/bundle.pem. */
  caFile?: string;
}

/** Talks to a running control plane's admin API, like the console does (no back door). */
export class AdminClient {
  private readonly agent: Agent;
  readonly baseUrl: string;

  constructor(
    baseUrl: string,
    private readonly token: string,
    ca: string | undefined,
  ) {
    this.baseUrl = checkControlPlaneUrl(baseUrl, 'admin API URL');
    // With Warden's own bundle the admin token goes only to the control plane's SPIFFE ID.
    this.agent = new Agent({ connect: adminApiTls(ca) });
  }

  static fromConfig(config: LoadedConfig, options: AdminClientOptions = {}): AdminClient {
    const token = options.token ?? process.env.WARDEN_ADMIN_TOKEN;
    if (!token) throw new WardenError('WARDEN_AUTHN_ADMIN_REQUIRED', 'set WARDEN_ADMIN_TOKEN (printed by the first `warden up`) or pass --token');
    let url = options.url ?? process.env.WARDEN_ADMIN_URL;
    const serverFile = join(config.dataDir, 'server.json');
    if (!url && existsSync(serverFile)) {
      try {
        url = (JSON.parse(readFileSync(serverFile, 'utf8')) as { adminUrl?: string }).adminUrl;
      } catch {
        /* fall back to config */
      }
    }
    url ??= `https://${config.server.host}:${config.server.port}`;
    const caFile = options.caFile ?? process.env.WARDEN_CA_FILE ?? join(config.dataDir, 'bundle.pem');
    const ca = existsSync(caFile) ? readFileSync(caFile, 'utf8') : undefined;
    return new AdminClient(url, token, ca);
  }

  async call<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    let res;
    try {
      res = await request(this.baseUrl + path, {
        method,
        dispatcher: this.agent,
        headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (cause) {
      const reason = (cause as { code?: string }).code ?? (cause as Error).message;
      throw new WardenError('WARDEN_UNAVAILABLE', `cannot reach the admin API at ${redactUrl(this.baseUrl)}: ${reason} (is \`warden up\` running?)`, { cause });
    }
    const text = await res.body.text();
    let json: unknown = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      /* non-JSON error body */
    }
    if (res.statusCode >= 400) {
      const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new WardenError((e?.code as ErrorCode) ?? 'WARDEN_INTERNAL', e?.message ?? `admin API answered ${res.statusCode}`, { status: res.statusCode });
    }
    return json as T;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/**
 * Runs `fn` with an admin API client for this command (its --server/--token options when it has
 * them, otherwise server.json and WARDEN_ADMIN_TOKEN) and always closes the client.
 */
export async function withAdminClient<T>(cmd: Command, fn: (client: AdminClient) => Promise<T>): Promise<T> {
  const o = cmd.optsWithGlobals() as { server?: string; token?: string };
  const client = AdminClient.fromConfig(configFor(cmd), { url: o.server, token: o.token });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** Adds `--server` and `--token`, the options `withAdminClient` reads, to a command that talks to the admin API. */
export function withAdminOptions(cmd: Command): Command {
  return cmd.option('--server <url>', 'admin API URL (default from <data-dir>/server.json)').option('--token <token>', 'admin token (default $WARDEN_ADMIN_TOKEN)');
}

import { Agent, request } from 'undici';
import { controlPlaneTls } from './controlPlaneIdentity.js';
import { WardenError, type ErrorCode } from '../errors/index.js';
import { redactUrl } from '../observe/logger.js';
import { checkControlPlaneUrl } from './controlPlaneUrl.js';

export interface SvidResponse {
  spiffeId: string;
  serial: string;
  certPem: string;
  chainPem: string;
  bundlePem: string;
  notBefore: string;
  notAfter: string;
}

/** TLS credentials an agent presents (its current SVID) and trusts (the bundle). */
export interface ClientCredentials {
  bundlePem: string;
  chainPem?: string;
  keyPem?: string;
}

/** Workload-side client of the control plane's identity API (attest, renew, JWT, revocations). */
export class IdentityClient {
  private agent: Agent;
  readonly serverUrl: string;
  constructor(
    serverUrl: string,
    private creds: ClientCredentials,
    private readonly timeoutMs = 30_000,
  ) {
    this.serverUrl = checkControlPlaneUrl(serverUrl);
    this.agent = this.makeAgent();
  }

  private makeAgent(): Agent {
    return new Agent({
      connect: { ...controlPlaneTls(this.creds.bundlePem), cert: this.creds.chainPem, key: this.creds.keyPem, timeout: this.timeoutMs },
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  /** Switches to new credentials (after a rotation); in-flight requests finish on the old connection. */
  setCredentials(creds: ClientCredentials): void {
    const old = this.agent;
    this.creds = creds;
    this.agent = this.makeAgent();
    void old.close().catch(() => undefined);
  }

  get dispatcher(): Agent {
    return this.agent;
  }

  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let res;
    try {
      res = await request(this.serverUrl + path, {
        method,
        dispatcher: this.agent,
        headers: body !== undefined ? { 'content-type': 'application/json' } : {},
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (cause) {
      throw new WardenError('WARDEN_UNAVAILABLE', `cannot reach the control plane at ${redactUrl(this.serverUrl)}`, { cause });
    }
    const text = await res.body.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (res.statusCode >= 400) {
      const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new WardenError((e?.code as ErrorCode) ?? 'WARDEN_INTERNAL', e?.message ?? `control plane answered ${res.statusCode}`, { status: res.statusCode });
    }
    return json as T;
  }

  attest(body: { csr: string; joinToken?: string; k8sToken?: string; spiffeId?: string; ttlSeconds?: number }): Promise<SvidResponse> {
    return this.call('POST', '/api/v1/identity/attest', body);
  }

  renew(csr: string, ttlSeconds?: number): Promise<SvidResponse> {
    return this.call('POST', '/api/v1/identity/renew', { csr, ttlSeconds });
  }

  jwt(audience: string | string[], ttlSeconds?: number): Promise<{ token: string; spiffeId: string; expiresAt: string }> {
    return this.call('POST', '/api/v1/identity/jwt', { audience, ttlSeconds });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

import { createServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type JWK, type CryptoKey } from 'jose';

export interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

export async function makeKey(kid: string, alg = 'ES256'): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, jwk };
}

/** A test OIDC issuer: a real HTTP JWKS endpoint on 127.0.0.1 whose keys and availability the test controls. */
export class TestIssuer {
  keys: TestKey[] = [];
  hits = 0;
  down = false;
  private server: Server | null = null;
  url = '';

  constructor(readonly issuer: string) {}

  /** Serves over HTTPS with `tls` (certificate chain and key, PEM), else plain HTTP. */
  async start(tls?: { certPem: string; keyPem: string }): Promise<this> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.hits++;
      if (this.down || req.url !== '/jwks.json') {
        res.writeHead(this.down ? 503 : 404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: this.keys.map((k) => k.jwk) }));
    };
    this.server = tls ? createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, handler) : createServer(handler);
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `${tls ? 'https' : 'http'}://127.0.0.1:${(this.server.address() as AddressInfo).port}/jwks.json`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }

  /** Signs a token; `nowSeconds` anchors iat/exp so tests can use a fake clock. */
  async sign(key: TestKey, o: { sub?: string | null; aud?: string | string[]; iss?: string | null; expIn?: number; nowSeconds: number; claims?: Record<string, unknown>; header?: Record<string, unknown> }): Promise<string> {
    const jwt = new SignJWT({ ...(o.claims ?? {}) }).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...(o.header ?? {}) }).setIssuedAt(o.nowSeconds).setExpirationTime(o.nowSeconds + (o.expIn ?? 300));
    if (o.sub !== null) jwt.setSubject(o.sub ?? 'alice');
    if (o.iss !== null) jwt.setIssuer(o.iss ?? this.issuer);
    jwt.setAudience(o.aud ?? 'warden-gateway');
    return jwt.sign(key.privateKey);
  }
}

// JWT bearer verification micro-benchmark: JwtAuthenticator (issuer dispatch, JWKS cache,
// claim mapping) against jose's jwtVerify with a local key set (baseline: the signature and
// claim checks alone). The JWKS is served once by a local HTTP server on 127.0.0.1.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { JwtAuthenticator } from '../src/gateway/authn/index.js';

const durationMs = Number(process.env.BENCH_DURATION_MS ?? 1000);
const { privateKey, publicKey } = await generateKeyPair('ES256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const jwksUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
const issuer = 'https://idp.bench.test';
const token = await new SignJWT({ groups: ['ml', 'eng'], tenant: 'acme' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(issuer).setAudience('gw').setSubject('alice').setIssuedAt().setExpirationTime('1h').sign(privateKey);

// Cache off for the first two rows so they measure verification itself.
const one = new JwtAuthenticator({ issuers: [{ issuer, audience: 'gw', jwksUri, allowedAlgorithms: ['ES256'] }], verifiedCacheSize: 0 });
const three = new JwtAuthenticator({ issuers: [{ issuer: 'https://a.test', audience: 'gw', jwksUri }, { issuer: 'https://b.test', audience: 'gw', jwksUri }, { issuer, audience: 'gw', jwksUri, allowedAlgorithms: ['ES256'] }], verifiedCacheSize: 0 });
const cached = new JwtAuthenticator({ issuers: [{ issuer, audience: 'gw', jwksUri, allowedAlgorithms: ['ES256'] }] });
await one.warm();
await three.warm();
await cached.warm();
const local = createLocalJWKSet({ keys: [jwk] });

async function measure(fn: () => Promise<unknown>): Promise<{ opsPerSec: number; nsPerOp: number }> {
  for (let i = 0; i < 500; i++) await fn();
  let ops = 0;
  const start = process.hrtime.bigint();
  const stop = Date.now() + durationMs;
  while (Date.now() < stop) {
    for (let i = 0; i < 100; i++) await fn();
    ops += 100;
  }
  const ns = Number(process.hrtime.bigint() - start);
  return { opsPerSec: (ops / ns) * 1e9, nsPerOp: ns / ops };
}

const rows = [
  { name: 'jose jwtVerify, local JWKS (baseline)', r: await measure(() => jwtVerify(token, local, { issuer, audience: 'gw', algorithms: ['ES256'] })) },
  { name: 'JwtAuthenticator, 1 issuer', r: await measure(() => one.authenticate(token)) },
  { name: 'JwtAuthenticator, 3 issuers (dispatch by iss)', r: await measure(() => three.authenticate(token)) },
  { name: 'JwtAuthenticator, token seen before (verified cache)', r: await measure(() => cached.authenticate(token)) },
];
server.close();
console.log(`authn micro-benchmark (${new Date().toISOString()}, node ${process.version}, ES256, ${durationMs} ms per row)`);
console.log('| case | ops/s | µs/op | × baseline time |');
console.log('|---|---:|---:|---:|');
for (const { name, r } of rows) console.log(`| ${name} | ${Math.round(r.opsPerSec).toLocaleString('en-US')} | ${(r.nsPerOp / 1000).toFixed(1)} | ${(r.nsPerOp / rows[0]!.r.nsPerOp).toFixed(2)} |`);

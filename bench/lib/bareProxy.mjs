// A bare reverse proxy with keep-alive and no checks: what "just proxying" costs in Node.
// Usage: node bareProxy.mjs <upstream-url> [<cert.pem> <key.pem>]   (prints its port)
// With a certificate and key it listens on HTTPS (TLS termination and nothing else).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { Pool } from 'undici';

const [upstreamUrl, certPath, keyPath] = process.argv.slice(2);
const pool = new Pool(upstreamUrl, { connections: 64 });
const handler = async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  try {
    const r = await pool.request({ path: req.url, method: req.method, headers: { 'content-type': req.headers['content-type'] ?? 'application/json' }, body: chunks.length ? Buffer.concat(chunks) : undefined });
    res.writeHead(r.statusCode, { 'content-type': r.headers['content-type'] });
    for await (const c of r.body) res.write(c);
    res.end();
  } catch {
    res.writeHead(502);
    res.end();
  }
};
const server = certPath ? createTlsServer({ cert: readFileSync(certPath), key: readFileSync(keyPath), minVersion: 'TLSv1.2' }, handler) : createServer(handler);
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));

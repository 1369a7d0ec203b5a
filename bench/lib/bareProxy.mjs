// A bare reverse proxy with keep-alive and no checks: what "just proxying" costs in Node.
// Usage: node bareProxy.mjs <upstream-url>   (prints its port)
import { createServer } from 'node:http';
import { Pool } from 'undici';

const pool = new Pool(process.argv[2], { connections: 64 });
const server = createServer(async (req, res) => {
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
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));

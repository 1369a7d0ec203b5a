import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedModelServer {
  port: number;
  url: string;
  /** Request bodies the model server read in full, in order. */
  bodies: string[];
  received(): number;
  /** Upstream requests that ended: `true` when the gateway aborted them before they were complete. */
  closed: boolean[];
  stop(): Promise<void>;
}

/** A model server on 127.0.0.1 that answers each request (once its body is read) with `answer`, and records what it got. */
export async function startScriptedModelServer(answer: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<ScriptedModelServer> {
  const bodies: string[] = [];
  const closed: boolean[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      bodies.push(body);
      answer(req, res, body);
    });
    res.on('close', () => closed.push(!res.writableFinished));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    bodies,
    received: () => bodies.length,
    closed,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A model server that answers every request with this JSON. */
export function startJsonModelServer(json: string): Promise<ScriptedModelServer> {
  return startScriptedModelServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(json));
}

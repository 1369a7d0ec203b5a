import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { loadIrisDataset, trainIrisClassifier, type IrisModel } from './irisClassifier.js';
import { loadIrisModel } from './irisModelFile.js';

/** Header the gateway's admission stage checks against the registry's pinned digest (src/gateway/stages/admit.ts). */
const MODEL_DIGEST_HEADER = 'x-warden-model-digest';

/**
 * The `--demo` upstream: a real iris classifier over Open Inference Protocol v2 and an
 * OpenAI-compatible echo model, on loopback. It trusts the gateway in front of it and
 * does no auth of its own — exactly the kind of model server Warden protects.
 */
export interface DemoModelServer {
  url: string;
  irisAccuracy: number;
  /** Manifest root digest of the loaded iris model directory (`irisModelDir`), else null. */
  irisDigest: string | null;
  close(): Promise<void>;
}

const MAX_BODY = 4 * 1024 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, extra?: Record<string, string>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

function irisMetadata(model: IrisModel) {
  return {
    name: 'iris',
    versions: ['1'],
    platform: 'warden-demo-softmax',
    inputs: [{ name: 'input-0', datatype: 'FP32', shape: [-1, model.featureNames.length] }],
    outputs: [
      { name: 'probabilities', datatype: 'FP32', shape: [-1, model.classes.length] },
      { name: 'label', datatype: 'INT64', shape: [-1] },
    ],
    parameters: { classes: model.classes, features: model.featureNames },
  };
}

function infer(model: IrisModel, body: unknown): { status: number; body: unknown } {
  const input = (body as { inputs?: { shape?: number[]; data?: unknown[] }[] })?.inputs?.[0];
  const width = model.featureNames.length;
  if (!input || !Array.isArray(input.data) || !Array.isArray(input.shape) || input.shape.length !== 2 || input.shape[1] !== width) {
    return { status: 400, body: { error: `expected inputs[0] with shape [N,${width}] and flat data` } };
  }
  const flat = input.data.flat(Infinity) as unknown[];
  const n = input.shape[0]!;
  if (flat.length !== n * width || flat.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    return { status: 400, body: { error: 'data length must equal N*4 finite numbers' } };
  }
  const rows = Array.from({ length: n }, (_, i) => (flat as number[]).slice(i * width, (i + 1) * width));
  const probs = model.predictProba(rows);
  return {
    status: 200,
    body: {
      model_name: 'iris',
      model_version: '1',
      outputs: [
        { name: 'probabilities', shape: [n, model.classes.length], datatype: 'FP32', data: probs.flat() },
        { name: 'label', shape: [n], datatype: 'INT64', data: probs.map((p) => p.indexOf(Math.max(...p))) },
      ],
    },
  };
}

function accuracyOf(model: IrisModel): number {
  const { features, labels } = loadIrisDataset();
  return model.predictProba(features).filter((p, i) => p.indexOf(Math.max(...p)) === labels[i]).length / features.length;
}

function lastUserText(body: { messages?: { role?: string; content?: unknown }[] }): string {
  const msgs = Array.isArray(body.messages) ? body.messages : [];
  const last = [...msgs].reverse().find((m) => m?.role === 'user');
  const c = last?.content;
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) return c.map((p) => (typeof p === 'object' && p && 'text' in p ? String((p as { text: unknown }).text) : '')).join(' ');
  return '';
}

function countTokens(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

function chat(req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>): void {
  const text = `echo: ${lastUserText(body as { messages?: { role?: string; content?: unknown }[] })}`;
  const id = `chatcmpl-${createHash('sha256').update(text + Date.now()).digest('hex').slice(0, 12)}`;
  const created = Math.floor(Date.now() / 1000);
  const model = typeof body.model === 'string' ? body.model : 'echo';
  const promptTokens = countTokens(JSON.stringify(body.messages ?? ''));
  const completionTokens = countTokens(text);
  if (body.stream === true) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const words = text.split(/(?<= )/);
    let i = 0;
    const delayMs = Number(req.headers['x-demo-chunk-delay-ms'] ?? 0) || 0;
    const base = { id, object: 'chat.completion.chunk', created, model };
    res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] })}\n\n`);
    const next = (): void => {
      if (res.destroyed) return;
      if (i < words.length) {
        res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: words[i++] }, finish_reason: null }] })}\n\n`);
        if (delayMs) setTimeout(next, delayMs);
        else setImmediate(next);
        return;
      }
      res.write(
        `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens } })}\n\n`,
      );
      res.end('data: [DONE]\n\n');
    };
    next();
    return;
  }
  send(res, 200, {
    id,
    object: 'chat.completion',
    created,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
  });
}

function embedding(text: string, dims = 16): number[] {
  const h = createHash('sha512').update(text).digest();
  const v = Array.from({ length: dims }, (_, i) => (h[i % h.length]! - 127.5) / 127.5);
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
  return v.map((x) => x / norm);
}

export interface DemoModelServerOptions {
  port?: number;
  host?: string;
  /**
   * Serve iris from a saved model directory (`saveIrisModel`) instead of training it, and report
   * the directory's manifest root digest in `x-warden-model-digest` on every iris answer.
   */
  irisModelDir?: string;
}

export async function startDemoModelServer(options: DemoModelServerOptions = {}): Promise<DemoModelServer> {
  const loaded = options.irisModelDir ? await loadIrisModel(options.irisModelDir) : null;
  const trained = loaded ? null : trainIrisClassifier();
  const iris: IrisModel = loaded?.model ?? trained!;
  const irisHeaders = loaded ? { [MODEL_DIGEST_HEADER]: `sha256:${loaded.digest}` } : undefined;
  const server: Server = createServer(async (req, res) => {
    try {
      const url = req.url ?? '/';
      if (req.method === 'GET' && (url === '/v2/health/live' || url === '/v2/health/ready' || url === '/healthz')) return send(res, 200, { live: true, ready: true });
      if (req.method === 'GET' && url === '/v2') return send(res, 200, { name: 'warden-demo', version: '1', extensions: [] });
      if (req.method === 'GET' && /^\/v2\/models\/iris(\/versions\/1)?\/ready$/.test(url)) return send(res, 200, { name: 'iris', ready: true });
      if (req.method === 'GET' && /^\/v2\/models\/iris(\/versions\/1)?$/.test(url)) return send(res, 200, irisMetadata(iris), irisHeaders);
      if (req.method === 'GET' && url === '/v1/models') {
        return send(res, 200, { object: 'list', data: ['echo', 'iris'].map((id) => ({ id, object: 'model', created: 0, owned_by: 'warden-demo' })) });
      }
      if (req.method !== 'POST') return send(res, 404, { error: 'not found' });
      const raw = await readBody(req);
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return send(res, 400, { error: 'invalid JSON' });
      }
      if (/^\/v2\/models\/iris(\/versions\/1)?\/infer$/.test(url)) {
        const r = infer(iris, body);
        return send(res, r.status, r.body, irisHeaders);
      }
      if (url === '/v1/chat/completions') return chat(req, res, body);
      if (url === '/v1/completions') {
        const prompt = typeof body.prompt === 'string' ? body.prompt : '';
        return send(res, 200, {
          id: 'cmpl-demo',
          object: 'text_completion',
          created: Math.floor(Date.now() / 1000),
          model: body.model ?? 'echo',
          choices: [{ index: 0, text: `echo: ${prompt}`, finish_reason: 'stop', logprobs: null }],
          usage: { prompt_tokens: countTokens(prompt), completion_tokens: countTokens(prompt) + 1, total_tokens: 2 * countTokens(prompt) + 1 },
        });
      }
      if (url === '/v1/embeddings') {
        const inputs = Array.isArray(body.input) ? body.input.map(String) : [String(body.input ?? '')];
        return send(res, 200, {
          object: 'list',
          model: body.model ?? 'echo',
          data: inputs.map((t, index) => ({ object: 'embedding', index, embedding: embedding(t) })),
          usage: { prompt_tokens: inputs.reduce((s, t) => s + countTokens(t), 0), total_tokens: inputs.reduce((s, t) => s + countTokens(t), 0) },
        });
      }
      return send(res, 404, { error: 'not found' });
    } catch {
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    }
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    irisAccuracy: trained?.trainingAccuracy ?? accuracyOf(iris),
    irisDigest: loaded?.digest ?? null,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

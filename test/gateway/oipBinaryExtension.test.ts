import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { upstreamConfig } from '../../src/config/index.js';
import { startTestGateway, TEST_KEY } from '../helpers/inProcessGateway.js';

// Triton clients default to the binary tensor extension: a JSON header, then raw tensor bytes,
// with Inference-Header-Content-Length. The gateway cannot inspect raw tensors, so it refuses them
// with an error that says so (not "request body is not valid JSON").
test('OIP binary tensor extension: refused with a clear 400 naming the extension', async () => {
  const gw = await startTestGateway({ upstreams: [upstreamConfig.parse({ name: 'u', url: 'http://127.0.0.1:9', models: ['iris'] })] });
  try {
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input-0', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: 16 } }] }));
    const body = Buffer.concat([header, Buffer.from(new Float32Array([5.1, 3.5, 1.4, 0.2]).buffer)]);
    const r = await request(`${gw.url}/v2/models/iris/infer`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
      body,
    });
    const json = (await r.body.json()) as { error: { code: string; message: string } };
    assert.equal(r.statusCode, 400);
    assert.equal(json.error.code, 'WARDEN_GATEWAY_INVALID_REQUEST');
    assert.match(json.error.message, /binary tensor extension/);
  } finally {
    await gw.close(0);
  }
});

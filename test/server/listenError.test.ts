import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { listenError } from '../../src/server/listenError.js';
import { WardenError } from '../../src/errors/index.js';
import { runCli, tempDataDir, removeDir } from '../helpers/warden.js';

async function occupiedPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { port: (server.address() as AddressInfo).port, server };
}

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`listen ${code}`), { code, syscall: 'listen' });
const gateway = { listener: 'gateway', host: '127.0.0.1', port: 443, portFlag: '--port-gateway N (warden up)', portKey: 'gateway.port' } as const;

test('listen failures an operator can fix get WARDEN_CONFIG_LISTEN_FAILED and name the option; others pass through', () => {
  const inUse = listenError(errno('EADDRINUSE'), gateway) as WardenError;
  assert.ok(inUse instanceof WardenError);
  assert.equal(inUse.code, 'WARDEN_CONFIG_LISTEN_FAILED');
  assert.match(inUse.message, /^the gateway cannot listen on 127\.0\.0\.1:443: the address is already in use/);
  assert.match(inUse.message, /--port-gateway N \(warden up\), gateway\.port in warden\.yaml or WARDEN_GATEWAY_PORT/);
  assert.match((listenError(errno('EACCES'), gateway) as WardenError).message, /permission denied .*WARDEN_GATEWAY_PORT/);
  const notLocal = listenError(errno('EADDRNOTAVAIL'), { ...gateway, host: '::2' }) as WardenError;
  assert.match(notLocal.message, /listen on \[::2\]:443: the address is not on this machine; set gateway\.host in warden\.yaml or WARDEN_GATEWAY_HOST/);
  const other = new Error('boom');
  assert.equal(listenError(other, gateway), other);
});

test('warden up / warden server on a busy port: one WARDEN_CONFIG_LISTEN_FAILED line naming the flag, exit 2', async () => {
  const busy = await occupiedPort();
  const dataDir = tempDataDir('warden-listen-');
  try {
    const up = await runCli(['--data-dir', dataDir, 'up', '--port-gateway', String(busy.port), '--port-admin', '0', '--ready-json']);
    assert.equal(up.code, 2, up.stderr);
    assert.equal(up.stdout, '');
    assert.match(up.stderr, new RegExp(`^WARDEN_CONFIG_LISTEN_FAILED: the gateway cannot listen on 127\\.0\\.0\\.1:${busy.port}: the address is already in use.*--port-gateway`, 'm'));
    assert.doesNotMatch(up.stderr, /WARDEN_INTERNAL/);

    const server = await runCli(['--data-dir', dataDir, 'server', '--port-admin', String(busy.port), '--ready-json']);
    assert.equal(server.code, 2, server.stderr);
    assert.match(server.stderr, new RegExp(`^WARDEN_CONFIG_LISTEN_FAILED: the admin API cannot listen on 127\\.0\\.0\\.1:${busy.port}: .*--port-admin N .*server\\.port in warden\\.yaml or WARDEN_SERVER_PORT`, 'm'));
  } finally {
    await new Promise((r) => busy.server.close(r));
    removeDir(dataDir);
  }
});

import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { FileSource, type RandomSource } from '../../src/scan/io/RandomSource.js';
import { scanFile } from '../../src/scan/index.js';
import { P, scanBytes } from './helpers/scanBytes.js';
import { gguf } from './helpers/writers.js';

const GiB = 1024 ** 3;

/** Counts bytes actually read, to prove payloads are skipped by offset. */
class CountingSource implements RandomSource {
  bytesRead = 0;
  constructor(private readonly inner: RandomSource) {}
  get size(): number {
    return this.inner.size;
  }
  async read(offset: number, length: number): Promise<Buffer> {
    const b = await this.inner.read(offset, length);
    this.bytesRead += b.length;
    return b;
  }
}

/** Writes `head`, a sparse hole of `hole` bytes, then `tail`: multi-GB files in no time or disk. */
function sparseFile(path: string, head: Buffer, hole: number, tail: Buffer = Buffer.alloc(0)): void {
  const fd = openSync(path, 'w');
  writeSync(fd, head, 0, head.length, 0);
  ftruncateSync(fd, head.length + hole);
  if (tail.length) writeSync(fd, tail, 0, tail.length, head.length + hole);
  closeSync(fd);
}

async function countedScan(path: string): Promise<{ bytesRead: number; rules: string[]; format: string }> {
  const file = await FileSource.open(path);
  try {
    const src = new CountingSource(file);
    const r = await scanBytes(src, path);
    return { bytesRead: src.bytesRead, rules: r.rules, format: r.format };
  } finally {
    await file.close();
  }
}

describe('streaming: payloads are skipped by offset, not read', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'warden-scan-stream-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads only the header of a 4 GiB safetensors file', async () => {
    const elements = GiB; // F32 -> 4 GiB
    const json = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [elements], data_offsets: [0, elements * 4] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    const path = join(dir, 'big.safetensors');
    sparseFile(path, Buffer.concat([len, json]), elements * 4);
    const r = await countedScan(path);
    assert.equal(r.format, 'safetensors');
    assert.deepEqual(r.rules, []);
    assert.ok(r.bytesRead < 64 * 1024, `read ${r.bytesRead} bytes`);
    const report = await scanFile(path, { hash: false });
    assert.equal(report.sha256, null);
    assert.deepEqual(report.findings, []);
  });

  it('skips a 3 GiB BINBYTES8 payload inside a pickle and still sees the opcodes after it', async () => {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(3n * BigInt(GiB));
    const head = P.cat(P.proto(4), P.op('}'), P.su('blob'), P.op(0x8e), len);
    const tail = P.cat(P.op('s'), P.su('x'), P.global('os', 'system'), P.su('id'), P.op(0x85, 'R', 's', '.'));
    const path = join(dir, 'big.pkl');
    sparseFile(path, head, 3 * GiB, tail);
    const r = await countedScan(path);
    assert.deepEqual(r.rules, ['pickle/dangerous-global']);
    assert.ok(r.bytesRead < 4 * 1024 * 1024, `read ${r.bytesRead} bytes`);
  });

  it('does not read the 1 GiB tensor storage of a PyTorch zip', async () => {
    const pkl = P.cat(P.proto(2), P.op('}', '.'));
    const storageSize = GiB;
    const members = [
      { name: 'archive/data.pkl', data: pkl, size: pkl.length },
      { name: 'archive/data/0', data: null, size: storageSize },
    ];
    const path = join(dir, 'big.pt');
    const fd = openSync(path, 'w');
    let offset = 0;
    const central: Buffer[] = [];
    for (const m of members) {
      const name = Buffer.from(m.name);
      const local = Buffer.alloc(30);
      local.writeUInt32LE(0x04034b50, 0);
      local.writeUInt16LE(20, 4);
      local.writeUInt32LE(m.data ? crc32(m.data) : 0, 14);
      local.writeUInt32LE(m.size, 18);
      local.writeUInt32LE(m.size, 22);
      local.writeUInt16LE(name.length, 26);
      writeSync(fd, Buffer.concat([local, name, m.data ?? Buffer.alloc(0)]), 0, undefined, offset);
      const c = Buffer.alloc(46);
      c.writeUInt32LE(0x02014b50, 0);
      c.writeUInt16LE(20, 4);
      c.writeUInt16LE(20, 6);
      c.writeUInt32LE(m.data ? crc32(m.data) : 0, 16);
      c.writeUInt32LE(m.size, 20);
      c.writeUInt32LE(m.size, 24);
      c.writeUInt16LE(name.length, 28);
      c.writeUInt32LE(offset, 42);
      central.push(c, name);
      offset += 30 + name.length + m.size;
    }
    const cd = Buffer.concat(central);
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(0x06054b50, 0);
    eocd.writeUInt16LE(members.length, 8);
    eocd.writeUInt16LE(members.length, 10);
    eocd.writeUInt32LE(cd.length, 12);
    eocd.writeUInt32LE(offset, 16);
    writeSync(fd, Buffer.concat([cd, eocd]), 0, undefined, offset);
    closeSync(fd);
    const r = await countedScan(path);
    assert.equal(r.format, 'pytorch-zip');
    assert.deepEqual(r.rules, []);
    assert.ok(r.bytesRead < 4 * 1024 * 1024, `read ${r.bytesRead} bytes`);
  });

  it('reads only the header of a GGUF file with 2 GiB of tensor data', async () => {
    const head = gguf([['general.name', { type: 'str', v: 'big' }]], [{ name: 'w', dims: [512 * 1024 * 1024] }], { omitData: true });
    const path = join(dir, 'big.gguf');
    sparseFile(path, head, 2 * GiB);
    const r = await countedScan(path);
    assert.equal(r.format, 'gguf');
    assert.deepEqual(r.rules, []);
    assert.ok(r.bytesRead < 256 * 1024, `read ${r.bytesRead} bytes`);
    const cut = join(dir, 'cut.gguf');
    sparseFile(cut, head, 2 * GiB - 4);
    assert.deepEqual((await countedScan(cut)).rules, ['gguf/invalid']);
  });
});

describe('file identity during a scan', () => {
  it('notices a file that changes after it was opened', async () => {
    const { appendFileSync, writeFileSync } = await import('node:fs');
    const dir = mkdtempSync(join(tmpdir(), 'warden-scan-change-'));
    try {
      const path = join(dir, 'm.pkl');
      writeFileSync(path, P.cat(P.proto(2), P.op('}', '.')));
      const src = await FileSource.open(path);
      assert.equal(await src.changedSinceOpen(), false);
      appendFileSync(path, Buffer.from('more'));
      assert.equal(await src.changedSinceOpen(), true);
      await src.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

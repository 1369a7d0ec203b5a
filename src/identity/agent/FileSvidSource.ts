import { EventEmitter } from 'node:events';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { WardenError } from '../../errors/index.js';
import { checkLeafShape } from '../verifyPeerSvid.js';
import { normalizeSerial } from '../x509.js';
import type { SvidMaterial, SvidSource } from './WorkloadAgent.js';

/** Reads svid.pem / svid.key / bundle.pem written by `warden agent` and reloads them on change. */
export class FileSvidSource extends EventEmitter implements SvidSource {
  private svid: SvidMaterial | null = null;
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly dir: string) {
    super();
    this.reload(true);
    this.watcher = watch(dir, () => {
      // Debounce: the agent renames three files in a row.
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => this.reload(false), 50);
    });
    this.watcher.unref();
  }

  private reload(initial: boolean): void {
    try {
      const chainPem = readFileSync(join(this.dir, 'svid.pem'), 'utf8');
      const keyPem = readFileSync(join(this.dir, 'svid.key'), 'utf8');
      const bundlePem = readFileSync(join(this.dir, 'bundle.pem'), 'utf8');
      const leaf = new X509Certificate(chainPem);
      const next: SvidMaterial = {
        spiffeId: checkLeafShape(leaf),
        serial: normalizeSerial(leaf.serialNumber),
        chainPem,
        keyPem,
        bundlePem,
        notBefore: new Date(leaf.validFrom),
        notAfter: new Date(leaf.validTo),
      };
      if (this.svid?.serial === next.serial && this.svid.bundlePem === bundlePem) return;
      this.svid = next;
      if (!initial) this.emit('rotated', next);
    } catch (cause) {
      if (initial) throw new WardenError('WARDEN_IDENTITY_AGENT_NOT_READY', `no SVID in ${this.dir} (is \`warden agent\` running?)`, { cause });
      // Mid-rotation read: keep the previous SVID, the next event reloads.
    }
  }

  current(): SvidMaterial | null {
    return this.svid && this.svid.notAfter.getTime() > Date.now() ? this.svid : null;
  }

  close(): void {
    this.watcher?.close();
    if (this.timer) clearTimeout(this.timer);
  }
}

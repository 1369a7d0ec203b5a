import type { AuditLog } from '../audit/index.js';
import { WardenError, toWardenError } from '../errors/index.js';
import { SourceAddressTracker, normalizeAddress, parseSpiffeId, type VerifiedSvid } from '../identity/index.js';
import type { Logger } from '../observe/index.js';
import type { Alarm, FiredAlert } from '../respond/index.js';

export const SVID_NEW_ADDRESS_DETECTOR = 'svid-new-address';

export interface SvidAddressWatchOptions {
  tracker: SourceAddressTracker;
  /** How long the request from a new address waits for the alert (0 = not at all). */
  holdMs: number;
  /** Hands the alarm to the alert engine; resolves once bound runbooks ran. Null = response disabled. */
  raise: ((alarm: Alarm) => Promise<FiredAlert[]>) | null;
  audit: Pick<AuditLog, 'append'>;
  logger: Logger;
  /**
   * Resolves once the SVID is revoked (the runbook's quarantine step), so the held request is
   * refused then rather than after the runbook's later steps (evidence). `cancel` detaches.
   */
  whenRevoked?: (who: VerifiedSvid) => { revoked: Promise<void>; cancel: () => void };
  /** Whether the SVID is revoked now: a revoked SVID is contained whatever the alert reported. */
  isRevoked?: (who: VerifiedSvid) => boolean;
}

/**
 * "SVID used from a new address", in the control plane's workload API. Every verified use of an
 * X.509-SVID is checked against the addresses that SVID was issued to or first used from; a new
 * one raises the `svid-new-address` alarm (SPIFFE ID, serial, addresses; never key material).
 *
 * Fail safe: the request from the new address is held until the alert rule and its runbook ran,
 * so a quarantined SVID gets no answer at all (the caller re-verifies after `check` returns true).
 * If the alert cannot be handled within `holdMs` or fails, that request is refused with 503
 * WARDEN_IDENTITY_NEW_ADDRESS_UNRESOLVED and the address stays unknown, so the next request from
 * it raises the alarm again rather than being let through silently.
 */
export class SvidAddressWatch {
  private readonly pending = new Map<string, Promise<void>>();

  constructor(private readonly options: SvidAddressWatchOptions) {}

  /** The address a workload's issuance request (attest, renew) came from becomes the new SVID's first address. */
  learnIssued(serial: string, address: string | undefined): void {
    if (address) this.options.tracker.learn(serial, address, 'issuance');
  }

  /**
   * One verified use of an SVID. Returns true when it came from a new address and waited for the
   * alert: the caller must verify the SVID again (it may have been revoked meanwhile).
   */
  async check(who: VerifiedSvid, address: string | undefined, route: string): Promise<boolean> {
    if (!address) return false;
    const seen = this.options.tracker.observe(who.serial, address);
    if (seen.kind !== 'new') return false;
    const addr = normalizeAddress(address);
    const key = `${who.serial}\u0000${addr}`;
    let p = this.pending.get(key);
    if (!p) {
      p = this.alarm(who, addr, seen.known, seen.learnedFrom, seen.firstSeenAt, route).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    if (this.options.holdMs === 0) {
      p.catch(() => undefined);
      return false;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.options.holdMs);
    });
    const revocation = this.options.whenRevoked?.(who);
    try {
      const outcome = await Promise.race([p.then(() => 'done' as const), timeout, ...(revocation ? [revocation.revoked.then(() => 'revoked' as const)] : [])]);
      if (outcome === 'timeout') throw new WardenError('WARDEN_IDENTITY_NEW_ADDRESS_UNRESOLVED', `${who.spiffeId} used from a new address; the alert is still being handled, retry later`);
    } catch (err) {
      if (err instanceof WardenError && err.code === 'WARDEN_IDENTITY_NEW_ADDRESS_UNRESOLVED') throw err;
      throw new WardenError('WARDEN_IDENTITY_NEW_ADDRESS_UNRESOLVED', `${who.spiffeId} used from a new address and the alert could not be handled; retry later`, { cause: err });
    } finally {
      clearTimeout(timer);
      revocation?.cancel();
    }
    return true;
  }

  private async alarm(who: VerifiedSvid, address: string, known: string[], learnedFrom: string, firstSeenAt: number, route: string): Promise<void> {
    const details: Alarm['details'] = {
      spiffeId: who.spiffeId,
      serial: who.serial,
      address,
      knownAddresses: known.join(' '),
      learnedFrom,
      firstSeenAt: new Date(firstSeenAt).toISOString(),
      route,
    };
    // The drill's workloads live under /drill/: their incidents are labelled as drills.
    if (isDrillIdentity(who.spiffeId)) details.drill = true;
    this.options.logger.warn({ spiffeId: who.spiffeId, serial: who.serial, address, knownAddresses: known }, 'SVID used from a new address');
    try {
      await this.options.audit.append({ ts: new Date().toISOString(), kind: 'event', principal: `Service::${JSON.stringify(who.spiffeId)}`, action: 'detector.alarm.received', resource: who.spiffeId, sourceIp: address, details: { detector: SVID_NEW_ADDRESS_DETECTOR, ...details } });
      if (this.options.raise) {
        const fired = await this.options.raise({ type: 'detector.alarm', detector: SVID_NEW_ADDRESS_DETECTOR, details, receivedAt: Date.now() });
        if (!this.contained(who, fired)) throw new WardenError('WARDEN_IDENTITY_NEW_ADDRESS_UNRESOLVED', `${who.spiffeId} used from a new address and its containment failed; retry later`);
      }
    } catch (err) {
      this.options.logger.error({ err: toWardenError(err).code, spiffeId: who.spiffeId, serial: who.serial, address }, 'svid-new-address alarm could not be handled; the address stays unknown');
      throw err;
    }
    this.options.tracker.accept(who.serial, address);
  }

  /**
   * The alert was handled when the SVID is revoked, or every rule that fired either ran its
   * runbook successfully or has none to run (it only opens an incident). A failed run, or an alert
   * absorbed by an incident whose runbook has not succeeded yet, leaves the address unknown.
   */
  private contained(who: VerifiedSvid, fired: FiredAlert[]): boolean {
    if (this.options.isRevoked?.(who)) return true;
    return fired.every((f) => (f.run ? f.run.ok : !f.outstanding));
  }
}

function isDrillIdentity(spiffeId: string): boolean {
  try {
    return parseSpiffeId(spiffeId).path.startsWith('/drill/');
  } catch {
    return false;
  }
}

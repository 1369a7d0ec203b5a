import { WardenError } from '../errors/index.js';
import type { FiredAlert } from '../respond/index.js';

/**
 * The detectors a remote gateway raises (src/detect: the extraction guard, the drift check and
 * the accuracy monitor, forwarded by src/server/forwardAlarm.ts) and the string details each
 * carries. A string detail becomes part of the incident's runbook target (AlertEngine.onAlarm),
 * so a PEP token may send only these: never key, spiffeId, dataset or any other target a
 * runbook acts on. Numbers are statistics and never a target. `pep` is added by the forwarder.
 */
export const PEP_ALARM_STRING_DETAILS: Readonly<Record<string, readonly string[]>> = {
  extraction: ['signal', 'pep'],
  drift: ['features', 'maxPsiFeature', 'pep'],
  accuracy: ['pep'],
};

/** Alarms one PEP token may send per minute; past it the alarm is refused (429) until the minute is over. */
export const PEP_ALARMS_PER_MINUTE = 30;

/** Refuses (WARDEN_RESPOND_PEP_ALARM_REFUSED) an alarm a gateway would not raise. */
export function checkPepAlarm(detector: string, details: Record<string, string | number | boolean>): void {
  const strings = PEP_ALARM_STRING_DETAILS[detector];
  if (!Object.hasOwn(PEP_ALARM_STRING_DETAILS, detector) || !strings) {
    throw new WardenError('WARDEN_RESPOND_PEP_ALARM_REFUSED', `a PEP token may raise only ${Object.keys(PEP_ALARM_STRING_DETAILS).join(', ')} alarms, not ${JSON.stringify(detector)}`);
  }
  for (const [name, value] of Object.entries(details)) {
    if (typeof value === 'number') continue;
    if (typeof value === 'string' && strings.includes(name)) continue;
    throw new WardenError('WARDEN_RESPOND_PEP_ALARM_REFUSED', `a PEP token's ${detector} alarm may not carry details.${name} (${typeof value})`);
  }
}

/**
 * A fixed one-minute window per PEP token (bounded: at most `maxTokens` windows, oldest dropped).
 * A gateway raises an alarm per principal and model at most once until it is cleared, so the cap
 * is far above what an honest gateway sends and keeps a stolen PEP token from opening incidents
 * (and running their runbooks) by the thousand.
 */
export class PepAlarmLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly perMinute = PEP_ALARMS_PER_MINUTE,
    private readonly now: () => number = Date.now,
    private readonly maxTokens = 1024,
  ) {}

  take(tokenId: string): void {
    const now = this.now();
    let w = this.windows.get(tokenId);
    if (!w || now - w.start >= 60_000) {
      this.windows.delete(tokenId);
      if (this.windows.size >= this.maxTokens) this.windows.delete(this.windows.keys().next().value!);
      this.windows.set(tokenId, (w = { start: now, count: 0 }));
    }
    if (w.count >= this.perMinute) {
      throw new WardenError('WARDEN_RESPOND_PEP_ALARM_RATE_LIMITED', `this PEP token sent ${this.perMinute} alarms this minute; retry in ${Math.ceil((w.start + 60_000 - now) / 1000)} s`);
    }
    w.count++;
  }
}

/** What a PEP is told about the alerts its alarm fired: ids and outcomes, no run report (evidence paths, step details). */
export function firedForPep(fired: FiredAlert[]): { rule: string; incidentId: string; deduplicated: boolean; contained?: boolean }[] {
  return fired.map((f) => ({ rule: f.rule, incidentId: f.incidentId, deduplicated: f.deduplicated, ...(f.run ? { contained: f.run.ok } : {}) }));
}

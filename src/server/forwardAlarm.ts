import { Agent, request } from 'undici';
import { controlPlaneConnect, type ControlPlaneRoots } from '../identity/index.js';
import type { DetectorEvent } from '../detect/index.js';
import type { Logger } from '../observe/index.js';

export interface AlarmForwarderOptions {
  controlPlaneUrl: string;
  token: string;
  caPem: ControlPlaneRoots;
  /** This gateway's name, added to the alarm's details so the incident says where it fired. */
  pep: string;
  logger: Logger;
  attempts?: number;
}

/**
 * Sends a remote gateway's detector alarms to the control plane's alert engine
 * (`POST /api/v1/respond/alarms`), where `warden up` emits them in-process: without this an
 * alarm raised on a scale-out gateway would be audited but open no incident. Retries with
 * backoff; the alarm holds statistics only (never inputs or matched text).
 */
export function createAlarmForwarder(o: AlarmForwarderOptions): { forward(event: DetectorEvent): Promise<boolean>; close(): Promise<void> } {
  const agent = new Agent({ connect: controlPlaneConnect(o.caPem) });
  const attempts = o.attempts ?? 4;
  return {
    async forward(event) {
      const body = JSON.stringify({ detector: event.detector, principal: event.principal, model: event.model, details: { ...event.details, pep: o.pep } });
      for (let attempt = 1; attempt <= attempts; attempt++) {
        try {
          const res = await request(`${o.controlPlaneUrl}/api/v1/respond/alarms`, {
            method: 'POST',
            dispatcher: agent,
            headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json' },
            body,
          });
          await res.body.dump();
          if (res.statusCode < 300) return true;
          // A 4xx will not get better by retrying.
          if (res.statusCode < 500) {
            o.logger.error({ detector: event.detector, status: res.statusCode }, 'control plane refused a detector alarm');
            return false;
          }
        } catch (err) {
          if (attempt === attempts) o.logger.error({ detector: event.detector, err: (err as Error).message }, 'could not deliver a detector alarm to the control plane');
        }
        await new Promise((r) => setTimeout(r, 200 * 2 ** (attempt - 1)));
      }
      return false;
    },
    close: () => agent.close(),
  };
}

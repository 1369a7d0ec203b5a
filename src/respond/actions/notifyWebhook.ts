import { request } from 'undici';
import { WardenError } from '../../errors/index.js';
import { createHash } from 'node:crypto';
import { stringParam, type Action } from '../Action.js';
import type { StepParams } from '../Runbook.js';

export interface WebhookDeps {
  timeoutMs: number;
  /** Incident summary for the payload (identifiers only). */
  describe?: (incidentId: string) => Promise<Record<string, unknown>>;
}

function urlOf(params: StepParams): URL {
  const raw = stringParam(params, 'url', 'notify-webhook');
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new WardenError('WARDEN_RESPOND_ACTION_PARAMS', 'notify-webhook: url is not a URL');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new WardenError('WARDEN_RESPOND_ACTION_PARAMS', 'notify-webhook: url must be http(s)');
  return u;
}

/**
 * How a webhook is named in step reports, incidents and audit records: its origin and a short
 * fingerprint of the whole URL. Slack, Teams and PagerDuty-style webhooks carry their secret in
 * the path or query, and the audit log cannot be edited afterwards.
 */
export function webhookLabel(u: URL): string {
  const fingerprint = createHash('sha256').update(u.toString()).digest('hex').slice(0, 12);
  return `${u.protocol}//${u.host}/… (url sha256:${fingerprint})`;
}

/**
 * notify-webhook: POSTs a JSON notification (incident id, state, target identifiers, message)
 * with a timeout. Redirects are not followed and the response body is not read beyond its status,
 * so a hostile endpoint cannot bounce the control plane elsewhere or stall it.
 */
export function notifyWebhookAction(deps: WebhookDeps): Action {
  return {
    name: 'notify-webhook',
    description: 'POST a JSON notification to a webhook (Slack, PagerDuty bridge, SOAR).',
    readOnly: true,
    async plan(params) {
      return { description: `notify ${webhookLabel(urlOf(params))}`, alreadyDone: false };
    },
    async apply(params, ctx) {
      const url = urlOf(params);
      const shown = webhookLabel(url);
      const message = typeof params.message === 'string' ? params.message.slice(0, 2000) : 'Warden incident update';
      const payload = {
        source: 'warden',
        message,
        incident: ctx.incidentId ? { id: ctx.incidentId, ...(await deps.describe?.(ctx.incidentId)) } : null,
        actor: ctx.actor,
        sentAt: new Date().toISOString(),
      };
      let status: number;
      try {
        const res = await request(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'warden-respond' },
          body: JSON.stringify(payload),
          headersTimeout: deps.timeoutMs,
          bodyTimeout: deps.timeoutMs,
          signal: AbortSignal.timeout(deps.timeoutMs),
          maxRedirections: 0,
        });
        status = res.statusCode;
        await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      } catch (cause) {
        const reason = (cause as { code?: string; name?: string }).code ?? (cause as { name?: string }).name ?? 'error';
        throw new WardenError('WARDEN_RESPOND_WEBHOOK_FAILED', `notify-webhook: ${shown} failed (${reason})`, { cause });
      }
      if (status < 200 || status >= 300) throw new WardenError('WARDEN_RESPOND_WEBHOOK_FAILED', `notify-webhook: ${shown} answered ${status}`);
      return { changed: true, summary: `notified ${shown} (${status})`, details: { url: shown, status } };
    },
  };
}

import { useState } from 'react';
import { useApi } from '../api/ApiContext.js';
import type { Incident, TimelineEvent } from '../api/types.js';
import { usePoll } from '../lib/usePoll.js';
import { relative, shortTime } from '../lib/time.js';
import { EmptyState } from '../components/EmptyState.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { Badge, severityTone, type Tone } from '../components/Badge.js';
import { TableHead } from '../components/TableHead.js';

const KIND_TONE: Record<TimelineEvent['kind'], Tone> = { state: 'info', alert: 'bad', action: 'good', plan: 'warn', note: 'muted', evidence: 'info' };

export function Incidents() {
  const api = useApi();
  const list = usePoll(() => api.get<{ incidents: Incident[] }>('/incidents', { limit: 200 }), []);
  const [open, setOpen] = useState<string | null>(null);
  const incidents = list.data?.incidents ?? [];

  return (
    <>
      <section aria-labelledby="inc-h">
        <h2 id="inc-h">Incidents</h2>
        <ErrorNote error={list.error} />
        {list.data && incidents.length === 0 ? (
          <EmptyState title="No incidents. Alert rules open them when detectors fire; you can declare one too." command={'npx warden incident open --title "leaked key" --target key=team-a --runbook revoke-leaked-key --dry-run'} />
        ) : (
          <table data-testid="incidents">
            <TableHead columns={['Title', 'Severity', 'State', 'Opened']} actions="Timeline" />
            <tbody>
              {incidents.map((i) => (
                <tr key={i.id} className={i.id === open ? 'selected' : undefined}>
                  <td>
                    {i.title} {i.drill && <Badge tone="muted">drill</Badge>}
                  </td>
                  <td>
                    <Badge tone={severityTone(i.severity)}>{i.severity}</Badge>
                  </td>
                  <td>{i.state}</td>
                  <td>{relative(i.openedAt)}</td>
                  <td>
                    <button type="button" aria-expanded={i.id === open} onClick={() => setOpen(i.id === open ? null : i.id)} aria-label={`Timeline of ${i.title}`}>
                      Timeline
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {open && <Timeline key={open} id={open} />}
    </>
  );
}

function Timeline({ id }: { id: string }) {
  const api = useApi();
  const inc = usePoll(() => api.get<{ incident: Incident & { timeline: TimelineEvent[] } }>(`/incidents/${encodeURIComponent(id)}`), [id]);
  const i = inc.data?.incident;
  return (
    <section aria-labelledby="tl-h">
      <h2 id="tl-h">Timeline{i ? `: ${i.title}` : ''}</h2>
      <ErrorNote error={inc.error} />
      {i && (
        <>
          <p>
            <code>{i.id}</code> · opened by {i.openedBy} · target {Object.entries(i.target).map(([k, v]) => `${k}=${v}`).join(', ') || '—'}
          </p>
          <ol className="timeline" data-testid="timeline">
            {i.timeline.map((e) => (
              <li key={e.seq}>
                <time dateTime={e.at}>{shortTime(e.at)}</time> <Badge tone={KIND_TONE[e.kind]}>{e.kind === 'plan' ? 'runbook step' : e.kind}</Badge> <strong>{e.summary}</strong> <span className="muted">by {e.actor}</span>
                <Steps details={e.details} />
                {Object.keys(e.details).length > 0 && (
                  <details>
                    <summary>details</summary>
                    <pre>{JSON.stringify(e.details, null, 2)}</pre>
                  </details>
                )}
              </li>
            ))}
          </ol>
        </>
      )}
    </section>
  );
}

/** A runbook plan lists its steps in details.steps: show them, they are what will happen. */
function Steps({ details }: { details: Record<string, unknown> }) {
  const steps = Array.isArray(details.steps) ? (details.steps as { action?: unknown; description?: unknown }[]) : [];
  if (steps.length === 0) return null;
  return (
    <ol className="steps" data-testid="runbook-steps">
      {steps.map((st, i) => (
        <li key={i}>
          <code>{String(st.action ?? '?')}</code> {typeof st.description === 'string' ? st.description : ''}
        </li>
      ))}
    </ol>
  );
}

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { WardenError } from '../../errors/index.js';
import { DRILL_SCENARIOS, INCIDENT_STATES, runDrill, type DrillReport, type DrillScenario, type Incident, type IncidentWithTimeline, type RunReport } from '../../respond/index.js';
import { withAdminClient, withAdminOptions } from '../adminClient.js';
import { configFor, setExitCode } from '../context.js';
import { formatTable, parseFormat, printJson, printText } from '../output.js';


/** --target key=value (repeatable) → { key: value }. */
function parseTargets(pairs: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs ?? []) {
    const i = p.indexOf('=');
    if (i <= 0) throw new WardenError('WARDEN_USAGE', `--target ${JSON.stringify(p)} must look like field=value (e.g. key=key_ab12, spiffeId=spiffe://…)`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

function renderTimeline(i: IncidentWithTimeline): string {
  const head = `${i.id}  ${i.state}  ${i.severity}${i.drill ? '  (drill)' : ''}\n${i.title}\nopened ${i.openedAt} by ${i.openedBy}${i.rule ? ` (rule ${i.rule})` : ''}\ntarget ${JSON.stringify(i.target)}\n`;
  return head + '\n' + formatTable(['time', 'kind', 'actor', 'event'], i.timeline.map((e) => [e.at, e.kind, e.actor, e.summary]));
}

function renderRun(r: RunReport): string {
  const lines = [`runbook ${r.runbook}${r.dryRun ? ' (dry run)' : ''}: ${r.ok ? 'ok' : 'FAILED'}${r.incidentId ? ` — incident ${r.incidentId}` : ''} (${r.durationMs} ms)`];
  lines.push(formatTable(['#', 'action', 'status', 'what'], r.steps.map((s) => [s.index + 1, s.action, s.status, s.error ? `${s.description} — ${s.error.code}: ${s.error.message}` : (s.summary ?? s.description)])));
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  if (r.error) lines.push(`${r.error.code}: ${r.error.message}`);
  return lines.join('\n');
}

function renderDrill(r: DrillReport): string {
  const ms = (v: number | null) => (v === null ? '-' : `${v} ms`);
  const lines = [
    `drill ${r.scenario}: ${r.ok ? 'PASS' : 'FAIL'}${r.incidentId ? ` — incident ${r.incidentId}` : ''}`,
    `detection            ${r.detection}`,
    `time to detect       ${ms(r.timeToDetectMs)}`,
    `time to contain      ${ms(r.timeToContainMs)}${r.containBudgetMs !== null ? ` (budget ${r.containBudgetMs} ms)` : ''}`,
    ...(r.worker ? [`legitimate worker    ${r.worker.succeeded}/${r.worker.sent} requests from its own address succeeded`] : []),
    ...(r.before.sent > 0 || r.after.sent > 0
      ? [`before containment   ${r.before.succeeded}/${r.before.sent} attacker requests succeeded`, `after containment    ${r.leaksAfterContainment}/${r.after.sent} attacker requests got through`]
      : []),
    '',
    formatTable(['check', 'ok', 'detail'], r.checks.map((c) => [c.name, c.ok ? 'yes' : 'NO', c.detail])),
  ];
  if (r.models) {
    lines.push('', `blast radius         ${r.models.blastRadius.join(', ') || 'no model version'}`, `revoked              ${r.models.revoked.join(', ') || 'none'}`);
    for (const m of r.models.rolledBack) lines.push(`rolled back          ${m.from} → ${m.to ?? 'nothing serving (retired)'}`);
  }
  if (r.error) lines.push(`${r.error.code}: ${r.error.message}`);
  return lines.join('\n');
}

export function registerIncidentCommands(program: Command): void {
  const incident = withAdminOptions(program.command('incident').description('incidents and runbooks (through the running control plane)'));

  incident
    .command('list')
    .description('list incidents, newest first')
    .option('--state <state>', `only this state (${INCIDENT_STATES.join('|')})`)
    .option('--limit <n>', 'at most n incidents', '100')
    .option('--format <format>', 'text|json', 'text')
    .action(async (opts: { state?: string; limit: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const qs = new URLSearchParams({ limit: opts.limit, ...(opts.state ? { state: opts.state } : {}) });
      const r = await withAdminClient(cmd, (c) => c.call<{ incidents: Incident[] }>('GET', `/api/v1/incidents?${qs}`));
      if (format === 'json') printJson(r);
      else printText(formatTable(['id', 'state', 'severity', 'opened', 'rule', 'title'], r.incidents.map((i) => [i.id, i.state, i.severity, i.openedAt, i.rule, i.title])));
    });

  incident
    .command('show <id>')
    .description('show an incident and its timeline')
    .option('--format <format>', 'text|json', 'text')
    .action(async (id: string, opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const r = await withAdminClient(cmd, (c) => c.call<{ incident: IncidentWithTimeline }>('GET', `/api/v1/incidents/${encodeURIComponent(id)}`));
      if (format === 'json') printJson(r);
      else printText(renderTimeline(r.incident));
    });

  incident
    .command('open')
    .description('declare an incident (optionally running a runbook against it)')
    .requiredOption('--title <title>', 'what happened')
    .option('--severity <severity>', 'critical|high|medium|low', 'high')
    .option('--target <field=value...>', 'what the incident is about (key=…, spiffeId=…, principal=…, model=…, dataset=…)')
    .option('--runbook <name>', 'run this runbook right away')
    .option('--dry-run', 'with --runbook: plan only')
    .option('--format <format>', 'text|json', 'text')
    .action(async (opts: { title: string; severity: string; target?: string[]; runbook?: string; dryRun?: boolean; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const r = await withAdminClient(cmd, (c) =>
        c.call<{ incident: IncidentWithTimeline; run?: RunReport }>('POST', '/api/v1/incidents', { title: opts.title, severity: opts.severity, target: parseTargets(opts.target), runbook: opts.runbook, dryRun: !!opts.dryRun }),
      );
      if (r.run && !r.run.ok) setExitCode(cmd, 1);
      if (format === 'json') printJson(r);
      else printText(`opened ${r.incident.id}${r.run ? '\n' + renderRun(r.run) : ''}`);
    });

  incident
    .command('transition <id> <state>')
    .description(`move an incident forward (${INCIDENT_STATES.join(' → ')})`)
    .option('--note <text>', 'why')
    .option('--format <format>', 'text|json', 'text')
    .action(async (id: string, state: string, opts: { note?: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const r = await withAdminClient(cmd, (c) => c.call<{ incident: Incident }>('POST', `/api/v1/incidents/${encodeURIComponent(id)}/transition`, { to: state, note: opts.note }));
      if (format === 'json') printJson(r);
      else printText(`${r.incident.id} is ${r.incident.state}`);
    });

  incident
    .command('run <runbook>')
    .description('run a runbook (a loaded runbook name or a YAML file) against a target')
    .option('--target <field=value...>', 'target fields the runbook needs (e.g. key=key_ab12)')
    .option('--incident <id>', 'record on this incident (default: a new incident is opened)')
    .option('--dry-run', 'plan and check every step, change nothing')
    .option('--format <format>', 'text|json', 'text')
    .action(async (runbook: string, opts: { target?: string[]; incident?: string; dryRun?: boolean; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const isFile = /\.ya?ml$/.test(runbook) || runbook.includes('/');
      if (isFile && !existsSync(runbook)) throw new WardenError('WARDEN_USAGE', `runbook file ${runbook} does not exist`);
      const body = { ...(isFile ? { yaml: readFileSync(runbook, 'utf8') } : { runbook }), target: parseTargets(opts.target), incidentId: opts.incident, dryRun: !!opts.dryRun };
      const r = await withAdminClient(cmd, (c) => c.call<{ run: RunReport; incident: IncidentWithTimeline | null }>('POST', '/api/v1/runbooks/run', body));
      if (!r.run.ok) setExitCode(cmd, 1);
      if (format === 'json') printJson(r);
      else printText(renderRun(r.run));
    });

  incident
    .command('runbooks')
    .description('list loaded runbooks and registered actions')
    .option('--format <format>', 'text|json', 'text')
    .action(async (opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const r = await withAdminClient(cmd, (c) => c.call<{ runbooks: { name: string; source: string; steps: string[] }[]; actions: { name: string; undoable: boolean; description: string }[] }>('GET', '/api/v1/runbooks'));
      if (format === 'json') printJson(r);
      else printText(formatTable(['runbook', 'source', 'steps'], r.runbooks.map((b) => [b.name, b.source, b.steps.join(' → ')])) + '\n\n' + formatTable(['action', 'undo', 'description'], r.actions.map((a) => [a.name, a.undoable ? 'yes' : 'no', a.description])));
    });

  withAdminOptions(program.command('drill <scenario>').description(`simulate an incident against a running Warden and measure detection and containment (${DRILL_SCENARIOS.join('|')})`))
    .option('--model <model>', 'model the attacker calls through the gateway (default echo; iris for extraction)')
    .option('--dataset <ref>', 'poisoned-dataset: dataset NAME[@VERSION] in the artifact registry')
    .option('--keep-open', 'leave the drill incident open')
    .option('--format <format>', 'text|json', 'text')
    .action(async (scenario: string, opts: { model?: string; dataset?: string; keepOpen?: boolean; format: string; server?: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      if (!(DRILL_SCENARIOS as readonly string[]).includes(scenario)) throw new WardenError('WARDEN_RESPOND_DRILL_UNKNOWN', `no drill ${JSON.stringify(scenario)} (one of ${DRILL_SCENARIOS.join(', ')})`);
      const config = configFor(cmd);
      const caFile = process.env.WARDEN_CA_FILE ?? join(config.dataDir, 'bundle.pem');
      if (!existsSync(caFile)) throw new WardenError('WARDEN_USAGE', `CA bundle ${caFile} not found (set WARDEN_CA_FILE or --data-dir of the running Warden)`);
      const report = await withAdminClient(cmd, (c) =>
        runDrill(scenario as DrillScenario, { admin: c, adminUrl: c.baseUrl, caPem: readFileSync(caFile, 'utf8'), trustDomain: config.server.trustDomain, model: opts.model, dataset: opts.dataset, keepOpen: !!opts.keepOpen }),
      );
      if (!report.ok) setExitCode(cmd, 1);
      if (format === 'json') printJson(report);
      else printText(renderDrill(report));
    });
}

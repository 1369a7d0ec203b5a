import { Gauge, type Registry } from 'prom-client';
import type { CompiledPolicySet } from './CompiledPolicySet.js';

/**
 * Prometheus view of the active policy set, read at scrape time (nothing on the hot path):
 * whether it runs on the cedar-wasm fallback, how many decisions each evaluator made since
 * it was installed, and its size.
 */
export function registerPolicyMetrics(registry: Registry, active: () => CompiledPolicySet | undefined): void {
  new Gauge({
    name: 'warden_policy_fallback',
    help: '1 when the active policy set is evaluated by cedar-wasm because it uses constructs the compiler does not handle',
    registers: [registry],
    collect() {
      this.set(active()?.fallback ? 1 : 0);
    },
  });
  new Gauge({
    name: 'warden_policy_decisions',
    help: 'Decisions made with the active policy set since it was installed, by evaluator',
    labelNames: ['evaluator'],
    registers: [registry],
    collect() {
      const s = active()?.stats;
      this.set({ evaluator: 'compiled' }, s?.compiledDecisions ?? 0);
      this.set({ evaluator: 'cedar-wasm' }, s?.referenceDecisions ?? 0);
    },
  });
  new Gauge({
    name: 'warden_policy_policies',
    help: 'Policies in the active policy set',
    registers: [registry],
    collect() {
      this.set(active()?.policies.length ?? 0);
    },
  });
}

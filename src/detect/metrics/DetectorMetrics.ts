import { Counter, Gauge, register as defaultRegistry, type Registry } from 'prom-client';

function counter(registry: Registry, name: string, help: string, labelNames: string[]): Counter<string> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<string>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

function gauge(registry: Registry, name: string, help: string, labelNames: string[]): Gauge<string> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge<string>;
  return new Gauge({ name, help, labelNames, registers: [registry] });
}

/** Prometheus metrics of the detectors (reused when several detector sets share a registry). */
export class DetectorMetrics {
  readonly verdicts: Counter<string>;
  readonly alarms: Counter<string>;
  readonly driftPsi: Gauge<string>;
  readonly driftKs: Gauge<string>;
  readonly accuracy: Gauge<string>;

  constructor(registry: Registry = defaultRegistry) {
    this.verdicts = counter(registry, 'warden_detector_verdicts_total', 'Detector verdicts by detector and action.', ['detector', 'action']);
    this.alarms = counter(registry, 'warden_detector_alarms_total', 'Alarms raised by stateful detectors (extraction, drift, accuracy).', ['detector']);
    this.driftPsi = gauge(registry, 'warden_detector_drift_psi', 'Population Stability Index of recent inputs against the training profile.', ['model', 'feature']);
    this.driftKs = gauge(registry, 'warden_detector_drift_ks', 'Two-sample Kolmogorov–Smirnov statistic of recent inputs against the training profile.', ['model', 'feature']);
    this.accuracy = gauge(registry, 'warden_detector_accuracy', 'Sliding-window accuracy from feedback labels.', ['model']);
  }
}

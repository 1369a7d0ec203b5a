export { startControlPlane, type RunningControlPlane, type StartControlPlaneOptions, type ControlPlaneTls } from './ControlPlane.js';
export type { ControlPlaneContext } from './ControlPlaneContext.js';
export { loadServerSecret } from './serverSecret.js';
export { buildSnapshot, SNAPSHOT_TTL_MS } from './snapshotBuilder.js';
export { startWarden, type StartWardenOptions, type RunningWarden, type ReadyInfo } from './startWarden.js';

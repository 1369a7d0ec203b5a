export { startControlPlane, createControlPlaneContext, type RunningControlPlane, type StartControlPlaneOptions, type ControlPlaneTls } from './ControlPlane.js';
export type { ControlPlaneContext } from './ControlPlaneContext.js';
export { loadServerSecret, requireServerSecret } from './serverSecret.js';
export { buildSnapshotWire, SNAPSHOT_TTL_MS } from './snapshotBuilder.js';
export { SnapshotPublisher, type PepStatus } from './SnapshotPublisher.js';
export { startWarden, type StartWardenOptions, type RunningWarden, type ReadyInfo } from './startWarden.js';
export { mintAdminTokenOffline, type MintedAdminToken, type MintAdminTokenOptions } from './mintAdminTokenOffline.js';
export { startEdgeGateway, readCaBundle, type StartEdgeGatewayOptions, type RunningEdgeGateway } from './startEdgeGateway.js';

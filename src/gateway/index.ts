export { startGateway, type GatewayOptions, type GatewayTls, type RunningGateway } from './GatewayServer.js';
export { SnapshotHolder, type PepSnapshot, type SnapshotListener } from './PepSnapshot.js';
export { matchRoute, type RouteMatch, type RouteKind } from './protocols/routes.js';
export type { RequestContext, Principal } from './RequestContext.js';
export { snapshotFromWire, apiKeysToWire, type SnapshotWire } from './snapshotWire.js';
export { SnapshotSubscriber, type SnapshotSubscriberOptions } from './SnapshotSubscriber.js';
export { RemoteAuditWriter } from './RemoteAuditWriter.js';
export type { AuditWriter } from './AuditWriter.js';

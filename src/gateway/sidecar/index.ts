export { startSidecar, type SidecarOptions, type Sidecar, type OutboundRoute } from './startSidecar.js';
export { AllowListAuthorizer, type AllowRule } from './AllowListAuthorizer.js';
export { startSidecarFromConfig, type SidecarFromConfigOptions } from './startSidecarFromConfig.js';

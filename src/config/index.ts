export { configSchema, type WardenConfig, type WardenConfigInput } from './schema.js';
export { loadConfig, envNameFor, readConfigFile, type LoadedConfig, type LoadConfigOptions } from './load.js';
export type { UpstreamConfig } from './sections/gateway.js';
export { upstreamConfig, jwksUriProblem } from './sections/gateway.js';
export type { IdentityConfig, SegmentationRule, OutboundRoute } from './sections/identity.js';

export { WorkloadAgent, type WorkloadAgentOptions, type SvidMaterial, type SvidSource } from './WorkloadAgent.js';
export { serveWorkloadApi } from './serveWorkloadApi.js';
export { FileSvidSource } from './FileSvidSource.js';

export type { KeyProvider, WrappedDataKey } from './KeyProvider.js';
export { FileKeyProvider } from './FileKeyProvider.js';

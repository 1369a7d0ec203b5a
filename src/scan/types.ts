/** Severities, most to least serious. `--fail-on` compares against this order. */
export const severities = ['critical', 'high', 'medium', 'low', 'info'] as const;
export type Severity = (typeof severities)[number];

export interface Finding {
  /** Stable rule id, e.g. `pickle/dangerous-global`. */
  rule: string;
  severity: Severity;
  message: string;
  /** Where inside the file: nested archive entries joined by `!`, then `@byteOffset` when known. */
  location: string;
}

export interface FileReport {
  path: string;
  /** Detected from content (magic bytes / structure), not from the extension. */
  format: string;
  /** Hex SHA-256 of the whole file, computed while streaming; null with `hash: false`. */
  sha256: string | null;
  /**
   * With `shardSizeBytes`, for a file larger than one shard: the digest in an artifact manifest's
   * "shards" layout (SHA-256 over the SHA-256 of each `shardSize` slice), so a scan can be tied to
   * the bytes a sharded manifest pins without re-hashing the whole file there.
   */
  sha256Shards?: { shardSize: number; digest: string };
  findings: Finding[];
}

export interface ScanSummary {
  files: number;
  findings: number;
  bySeverity: Record<Severity, number>;
}

export interface ScanReport {
  files: FileReport[];
  summary: ScanSummary;
}

/** Bounds that keep a hostile file from exhausting memory, disk or time. */
export interface ScanLimits {
  /** Archive nesting depth (zip in zip...). */
  maxDepth: number;
  /** Entries per archive. */
  maxEntries: number;
  /** Declared uncompressed size / compressed size above which an entry is treated as a bomb. */
  maxCompressionRatio: number;
  /** Total bytes inflated while scanning one top-level file. */
  maxInflatedBytes: number;
  /** Largest compressed entry buffered in memory when its format needs random access. */
  maxBufferedBytes: number;
  /** Largest JSON document parsed (safetensors header, Keras config...). */
  maxJsonBytes: number;
  /** Memo entries tracked per pickle. */
  maxPickleMemo: number;
  /** Pickles scanned back to back in one stream. */
  maxPicklesPerStream: number;
}

export interface ScanOptions {
  /** Compute the SHA-256 of each file (default true). */
  hash?: boolean;
  /** Also report `sha256Shards` for files larger than this (an artifact manifest's shard size). */
  shardSizeBytes?: number;
  limits?: Partial<ScanLimits>;
}

export const defaultScanLimits: ScanLimits = {
  maxDepth: 5,
  maxEntries: 100_000,
  maxCompressionRatio: 200,
  maxInflatedBytes: 8 * 1024 ** 3,
  maxBufferedBytes: 256 * 1024 ** 2,
  maxJsonBytes: 100_000_000,
  maxPickleMemo: 5_000_000,
  maxPicklesPerStream: 64,
};

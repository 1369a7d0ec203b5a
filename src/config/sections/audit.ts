import { z } from 'zod';

/** Live SIEM forwarding destinations (the log stays the record of truth; see docs/audit.md). */
const forwardTarget = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('jsonl'), path: z.string().min(1) }),
  z.strictObject({
    type: z.literal('syslog'),
    /** tcp://host:port or tls://host:port */
    url: z.string().regex(/^(tcp|tls):\/\//, 'syslog url must start with tcp:// or tls://'),
    /** CA bundle (PEM file) for tls:// */
    caFile: z.string().min(1).optional(),
  }),
  z.strictObject({
    type: z.literal('otlp'),
    /** OTLP/HTTP logs endpoint, e.g. http://127.0.0.1:4318/v1/logs */
    url: z.string().regex(/^https?:\/\//, 'otlp url must be http(s)://'),
    headers: z.record(z.string(), z.string()).optional(),
    caFile: z.string().min(1).optional(),
  }),
]);

export const auditSection = z
  .strictObject({
    /** Flush the queue when this many records are waiting. */
    batchSize: z.number().int().min(1).max(100_000).default(512),
    /** Flush at least this often (ms). */
    flushIntervalMs: z.number().int().min(1).max(60_000).default(20),
    /** Bounded queue length; producers wait (backpressure) when it is full. */
    queueLimit: z.number().int().min(1).max(10_000_000).default(65_536),
    /** fsync after every batch (durable) or never (fast, may lose the tail on power loss). */
    fsync: z.enum(['batch', 'none']).default('batch'),
    /** Checkpoint origin line (C2SP tlog-checkpoint); also the signed-note key name. No spaces or '+'. */
    origin: z
      .string()
      .regex(/^[A-Za-z0-9._/:-]{1,128}$/, 'origin must be 1-128 characters of A-Z a-z 0-9 . _ / : -')
      .default('warden.local/audit'),
    /**
     * Publish a signed checkpoint at least this often while new records arrive (ms). Shorter
     * narrows the window in which only per-entry hashes protect the newest records; each
     * checkpoint costs ~200 bytes and one signature check in every verify.
     */
    checkpointIntervalMs: z.number().int().min(100).max(3_600_000).default(10_000),
    /** Roll to a new segment file after this many bytes (embedded mode). */
    segmentMaxBytes: z.number().int().min(4096).max(1_073_741_824).default(67_108_864),
    /** Largest canonical JSON record accepted (bytes); larger records are rejected, never truncated. */
    maxRecordBytes: z.number().int().min(512).max(1_048_576).default(65_536),
    /**
     * Fraction (0..1] of *allowed* decision records kept. Denies, admin actions and events are
     * never sampled; the number of records skipped is itself logged as an `audit.sampled` event.
     */
    sampleAllowedRate: z.number().gt(0).max(1).default(1),
    /** Restrict sampling to these actions (e.g. ["inference"]); empty = every allowed decision. */
    sampleActions: z.array(z.string().min(1).max(128)).max(64).default([]),
    /**
     * The live log keeps in memory only Merkle subtrees of at least 2^treeMinLevel entries
     * (about 64/2^k bytes per entry instead of 64); proofs about older entries read one
     * group of 2^k entries back from storage and check it against the in-memory hash.
     */
    treeMinLevel: z.number().int().min(0).max(16).default(8),
    /**
     * After a failed write (disk full) the log fails closed until the data dir's filesystem has at
     * least this many bytes free (and 4× the largest failed batch), so a nearly full disk does not
     * reopen it only to lose the next batch of served requests' records. Files only.
     */
    recoveryMinFreeBytes: z.number().int().min(0).max(1_099_511_627_776).default(16_777_216),
    /**
     * Server mode: several control-plane replicas write this database's audit log, each batch
     * following the entries the others appended. Off (one writer), a row this process did not
     * write is tampering and the log fails closed. On, a row written straight into the table
     * between two batches cannot be told from another replica's and is taken into the log: give
     * only the replicas write access to the database. Set it on every replica.
     */
    multipleWriters: z.boolean().default(false),
    /** Forward every durable entry to these SIEM destinations as it is written. */
    forward: z.array(forwardTarget).max(8).default([]),
    /** Entries buffered per forward destination while it is unreachable (oldest dropped beyond, and counted). */
    forwardQueueLimit: z.number().int().min(100).max(10_000_000).default(100_000),
  })
  .prefault({});

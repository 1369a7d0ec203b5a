import { z } from 'zod';
import { WardenError } from '../../errors/index.js';

const datasetSchema = z.looseObject({
  namespace: z.string().min(1).max(1024),
  name: z.string().min(1).max(1024),
  facets: z.record(z.string().max(256), z.unknown()).optional(),
});

/** OpenLineage RunEvent (https://openlineage.io/spec/2-0-2/OpenLineage.json), validated to the fields lineage needs. */
const runEventSchema = z.looseObject({
  eventType: z.enum(['START', 'RUNNING', 'COMPLETE', 'ABORT', 'FAIL', 'OTHER']).optional(),
  eventTime: z.string().min(1).max(64),
  producer: z.string().min(1).max(2048),
  schemaURL: z.string().max(2048).optional(),
  run: z.looseObject({ runId: z.string().min(1).max(256), facets: z.record(z.string(), z.unknown()).optional() }),
  job: z.looseObject({ namespace: z.string().min(1).max(1024), name: z.string().min(1).max(1024) }),
  inputs: z.array(datasetSchema).max(10_000).default([]),
  outputs: z.array(datasetSchema).max(10_000).default([]),
});

export type OpenLineageRunEvent = z.infer<typeof runEventSchema>;
export type OpenLineageDataset = z.infer<typeof datasetSchema>;

export function parseOpenLineageEvent(value: unknown): OpenLineageRunEvent {
  const r = runEventSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new WardenError('WARDEN_LINEAGE_EVENT_INVALID', `OpenLineage event ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  if (Number.isNaN(Date.parse(r.data.eventTime))) throw new WardenError('WARDEN_LINEAGE_EVENT_INVALID', 'OpenLineage event eventTime is not a date-time');
  return r.data;
}

/** The dataset version from the standard `version` facet (datasetVersion), if present. */
export function datasetVersionOf(ds: OpenLineageDataset): string | undefined {
  const v = ds.facets?.version as { datasetVersion?: unknown } | undefined;
  return typeof v?.datasetVersion === 'string' ? v.datasetVersion : undefined;
}

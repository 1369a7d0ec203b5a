import { z } from 'zod';

const finite = z.number().refine(Number.isFinite, 'must be a finite number');

const gaussianSchema = z.strictObject({
  label: z.union([z.string(), z.number()]).optional(),
  count: z.number().int().min(1),
  mean: z.array(finite),
  inverseCovariance: z.array(z.array(finite)),
});

const binsSchema = z.strictObject({
  /** Ascending inner edges (k edges, k + 1 bins). */
  edges: z.array(finite),
  /** Share of training rows per bin (sums to 1). */
  shares: z.array(finite),
});

/**
 * What `warden detect profile fit` learns from training data, and what the OOD, drift and
 * extraction detectors compare live inputs with. Plain JSON so it can be reviewed and versioned.
 */
export const featureProfileSchema = z
  .strictObject({
    version: z.literal(1),
    features: z.array(z.string().min(1)).min(1).max(4096),
    count: z.number().int().min(2),
    min: z.array(finite),
    max: z.array(finite),
    mean: z.array(finite),
    std: z.array(finite),
    /** One Gaussian for all rows, or one per class when the data had labels. */
    gaussians: z.array(gaussianSchema).min(1),
    /** Mahalanobis distance above which an input is out of distribution (calibrated on the data). */
    mahalanobisThreshold: finite,
    calibrationQuantile: z.number().min(0.5).max(1),
    bins: z.array(binsSchema),
    /** Equal-width grid over the training range: cells per feature and how many cells the training rows occupy. */
    coverage: z.strictObject({ bins: z.number().int().min(2).max(64), occupiedCells: z.number().int().min(1) }),
    /** Sorted sample per feature (at most 1000 values) for the Kolmogorov–Smirnov test. */
    reference: z.array(z.array(finite)),
  })
  .superRefine((p, ctx) => {
    const d = p.features.length;
    for (const key of ['min', 'max', 'mean', 'std', 'bins', 'reference'] as const) {
      if (p[key].length !== d) ctx.addIssue({ code: 'custom', path: [key], message: `must have ${d} entries` });
    }
    p.gaussians.forEach((g, i) => {
      if (g.mean.length !== d || g.inverseCovariance.length !== d || g.inverseCovariance.some((r) => r.length !== d)) {
        ctx.addIssue({ code: 'custom', path: ['gaussians', i], message: `must be ${d}-dimensional` });
      }
    });
    p.bins.forEach((b, i) => {
      if (b.shares.length !== b.edges.length + 1) ctx.addIssue({ code: 'custom', path: ['bins', i], message: 'needs edges.length + 1 shares' });
    });
  });

export type FeatureProfile = z.infer<typeof featureProfileSchema>;

import { z } from 'zod';

export const policySection = z.strictObject({}).prefault({});

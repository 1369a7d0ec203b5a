import { z } from 'zod';

export const artifactsSection = z.strictObject({}).prefault({});

import { z } from 'zod';

export const identitySection = z.strictObject({}).prefault({});

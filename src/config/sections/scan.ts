import { z } from 'zod';

export const scanSection = z.strictObject({}).prefault({});

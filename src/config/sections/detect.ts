import { z } from 'zod';

export const detectSection = z.strictObject({}).prefault({});

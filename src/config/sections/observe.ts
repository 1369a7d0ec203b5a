import { z } from 'zod';

export const observeSection = z.strictObject({}).prefault({});

import { z } from 'zod';

export const respondSection = z.strictObject({}).prefault({});

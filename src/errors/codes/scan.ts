export const scanCodes = {
} as const;

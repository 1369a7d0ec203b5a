export const detectCodes = {
} as const;

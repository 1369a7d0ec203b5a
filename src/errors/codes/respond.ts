export const respondCodes = {
} as const;

export const identityCodes = {
} as const;

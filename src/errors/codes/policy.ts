export const policyCodes = {
} as const;

export const artifactCodes = {
} as const;

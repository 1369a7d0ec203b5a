export const authzCodes = {
  WARDEN_AUTHZ_DENIED: { status: 403, description: 'The request is not allowed by policy.' },
} as const;

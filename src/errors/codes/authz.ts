export const authzCodes = {
  WARDEN_AUTHZ_DENIED: { status: 403, description: 'The request is not allowed by policy.' },
  WARDEN_AUTHZ_PRINCIPAL_BLOCKED: {
    status: 403,
    description: 'The calling principal is blocked (block-principal, `warden principals block`), whatever credential it presents; an answer under way when the block reached the gateway is cut off. Lifted by `warden principals unblock` or when the block expires.',
  },
} as const;

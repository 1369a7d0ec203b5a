export const authnCodes = {
  WARDEN_AUTHN_MISSING: { status: 401, description: 'No credential was presented.' },
  WARDEN_AUTHN_MALFORMED: { status: 401, description: 'The credential is not in a recognised format.' },
  WARDEN_AUTHN_KEY_INVALID: { status: 401, description: 'The API key is not valid.' },
  WARDEN_AUTHN_KEY_EXPIRED: { status: 401, description: 'The API key has expired.' },
  WARDEN_AUTHN_KEY_REVOKED: { status: 401, description: 'The API key has been revoked.' },
  WARDEN_AUTHN_TOKEN_INVALID: { status: 401, description: 'The bearer token is not valid.' },
  WARDEN_AUTHN_TOKEN_EXPIRED: { status: 401, description: 'The bearer token has expired.' },
  WARDEN_AUTHN_ADMIN_REQUIRED: { status: 401, description: 'The admin API needs a valid admin token.' },
} as const;

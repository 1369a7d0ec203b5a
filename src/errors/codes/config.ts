export const configCodes = {
  WARDEN_CONFIG_INVALID: { status: 400, description: 'warden.yaml or a WARDEN_* variable is invalid; the message names the key.' },
  WARDEN_CONFIG_UNREADABLE: { status: 400, description: 'The configuration file cannot be read or is not YAML.' },
} as const;

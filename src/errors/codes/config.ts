export const configCodes = {
  WARDEN_CONFIG_INVALID: { status: 400, description: 'warden.yaml or a WARDEN_* variable is invalid; the message names the key.' },
  WARDEN_CONFIG_LISTEN_FAILED: { status: 500, description: 'A listener cannot start on its configured address (port in use, privileged port, or a host that is not local); the message names the option to change.' },
  WARDEN_CONFIG_UNREADABLE: { status: 400, description: 'The configuration file cannot be read or is not YAML.' },
} as const;

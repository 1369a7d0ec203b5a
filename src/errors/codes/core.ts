export const coreCodes = {
  WARDEN_INTERNAL: { status: 500, description: 'An internal error occurred; details are in the server log.' },
  WARDEN_USAGE: { status: 400, description: 'The command line was not understood.' },
  WARDEN_INPUT_INVALID: { status: 400, description: 'The input is not valid.' },
  WARDEN_NOT_FOUND: { status: 404, description: 'The requested object does not exist.' },
  WARDEN_CONFLICT: { status: 409, description: 'The object already exists or changed concurrently.' },
  WARDEN_IO: { status: 500, description: 'A file could not be read or written.' },
  WARDEN_FILE_UNSAFE: { status: 500, description: 'A data, key or audit directory or a secret file is a symlink, owned by another user, or open to group or others; the message names the path and the chmod or chown to run.' },
  WARDEN_UNAVAILABLE: { status: 503, description: 'The service is starting or shutting down.' },
} as const;

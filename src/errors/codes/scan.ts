export const scanCodes = {
  WARDEN_SCAN_PATH_NOT_FOUND: { status: 404, description: 'A path given to the scanner does not exist or is not a file or directory.' },
  WARDEN_SCAN_READ_FAILED: { status: 500, description: 'A file could not be opened or read while scanning.' },
  WARDEN_SCAN_NO_PATHS: { status: 400, description: 'The scanner was called without any path.' },
  WARDEN_SCAN_BAD_SEVERITY: { status: 400, description: 'The severity threshold is not one of critical, high, medium, low, info, none.' },
} as const;

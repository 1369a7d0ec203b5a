/**
 * OpenAI's error `type` for a status, so OpenAI clients can branch on it as they do on OpenAI's own
 * answers; Warden's `code` stays the precise, stable reason.
 */
export function errorType(status: number): string {
  switch (status) {
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 429:
      return 'rate_limit_error';
  }
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

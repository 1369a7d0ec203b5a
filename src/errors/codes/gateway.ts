export const gatewayCodes = {
  WARDEN_GATEWAY_BODY_TOO_LARGE: { status: 413, description: 'The request body exceeds the configured limit.' },
  WARDEN_GATEWAY_BAD_JSON: { status: 400, description: 'The request body is not valid JSON.' },
  WARDEN_GATEWAY_ROUTE_NOT_FOUND: { status: 404, description: 'No route matches this path and model.' },
  WARDEN_GATEWAY_METHOD_NOT_ALLOWED: { status: 405, description: 'This method is not allowed on this route.' },
  WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE: { status: 502, description: 'The model server could not be reached.' },
  WARDEN_GATEWAY_UPSTREAM_TIMEOUT: { status: 504, description: 'The model server did not answer in time.' },
  WARDEN_GATEWAY_SNAPSHOT_STALE: { status: 503, description: 'The gateway has no current policy snapshot and fails closed.' },
  WARDEN_GATEWAY_CLIENT_CLOSED: { status: 499, description: 'The client closed the connection before the answer was complete; the upstream request was aborted.' },
  WARDEN_GATEWAY_RATE_LIMITED: { status: 429, description: 'A rate limit or quota was exceeded; retry after the time in the retry-after header.' },
  WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE: { status: 503, description: 'The shared rate-limit store is unreachable and the gateway fails closed.' },
  WARDEN_GATEWAY_CONCURRENCY_LIMITED: { status: 429, description: 'Too many requests are in flight for this principal, key, tenant or model.' },
  WARDEN_GATEWAY_INVALID_REQUEST: { status: 400, description: 'The request body does not match the protocol schema or exceeds an input limit; the message names the field.' },
} as const;

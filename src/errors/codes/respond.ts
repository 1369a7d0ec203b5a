/** Incident response: incidents, runbooks, actions, alert rules, drills, metrics endpoint. */
export const respondCodes = {
  WARDEN_RESPOND_INCIDENT_NOT_FOUND: { status: 404, description: 'No incident with this id exists.' },
  WARDEN_RESPOND_TRANSITION_INVALID: { status: 409, description: 'The incident cannot move to that state from its current state.' },
  WARDEN_RESPOND_RUNBOOK_INVALID: { status: 400, description: 'The runbook is not valid YAML or does not match the runbook schema.' },
  WARDEN_RESPOND_RUNBOOK_NOT_FOUND: { status: 404, description: 'No runbook with this name is loaded.' },
  WARDEN_RESPOND_ACTION_UNKNOWN: { status: 400, description: 'The runbook names an action that is not registered.' },
  WARDEN_RESPOND_ACTION_PARAMS: { status: 400, description: 'The parameters of a runbook step are missing or invalid.' },
  WARDEN_RESPOND_ACTION_UNAVAILABLE: { status: 501, description: 'The action needs a module this control plane does not have configured.' },
  WARDEN_RESPOND_PRECONDITION: { status: 409, description: 'A runbook step cannot run: its target does not exist or is in the wrong state.' },
  WARDEN_RESPOND_STEP_FAILED: { status: 500, description: 'A runbook step failed; the steps already applied were undone.' },
  WARDEN_RESPOND_WEBHOOK_FAILED: { status: 502, description: 'The notification webhook did not accept the notification in time.' },
  WARDEN_RESPOND_ALERT_RULE_INVALID: { status: 400, description: 'An alert rule in warden.yaml is not valid.' },
  WARDEN_RESPOND_DRILL_UNKNOWN: { status: 400, description: 'No drill scenario with this name exists.' },
  WARDEN_RESPOND_DRILL_FAILED: { status: 500, description: 'The drill could not complete; the report says which phase failed.' },
  WARDEN_RESPOND_LEAK_REPORT_INVALID: { status: 400, description: 'The leaked-credential report is malformed or too large.' },
  WARDEN_OBSERVE_METRICS_UNAUTHORIZED: { status: 401, description: 'The metrics endpoint needs the configured bearer token (observe.metricsToken): always on a gateway listener; on the admin listener when the token is set or the listener is not bound to loopback (then no scrape is served until it is set).' },
  WARDEN_OBSERVE_TRACING_CONFIG: { status: 400, description: 'The tracing exporter configuration is not valid.' },
} as const;

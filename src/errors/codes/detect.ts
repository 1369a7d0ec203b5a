/** Threat-detector codes: WARDEN_GUARD_* end a gateway request, WARDEN_DETECT_* are input/config errors. */
export const detectCodes = {
  WARDEN_GUARD_INJECTION: { status: 403, description: 'The request was blocked because it looks like a prompt-injection attempt.' },
  WARDEN_GUARD_PII: { status: 403, description: 'The request was blocked because it contains personal data that this route does not accept.' },
  WARDEN_GUARD_SECRET: { status: 403, description: 'The request was blocked because it contains a credential or secret.' },
  WARDEN_GUARD_OOD: { status: 422, description: 'The model input is outside the distribution the model was trained on.' },
  WARDEN_GUARD_EXTRACTION: { status: 403, description: 'The query pattern of this principal looks like a model-extraction attack.' },
  WARDEN_GUARD_BUDGET: { status: 429, description: 'The principal has used up its query budget for this model.' },
  WARDEN_DETECT_DATA_INVALID: { status: 400, description: 'The training data file cannot be parsed as numeric rows of equal width.' },
  WARDEN_DETECT_PROFILE_INVALID: { status: 400, description: 'The feature profile is missing, malformed or inconsistent.' },
  WARDEN_DETECT_INPUT_SHAPE: { status: 400, description: 'The model input does not have the number of features its profile expects.' },
  WARDEN_DETECT_FEEDBACK_INVALID: { status: 400, description: 'The feedback record is missing the model, the predicted label or the actual label.' },
  WARDEN_DETECT_FEEDBACK_MODEL_UNKNOWN: { status: 404, description: 'Feedback names a model that no upstream of this gateway serves; labels are taken only for served models.' },
  WARDEN_DETECT_FEEDBACK_UNKNOWN_REQUEST: { status: 404, description: 'Feedback names no prediction this gateway served to the same principal and model (unknown, expired or another caller\'s request id).' },
  WARDEN_DETECT_FEEDBACK_DUPLICATE: { status: 409, description: 'Feedback for this request id was already taken; each served prediction is labelled once.' },
  WARDEN_DETECT_CLASSIFIER_UNAVAILABLE: { status: 503, description: 'The external prompt-injection classifier did not answer in time.' },
} as const;

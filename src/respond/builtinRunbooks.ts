/**
 * Runbooks every control plane has (bound to the default alert rules). Operators override one by
 * putting a runbook with the same name in a `respond.runbookDirs` directory.
 */
export const BUILTIN_RUNBOOKS: Record<string, string> = {
  'contain-leaked-key': `
name: contain-leaked-key
description: A Warden API key was found outside (secret scanning, paste site, logs). Revoke it everywhere, keep evidence.
requires: [key]
onSuccess: contained
steps:
  - action: block-api-key
    with: { key: "{{target.key}}" }
  - action: snapshot-evidence
    with: { windowMinutes: 60 }
    continueOnError: true
`,
  'contain-extraction': `
name: contain-extraction
description: A principal's query pattern looks like model extraction. Block the principal for 24 h and revoke its keys, keep evidence.
requires: [principal]
onSuccess: contained
steps:
  - action: block-principal
    # Bounded: a PEP's alarm names the principal, so a stolen PEP token must not shut anyone out for
    # good (the keys stay revoked; a principal that keeps extracting is alarmed and blocked again).
    with: { principal: "{{target.principal}}", ttlMinutes: 1440 }
  - action: snapshot-evidence
    with: { windowMinutes: 60 }
    continueOnError: true
`,
  'quarantine-workload': `
name: quarantine-workload
description: A workload is compromised. Revoke its SVIDs at every PEP (sidecars close its connections), keep evidence.
requires: [spiffeId]
onSuccess: contained
steps:
  - action: quarantine-workload
    with: { spiffeId: "{{target.spiffeId}}" }
  - action: snapshot-evidence
    with: { windowMinutes: 60 }
    continueOnError: true
`,
  'poisoned-dataset': `
name: poisoned-dataset
description: A dataset is poisoned. Freeze it, record its blast radius, roll every model trained on it back to the last approved version.
requires: [dataset]
onSuccess: contained
steps:
  - action: freeze-dataset
    with: { dataset: "{{target.dataset}}" }
  - action: blast-radius
    with: { dataset: "{{target.dataset}}" }
  - action: rollback-affected-models
    with: { dataset: "{{target.dataset}}" }
  - action: snapshot-evidence
    with: { windowMinutes: 60 }
    continueOnError: true
`,
};

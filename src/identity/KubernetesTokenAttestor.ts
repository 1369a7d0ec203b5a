import { readFileSync } from 'node:fs';
import { jwtVerify, createLocalJWKSet, createRemoteJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { WardenError } from '../errors/index.js';

export interface K8sAttestorConfig {
  issuer: string;
  audience: string;
  jwksUrl?: string;
  jwksFile?: string;
  /** A JWKS given directly (tests, or fetched by the caller). */
  jwks?: JSONWebKeySet;
  clockSkewSeconds?: number;
}

/** An attestor turns evidence into selectors (SPIRE's node/workload attestor seam). */
export interface Attestor<Evidence> {
  readonly name: string;
  attest(evidence: Evidence): Promise<string[]>;
}

interface K8sClaims {
  'kubernetes.io'?: {
    namespace?: string;
    serviceaccount?: { name?: string; uid?: string };
    pod?: { name?: string; uid?: string };
  };
}

/**
 * Verifies a projected service-account token (a JWT signed by the cluster's issuer) against
 * the issuer's JWKS and yields selectors k8s:ns:<ns>, k8s:sa:<name>, k8s:pod-name:<pod>.
 */
export class KubernetesTokenAttestor implements Attestor<string> {
  readonly name = 'k8s_psat';
  private readonly keys: JWTVerifyGetKey;

  constructor(private readonly config: K8sAttestorConfig) {
    if (!config.issuer) throw new WardenError('WARDEN_IDENTITY_ATTESTOR_DISABLED', 'identity.k8s.issuer is not configured');
    if (config.jwks) this.keys = createLocalJWKSet(config.jwks);
    else if (config.jwksFile) {
      let set: JSONWebKeySet;
      try {
        set = JSON.parse(readFileSync(config.jwksFile, 'utf8')) as JSONWebKeySet;
      } catch (cause) {
        throw new WardenError('WARDEN_CONFIG_INVALID', `identity.k8s.jwksFile ${config.jwksFile} is not a JWKS`, { cause });
      }
      this.keys = createLocalJWKSet(set);
    } else if (config.jwksUrl) {
      if (!config.jwksUrl.startsWith('https://')) throw new WardenError('WARDEN_CONFIG_INVALID', 'identity.k8s.jwksUrl must be https');
      this.keys = createRemoteJWKSet(new URL(config.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 });
    } else throw new WardenError('WARDEN_IDENTITY_ATTESTOR_DISABLED', 'set identity.k8s.jwksUrl or identity.k8s.jwksFile');
  }

  async attest(token: string): Promise<string[]> {
    if (typeof token !== 'string' || token.length > 16_384) throw new WardenError('WARDEN_IDENTITY_K8S_TOKEN_INVALID', 'token missing or too long');
    let payload: K8sClaims & { sub?: string };
    try {
      ({ payload } = await jwtVerify<K8sClaims>(token, this.keys, {
        issuer: this.config.issuer,
        audience: this.config.audience,
        algorithms: ['RS256', 'ES256', 'ES384', 'PS256'],
        clockTolerance: this.config.clockSkewSeconds ?? 30,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (cause) {
      throw new WardenError('WARDEN_IDENTITY_K8S_TOKEN_INVALID', 'the service-account token did not verify against the configured issuer', { cause });
    }
    const k = payload['kubernetes.io'];
    const ns = k?.namespace;
    const sa = k?.serviceaccount?.name;
    if (!ns || !sa || payload.sub !== `system:serviceaccount:${ns}:${sa}`) {
      throw new WardenError('WARDEN_IDENTITY_K8S_TOKEN_INVALID', 'the token is not a service-account token (namespace/serviceaccount claims missing)');
    }
    const selectors = [`k8s:ns:${ns}`, `k8s:sa:${sa}`];
    if (k?.pod?.name) selectors.push(`k8s:pod-name:${k.pod.name}`);
    return selectors;
  }
}

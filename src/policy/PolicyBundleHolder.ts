import type { KeyObject } from 'node:crypto';
import { WardenError } from '../errors/index.js';
import type { Authorizer, AuthzRequest, Decision } from './Authorizer.js';
import { verifyBundle } from './bundle.js';
import { CachingAuthorizer } from './CachingAuthorizer.js';
import { compilePolicySet, type CompiledPolicySet } from './CompiledPolicySet.js';
import { FailClosedAuthorizer } from './FailClosedAuthorizer.js';

/** Before the first bundle arrives a PEP denies everything (fail closed). */
const denyAll: Authorizer = {
  version: 'none',
  authorize: (): Decision => ({ decision: 'deny', determining: [], errors: [{ policyId: '(bundle)', message: 'no policy bundle installed' }] }),
};

export interface InstallResult {
  version: number;
  policyCount: number;
  fallback: boolean;
  fallbackReasons: readonly string[];
}

/**
 * The PEP side of policy bundles: verifies a pushed bundle (signature, newer version),
 * compiles it, and swaps it in atomically; a bundle that fails any step leaves the current
 * policy in place. Decisions go through a decision cache that the swap clears.
 */
export class PolicyBundleHolder implements Authorizer {
  private readonly cache: CachingAuthorizer | null;
  private active: Authorizer = denyAll;
  private installed: number | undefined;
  private compiled: CompiledPolicySet | undefined;

  constructor(
    private readonly trustedKey: KeyObject | string,
    options: { cacheSize?: number; allowFallback?: boolean } = {},
  ) {
    this.cache = (options.cacheSize ?? 10_000) > 0 ? new CachingAuthorizer(denyAll, { maxEntries: options.cacheSize }) : null;
    this.allowFallback = options.allowFallback ?? true;
  }

  private readonly allowFallback: boolean;

  /** The policy version this PEP enforces (reported to the control plane), or null before the first bundle. */
  get bundleVersion(): number | null {
    return this.installed ?? null;
  }

  get version(): string {
    return this.installed === undefined ? 'none' : String(this.installed);
  }

  get policySet(): CompiledPolicySet | undefined {
    return this.compiled;
  }

  install(bundle: unknown): InstallResult {
    const b = verifyBundle(bundle, this.trustedKey, { installedVersion: this.installed });
    const set = compilePolicySet(b.policies, { schemaText: b.schema ?? undefined, entities: b.entities, version: String(b.version) });
    if (set.fallback && !this.allowFallback) {
      throw new WardenError('WARDEN_POLICY_UNSUPPORTED', `policy version ${b.version} needs the cedar-wasm fallback, which policy.allowFallback forbids: ${set.fallbackReasons.join('; ')}`);
    }
    // One assignment each: a request sees the old set or the new one, never a mix.
    this.compiled = set;
    this.active = new FailClosedAuthorizer(set);
    this.installed = b.version;
    this.cache?.swap(this.active);
    return { version: b.version, policyCount: set.policies.length, fallback: set.fallback, fallbackReasons: set.fallbackReasons };
  }

  authorize(request: AuthzRequest): Decision {
    return this.cache !== null ? this.cache.authorize(request) : this.active.authorize(request);
  }
}

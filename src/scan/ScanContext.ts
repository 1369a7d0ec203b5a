import type { Finding, ScanLimits, Severity } from './types.js';

/** Shared by every nested scan of one top-level file: limits that add up across archive levels. */
export interface ScanBudget {
  inflatedBytes: number;
}

/**
 * Where findings of one top-level file go, plus the nesting chain (archive entries) so each
 * finding says where it is, and the depth so recursion stops at `limits.maxDepth`.
 */
export class ScanContext {
  constructor(
    readonly limits: ScanLimits,
    readonly findings: Finding[],
    readonly chain: readonly string[] = [],
    readonly budget: ScanBudget = { inflatedBytes: 0 },
  ) {}

  get depth(): number {
    return this.chain.length;
  }

  child(entryName: string): ScanContext {
    return new ScanContext(this.limits, this.findings, [...this.chain, entryName], this.budget);
  }

  location(offset?: number): string {
    const where = this.chain.join('!');
    return offset === undefined ? where : `${where}@${offset}`;
  }

  add(rule: string, severity: Severity, message: string, offset?: number): void {
    this.findings.push({ rule, severity, message, location: this.location(offset) });
  }
}

import type { Database } from '../store/index.js';
import type { CertificateAuthority } from './CertificateAuthority.js';
import { FileCertificateAuthority, type AuthorityOptions } from './FileCertificateAuthority.js';

/**
 * Opens the CA under <dataDir>/ca/, creating root, intermediate and JWT keys on first use,
 * and writes <dataDir>/bundle.pem. With `db`, issued SVIDs and revocations are persisted.
 */
export async function loadOrCreateAuthority(options: { dataDir: string; trustDomain: string; db?: Database } & Omit<AuthorityOptions, 'dataDir' | 'trustDomain' | 'db'>): Promise<CertificateAuthority> {
  return FileCertificateAuthority.open(options);
}

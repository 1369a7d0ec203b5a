/** "in 3 h 20 min", "5 min ago": coarse on purpose, a reader wants the order of magnitude. */
export function relative(iso: string | null, now = Date.now()): string {
  if (!iso) return '—';
  const ms = Date.parse(iso) - now;
  if (Number.isNaN(ms)) return '—';
  const abs = Math.abs(ms);
  const text = abs < 60_000 ? `${Math.round(abs / 1000)} s` : abs < 3_600_000 ? `${Math.round(abs / 60_000)} min` : abs < 86_400_000 ? `${Math.floor(abs / 3_600_000)} h ${Math.round((abs % 3_600_000) / 60_000)} min` : `${Math.round(abs / 86_400_000)} d`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

/** Urgency of an expiry, for colour and sorting. */
export function expiryClass(iso: string | null, now = Date.now()): 'expired' | 'soon' | 'day' | 'ok' | 'never' {
  if (!iso) return 'never';
  const ms = Date.parse(iso) - now;
  if (ms <= 0) return 'expired';
  if (ms <= 3_600_000) return 'soon';
  if (ms <= 86_400_000) return 'day';
  return 'ok';
}

export function shortTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { hour12: false });
}

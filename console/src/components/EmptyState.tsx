import type { ReactNode } from 'react';

/** What a new user sees instead of an empty table: why it is empty and the command to run next. */
export function EmptyState({ title, command, children }: { title: string; command?: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <p className="empty-title">{title}</p>
      {children}
      {command && (
        <p>
          Next: <code className="cmd">{command}</code>
        </p>
      )}
    </div>
  );
}

import { ApiError } from '../api/client.js';

export function ErrorNote({ error }: { error: Error | undefined }) {
  if (!error) return null;
  const code = error instanceof ApiError ? error.code : 'ERROR';
  return (
    <p className="error" role="alert">
      <strong>{code}</strong> {error.message}
    </p>
  );
}

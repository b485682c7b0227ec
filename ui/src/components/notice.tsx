import type { ComponentChildren } from 'preact';

/** A status line announced to screen readers (polite) or an alert (assertive). */
export function Notice({ kind, children, id }: { kind: 'error' | 'info' | 'ok'; children: ComponentChildren; id?: string }) {
  return (
    <p id={id} class={`notice notice-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {children}
    </p>
  );
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

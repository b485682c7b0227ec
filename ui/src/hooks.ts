// Small hooks the pages share.
import { useEffect, useRef, useState } from 'preact/hooks';

export interface Polled<T> {
  data: T | null;
  error: Error | null;
  /** When data last arrived (ms). */
  at: number;
  /** Ask again now (after a write). */
  refresh: () => void;
}

/**
 * Calls `load` now and again `intervalMs` after each answer (never two at once; 0: once); stops
 * on unmount or when `deps` change. The last good data stays shown while a later call fails.
 */
export function usePoll<T>(load: (signal: AbortSignal) => Promise<T>, intervalMs: number, deps: unknown[] = []): Polled<T> {
  const [state, setState] = useState<{ data: T | null; error: Error | null; at: number }>({ data: null, error: null, at: 0 });
  const kick = useRef<() => void>(() => undefined);
  useEffect(() => {
    setState((s) => (s.data === null && s.error === null ? s : { data: null, error: null, at: 0 }));
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running = false;
    const run = async (): Promise<void> => {
      if (running || controller.signal.aborted) return;
      running = true;
      clearTimeout(timer);
      try {
        const data = await load(controller.signal);
        if (!controller.signal.aborted) setState({ data, error: null, at: Date.now() });
      } catch (err) {
        if (!controller.signal.aborted) setState((s) => ({ ...s, error: err as Error }));
      } finally {
        running = false;
        if (!controller.signal.aborted && intervalMs > 0) timer = setTimeout(() => void run(), intervalMs);
      }
    };
    kick.current = () => void run();
    void run();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return { ...state, refresh: () => kick.current() };
}

/** The value of a hash route parameter and a setter that keeps the other parameters. */
export function useHashParams(): [URLSearchParams, (changes: Record<string, string | null>) => void] {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = (): void => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  const q = hash.indexOf('?');
  const params = new URLSearchParams(q < 0 ? '' : hash.slice(q + 1));
  const update = (changes: Record<string, string | null>): void => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null) next.delete(k);
      else next.set(k, v);
    }
    const base = q < 0 ? hash || '#/' : hash.slice(0, q);
    const s = next.toString();
    location.hash = s ? `${base}?${s}` : base;
  };
  return [params, update];
}

export function formatTime(ms: number): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour12: false });
}

export function formatDateTime(ms: number): string {
  return new Date(ms).toLocaleString(undefined, { hour12: false });
}

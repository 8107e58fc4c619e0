/** Small pieces the pages share: loading data, showing errors, confirming removals. */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { Unauthorized } from './api';

/** The message of a failure (the 401 case is handled by the app: the login form). */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Loads data with `load` at mount, when a value of `deps` changes, and on `reload()`; keeps the last data
 * while reloading, and only the answer of the latest load counts.
 */
export function useLoad<T>(
  load: () => Promise<T>,
  deps: readonly unknown[] = [],
): {
  data: T | undefined;
  error: string | undefined;
  loading: boolean;
  reload(): Promise<void>;
} {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const loadRef = useRef(load);
  loadRef.current = load;
  const latest = useRef(0);
  const reload = useCallback(async () => {
    const call = ++latest.current;
    setLoading(true);
    try {
      const value = await loadRef.current();
      if (call !== latest.current) return;
      setData(value);
      setError(undefined);
    } catch (e) {
      if (call === latest.current && !(e instanceof Unauthorized)) setError(messageOf(e));
    } finally {
      if (call === latest.current) setLoading(false);
    }
  }, []);
  useEffect(() => {
    void reload();
    // the caller's deps decide when to load again
  }, deps);
  useEffect(
    () => () => {
      latest.current = -1; // unmounted: answers still on the way are dropped
    },
    [],
  );
  return { data, error, loading, reload };
}

/**
 * Runs actions (add, remove, ...) and keeps their last error and success message for display. `run`
 * resolves true when the action succeeded.
 */
export function useAction(): {
  error: string | undefined;
  notice: string | undefined;
  busy: boolean;
  run(action: () => Promise<unknown>, notice?: string): Promise<boolean>;
} {
  const [error, setError] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const run = useCallback(async (action: () => Promise<unknown>, success?: string) => {
    setBusy(true);
    setError(undefined);
    setNotice(undefined);
    try {
      await action();
      setNotice(success);
      return true;
    } catch (e) {
      if (!(e instanceof Unauthorized)) setError(messageOf(e));
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { error, notice, busy, run };
}

/** An error from the server, announced to screen readers. */
export function ErrorMessage({ error }: { error: string | undefined }) {
  if (error === undefined) return null;
  return (
    <p class="error" role="alert">
      {error}
    </p>
  );
}

/** A short success message. */
export function Notice({ text }: { text: string | undefined }) {
  if (text === undefined) return null;
  return (
    <p class="notice" role="status">
      {text}
    </p>
  );
}

/** A button that asks again before it acts: "Remove" → "Remove alice@example.com?" Yes / Cancel. */
export function ConfirmButton({
  label,
  question,
  confirmLabel,
  onConfirm,
  disabled,
}: {
  label: string;
  question: string;
  confirmLabel: string;
  onConfirm(): void;
  disabled?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button type="button" class="danger" disabled={disabled} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  return (
    <span class="confirm">
      <span>{question}</span>
      <button
        type="button"
        class="danger"
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirmLabel}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

/** A page's title and its toolbar. */
export function PageHeader({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <header class="page-header">
      <h1>{title}</h1>
      {children === undefined ? null : <div class="toolbar">{children}</div>}
    </header>
  );
}

/** A labelled search box. */
export function SearchBox({
  value,
  onInput,
  label = 'Search',
}: {
  value: string;
  onInput(value: string): void;
  label?: string;
}) {
  return (
    <label class="search">
      {label}
      <input type="search" value={value} onInput={(e) => onInput(e.currentTarget.value)} />
    </label>
  );
}

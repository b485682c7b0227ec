// The recorded client history: one entry per single-attempt operation, shared by the harness
// (which records it), the checker (which judges it) and the report (which draws it).

/** Outcome of one attempt as the client saw it. */
export type OpStatus =
  /** The server answered: the operation took effect exactly as reported. */
  | 'ok'
  /** A definite rejection before the operation could take effect: it never happened. */
  | 'fail'
  /** Unknown outcome (timeout, connection lost after sending): may take effect at any time after invoke, or never. */
  | 'info';

/** A register operation on one key. Values are strings; `null` means "absent". */
export type OpCall =
  | { kind: 'read' }
  /** `value: null` is a delete. */
  | { kind: 'write'; value: string | null }
  /** Compare-and-swap: if the current value equals `expected` (null = absent), set `value`. */
  | { kind: 'cas'; expected: string | null; value: string };

export type OpResult =
  | { kind: 'read'; value: string | null }
  | { kind: 'write' }
  | { kind: 'cas'; succeeded: boolean };

export interface HistoryOp {
  /** Unique within the history. */
  id: number;
  /** Logical client (process) that issued it; each client has at most one op in flight. */
  client: number;
  key: string;
  call: OpCall;
  status: OpStatus;
  /** Present iff status is 'ok'. */
  result?: OpResult;
  /** Monotonic milliseconds (same clock for every op). */
  invoke: number;
  /** When the client saw the reply or gave up. For 'info' ops the checker treats completion as +infinity. */
  complete: number;
  /** Node the request was sent to, when known. */
  node?: number;
  /** gRPC error text for 'fail' / 'info'. */
  error?: string;
}

export function describeOp(op: HistoryOp): string {
  const c = op.call;
  let s: string;
  switch (c.kind) {
    case 'read':
      s = `read(${op.key})`;
      break;
    case 'write':
      s = c.value === null ? `delete(${op.key})` : `write(${op.key}, ${c.value})`;
      break;
    case 'cas':
      s = `cas(${op.key}, ${c.expected ?? '∅'} → ${c.value})`;
      break;
  }
  if (op.status === 'ok' && op.result) {
    const r = op.result;
    if (r.kind === 'read') s += ` = ${r.value ?? '∅'}`;
    else if (r.kind === 'cas') s += r.succeeded ? ' = ok' : ' = mismatch';
    else s += ' = ok';
  } else if (op.status === 'info') {
    s += ' = ?';
  } else if (op.status === 'fail') {
    s += ' = failed';
  }
  return `#${op.id} c${op.client} ${s}`;
}

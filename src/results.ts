// How every client surface (gRPC unary, KvService.Session, admin HTTP, and writes a follower
// forwarded to the leader) answers the result of an applied command.
//
// One table, one row per ResultCode: a new code is one line here, and a code without a row fails
// the type check (`satisfies`) and test/results/answers.test.ts. A code the table does not know (a
// newer leader during an upgrade) is answered INTERNAL: no non-OK result is ever reported as
// success.
import { ResultCode, type CommandResult } from '../proto/gen/placement/v1/command.js';
import { PlacementError, type ErrorCode } from './errors.js';

export interface ResultAnswer {
  /** null: the command was applied and the operation answers its reply. */
  readonly error: ErrorCode | null;
  /** Said when the state machine gave no message. */
  readonly fallback: string;
  /**
   * Nothing was written because the operation's own expectation did not hold. An operation whose
   * reply can say so itself (compare-and-swap's `succeeded: false`) answers its reply; every other
   * operation answers `error`.
   */
  readonly unmet?: true;
}

export const RESULT_ANSWERS = {
  [ResultCode.RESULT_OK]: { error: null, fallback: '' },
  [ResultCode.RESULT_NOT_FOUND]: { error: 'NOT_FOUND', fallback: 'not found' },
  [ResultCode.RESULT_ALREADY_EXISTS]: { error: 'ALREADY_EXISTS', fallback: 'already exists' },
  [ResultCode.RESULT_COMPARE_FAILED]: { error: 'FAILED_PRECONDITION', fallback: 'compare failed', unmet: true },
  [ResultCode.RESULT_INVALID]: { error: 'INVALID_ARGUMENT', fallback: 'invalid command' },
  [ResultCode.RESULT_OUTCOME_UNKNOWN]: { error: 'ABORTED', fallback: 'outcome unknown: an earlier attempt may or may not have been applied' },
  // Never the other request's stored result: its writer would take it for its own.
  [ResultCode.RESULT_CLIENT_ID_REUSED]: { error: 'FAILED_PRECONDITION', fallback: 'client id reused with a different request' },
  // Only the etcd commands answer it (a compacted or future revision).
  [ResultCode.RESULT_OUT_OF_RANGE]: { error: 'OUT_OF_RANGE', fallback: 'revision out of range' },
  // A configured bound (leases, keys per lease): nothing was applied.
  [ResultCode.RESULT_LIMIT_EXCEEDED]: { error: 'RESOURCE_EXHAUSTED', fallback: 'limit exceeded' },
} as const satisfies Record<Exclude<ResultCode, ResultCode.UNRECOGNIZED>, ResultAnswer>;

/** The row of `code`, or undefined when the table has none. */
export function resultAnswer(code: number): ResultAnswer | undefined {
  return Object.prototype.hasOwnProperty.call(RESULT_ANSWERS, code) ? (RESULT_ANSWERS as Record<number, ResultAnswer>)[code] : undefined;
}

export interface AnswerOptions {
  /** The operation's reply says itself that nothing was written (compare-and-swap). */
  replySaysUnmet?: boolean;
  /** Names the object in a fallback message ("key /a", "user bob"). */
  what?: string;
}

/**
 * Returns `r` when the operation answers with its reply (applied, or an unmet expectation the
 * reply reports); throws the PlacementError every surface maps to its own status otherwise.
 */
export function answerResult(r: CommandResult, opts: AnswerOptions = {}): CommandResult {
  const row = resultAnswer(r.code);
  if (!row) throw new PlacementError('INTERNAL', `unexpected result code ${r.code}${r.message ? `: ${r.message}` : ''}; nothing is known to be applied`);
  if (row.error === null) return r;
  if (row.unmet && opts.replySaysUnmet) return r;
  const message = r.message || (opts.what ? `${opts.what}: ${row.fallback}` : row.fallback);
  throw new PlacementError(row.error, message);
}

// The grpc-timeout request header: 1 to 8 ASCII digits and a unit (H, M, S, m, u, n), nothing
// else. A malformed value is refused rather than guessed at (grpc-js's own parser searches the
// value for the pattern, so "x1S" or "123456789S" would pass there).
import { CODE, GrpcWireError } from './errors.js';

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** Milliseconds the client allows the call, or undefined when it sets no deadline. */
export function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const v = Array.isArray(value) ? value[0] : value;
  const m = v === undefined ? null : /^(\d{1,8})([HMSmun])$/.exec(v);
  if (!m) throw new GrpcWireError(CODE.INTERNAL, `malformed grpc-timeout header: ${JSON.stringify(String(v).slice(0, 32))}`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

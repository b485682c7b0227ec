// Malformed requests: grpc-js answers INTERNAL when a request does not decode. The service
// definitions are wrapped so that decoding never throws; the handler sees a marker instead and
// answers INVALID_ARGUMENT, which is what a client needs to know (its request was bad).
import { invalidArgument } from '../errors.js';

const MALFORMED = Symbol('malformed');
export type Maybe<T> = T | { [MALFORMED]: string };

/** A copy of a service definition whose request deserializer never throws: a malformed request
 *  is answered INVALID_ARGUMENT by the handler (grpc-js would answer INTERNAL). */
export function tolerant<D extends Record<string, { requestDeserialize: (b: Buffer) => unknown }>>(def: D): D {
  const out: Record<string, unknown> = {};
  for (const [k, m] of Object.entries(def)) {
    out[k] = {
      ...m,
      requestDeserialize: (b: Buffer) => {
        try {
          return m.requestDeserialize(b);
        } catch (err) {
          return { [MALFORMED]: (err as Error).message };
        }
      },
    };
  }
  return out as D;
}

/** What a tolerant decoder returns for bytes that do not decode (checkMalformed() refuses it). */
export function malformed(message: string): { [MALFORMED]: string } {
  return { [MALFORMED]: message };
}

export function checkMalformed<T>(req: Maybe<T>): T {
  if (req && typeof req === 'object' && MALFORMED in req) {
    throw invalidArgument(`malformed request: ${(req as { [MALFORMED]: string })[MALFORMED]}`);
  }
  return req as T;
}

/** Why `req` did not decode, or undefined when it is a real request. */
export function malformedReason(req: unknown): string | undefined {
  if (req && typeof req === 'object' && MALFORMED in req) return (req as { [MALFORMED]: string })[MALFORMED];
  return undefined;
}

// A violation of gRPC's wire protocol, with the status the call ends with: the server answers it
// in the trailers and hands nothing of the call to its handler.
export class GrpcWireError extends Error {
  constructor(
    /** A gRPC status code (numbers as in @grpc/grpc-js `status`). */
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'GrpcWireError';
  }
}

/** The status codes this folder answers with (gRPC's numbering). */
export const CODE = { OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, RESOURCE_EXHAUSTED: 8, UNIMPLEMENTED: 12, INTERNAL: 13 } as const;

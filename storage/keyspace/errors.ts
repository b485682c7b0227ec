// etcd's errors for the KV API: the gRPC status code and the exact message its clients match on
// (etcd 3.4, etcdserver/api/v3rpc/rpctypes). storage/ cannot import grpc-js; the codes are the
// standard gRPC status numbers.

export const GRPC = { INVALID_ARGUMENT: 3, NOT_FOUND: 5, FAILED_PRECONDITION: 9, OUT_OF_RANGE: 11, RESOURCE_EXHAUSTED: 8 } as const;

export type KeyspaceErrorKind =
  | 'EMPTY_KEY'
  | 'KEY_NOT_FOUND'
  | 'VALUE_PROVIDED'
  | 'LEASE_PROVIDED'
  | 'TOO_MANY_OPS'
  | 'DUPLICATE_KEY'
  | 'COMPACTED'
  | 'FUTURE_REV'
  | 'LEASE_NOT_FOUND'
  | 'REQUEST_TOO_LARGE'
  | 'LEASE_KEYS_LIMIT';

const ERRORS: Record<KeyspaceErrorKind, [number, string]> = {
  EMPTY_KEY: [GRPC.INVALID_ARGUMENT, 'etcdserver: key is not provided'],
  KEY_NOT_FOUND: [GRPC.INVALID_ARGUMENT, 'etcdserver: key not found'],
  VALUE_PROVIDED: [GRPC.INVALID_ARGUMENT, 'etcdserver: value is provided'],
  LEASE_PROVIDED: [GRPC.INVALID_ARGUMENT, 'etcdserver: lease is provided'],
  TOO_MANY_OPS: [GRPC.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'],
  DUPLICATE_KEY: [GRPC.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'],
  COMPACTED: [GRPC.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'],
  FUTURE_REV: [GRPC.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'],
  LEASE_NOT_FOUND: [GRPC.NOT_FOUND, 'etcdserver: requested lease not found'],
  REQUEST_TOO_LARGE: [GRPC.INVALID_ARGUMENT, 'etcdserver: request is too large'],
  // Ours (etcd has no such bound): the replicated max_keys_per_lease (--max-keys-per-lease).
  LEASE_KEYS_LIMIT: [GRPC.RESOURCE_EXHAUSTED, 'placement: the lease already has the most keys attached that max-keys-per-lease allows'],
};

/** A request etcd would refuse; `grpcCode` and `message` are what etcd answers. */
export class KeyspaceError extends Error {
  readonly grpcCode: number;
  constructor(
    readonly kind: KeyspaceErrorKind,
    /** For COMPACTED: the compact revision (a watch cancel carries it). */
    readonly compactRevision = 0,
  ) {
    const [code, message] = ERRORS[kind];
    super(message);
    this.name = 'KeyspaceError';
    this.grpcCode = code;
  }
}

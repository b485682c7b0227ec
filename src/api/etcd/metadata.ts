// Request metadata our SDK adds to etcd calls, which plain etcd clients never send: the write's
// de-duplication identity (client id and sequence number, as on the native API), so that a
// retried Txn is applied once. Without it an etcd write is applied on every attempt, as in etcd.
export const CLIENT_ID_METADATA = 'x-placement-client-id';
export const SEQ_METADATA = 'x-placement-seq';

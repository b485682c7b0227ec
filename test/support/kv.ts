// Test helper: a promisified raw gRPC client for one node (KvService + ClusterService), one
// attempt per call (no retries, no redirects) so tests see exactly what the server answered.
//
//   const kv = kvClient(c.node(2).grpcAddress);
//   await kv.set({ key: 'a', value: Buffer.from('1') });
//   const r = await kv.get({ key: 'a' });               // r.found, r.value
//   kv.close();
// Errors are grpc-js ServiceErrors (err.code, err.details, err.metadata).
import * as grpc from '@grpc/grpc-js';
import {
  KvServiceClient,
  type CompareAndSwapReply,
  type CompareAndSwapRequest,
  type DeleteReply,
  type DeleteRequest,
  type ExistsReply,
  type ExistsRequest,
  type GetReply,
  type GetRequest,
  type ListReply,
  type ListRequest,
  type SetReply,
  type SetRequest,
} from '../../proto/gen/placement/v1/kv.js';
import { ClusterServiceClient, type MembersReply, type StatusReply } from '../../proto/gen/placement/v1/cluster.js';

type Unary<Req, Rep> = (req: Partial<Req>, opts?: { timeoutMs?: number; metadata?: grpc.Metadata }) => Promise<Rep>;

export interface KvClient {
  set: Unary<SetRequest, SetReply>;
  get: Unary<GetRequest, GetReply>;
  delete: Unary<DeleteRequest, DeleteReply>;
  exists: Unary<ExistsRequest, ExistsReply>;
  list: Unary<ListRequest, ListReply>;
  compareAndSwap: Unary<CompareAndSwapRequest, CompareAndSwapReply>;
  status(opts?: { timeoutMs?: number }): Promise<StatusReply>;
  members(opts?: { timeoutMs?: number }): Promise<MembersReply>;
  /** The underlying clients, for raw calls. */
  raw: { kv: KvServiceClient; cluster: ClusterServiceClient };
  close(): void;
}

const defaults = {
  set: { key: '', value: Buffer.alloc(0), clientId: '', seq: 0, lease: 0, prevKv: false },
  get: { key: '', serializable: false },
  delete: { key: '', clientId: '', seq: 0, prevKv: false },
  exists: { key: '', serializable: false },
  list: { prefix: '', limit: 0, startAfter: '', serializable: false, keysOnly: false },
  compareAndSwap: { key: '', expect: undefined, value: Buffer.alloc(0), clientId: '', seq: 0, lease: 0 },
};

export function kvClient(address: string, channelOptions: grpc.ChannelOptions = {}): KvClient {
  const kv = new KvServiceClient(address, grpc.credentials.createInsecure(), channelOptions);
  const cluster = new ClusterServiceClient(address, grpc.credentials.createInsecure(), channelOptions);
  const call =
    <Req, Rep>(client: grpc.Client, method: string, base: object) =>
    (req: Partial<Req>, opts: { timeoutMs?: number; metadata?: grpc.Metadata } = {}): Promise<Rep> =>
      new Promise((resolve, reject) => {
        const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!.bind(client);
        fn({ ...base, ...req }, opts.metadata ?? new grpc.Metadata(), { deadline: Date.now() + (opts.timeoutMs ?? 10_000) }, (err: grpc.ServiceError | null, rep: Rep) =>
          err ? reject(err) : resolve(rep),
        );
      });
  return {
    set: call(kv, 'set', defaults.set),
    get: call(kv, 'get', defaults.get),
    delete: call(kv, 'delete', defaults.delete),
    exists: call(kv, 'exists', defaults.exists),
    list: call(kv, 'list', defaults.list),
    compareAndSwap: call(kv, 'compareAndSwap', defaults.compareAndSwap),
    status: (opts) => call<object, StatusReply>(cluster, 'status', {})({}, opts),
    members: (opts) => call<object, MembersReply>(cluster, 'members', {})({}, opts),
    raw: { kv, cluster },
    close: () => {
      kv.close();
      cluster.close();
    },
  };
}

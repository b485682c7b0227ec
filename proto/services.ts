// The service definitions and client classes the code uses: the generated ones with their
// serializers and deserializers switched to the cheaper codec (proto/codec.ts). Same paths, same wire bytes.
import * as grpc from '@grpc/grpc-js';
import { withFastCodec } from './codec.js';
import {
  CompareAndSwapReply,
  CompareAndSwapRequest,
  DeleteReply,
  DeleteRequest,
  ExistsReply,
  ExistsRequest,
  GetReply,
  GetRequest,
  KvServiceService,
  ListReply,
  ListRequest,
  SessionReply,
  SessionRequest,
  SetReply,
  SetRequest,
  KvServiceClient as GeneratedKvClient,
} from './gen/placement/v1/kv.js';
import {
  ForwardReply,
  ForwardRequest,
  PeerHello,
  PeerHelloReply,
  PeerServiceService,
  RaftBatch,
  RaftStreamAck,
  SnapshotChunk,
  SnapshotInstallReply,
  PeerServiceClient as GeneratedPeerClient,
} from './gen/placement/v1/peer.js';

export const KvService = withFastCodec(KvServiceService, {
  set: [SetRequest, SetReply],
  get: [GetRequest, GetReply],
  delete: [DeleteRequest, DeleteReply],
  exists: [ExistsRequest, ExistsReply],
  list: [ListRequest, ListReply],
  compareAndSwap: [CompareAndSwapRequest, CompareAndSwapReply],
  session: [SessionRequest, SessionReply],
} as never, { strictUtf8: true });

export const PeerService = withFastCodec(PeerServiceService, {
  hello: [PeerHello, PeerHelloReply],
  raft: [RaftBatch, RaftStreamAck],
  installSnapshot: [SnapshotChunk, SnapshotInstallReply],
  forward: [ForwardRequest, ForwardReply],
} as never);

import {
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseKeepAliveRequest,
  LeaseKeepAliveResponse,
  LeaseLeasesRequest,
  LeaseLeasesResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  LeaseService as GeneratedLeaseService,
  LeaseTimeToLiveRequest,
  LeaseTimeToLiveResponse,
  LeaseClient as GeneratedLeaseClient,
} from './gen/etcd/etcdserverpb/rpc.js';

/** etcdserverpb.Lease (the SDK's client side; the server decodes requests itself: src/api/etcd/lease-wire.ts). */
export const EtcdLeaseService = withFastCodec(GeneratedLeaseService, {
  leaseGrant: [LeaseGrantRequest, LeaseGrantResponse],
  leaseRevoke: [LeaseRevokeRequest, LeaseRevokeResponse],
  leaseKeepAlive: [LeaseKeepAliveRequest, LeaseKeepAliveResponse],
  leaseTimeToLive: [LeaseTimeToLiveRequest, LeaseTimeToLiveResponse],
  leaseLeases: [LeaseLeasesRequest, LeaseLeasesResponse],
} as never);
export type EtcdLeaseClient = GeneratedLeaseClient;
export const EtcdLeaseClient = grpc.makeGenericClientConstructor(EtcdLeaseService, 'etcdserverpb.Lease') as unknown as typeof GeneratedLeaseClient;

export type KvServiceClient = GeneratedKvClient;
export type PeerServiceClient = GeneratedPeerClient;
export const KvServiceClient = grpc.makeGenericClientConstructor(KvService, 'placement.v1.KvService') as unknown as typeof GeneratedKvClient;
export const PeerServiceClient = grpc.makeGenericClientConstructor(PeerService, 'placement.v1.PeerService') as unknown as typeof GeneratedPeerClient;

// etcdserverpb.Cluster: membership through etcd's API, wire-compatible with etcd 3.4, on top of
// src/membership (the same operations as placement.v1 ClusterService and `placement-ctl member`).
//
// Ids: etcd names members by a uint64; ours are small numbers (--id). The etcd API shows the id
// derived from ours (ids.ts), the same one every response header carries, and maps it back by
// looking through the current members. A member's `name` is `member-<id>`: the --id to start it
// with. Peer and client URLs both name the member's gRPC address (one port serves both).
import * as grpc from '@grpc/grpc-js';
import type { Metrics } from '../../metrics/metrics.js';
import { instrumentGrpcService } from '../../metrics/grpc.js';
import {
  ClusterService,
  type ClusterServer,
  type Member,
  MemberAddRequest,
  MemberListRequest,
  MemberPromoteRequest,
  MemberRemoveRequest,
  MemberUpdateRequest,
  type ResponseHeader,
} from '../../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { MembershipRequest } from '../../../proto/gen/placement/v1/peer.js';
import { PlacementError } from '../../errors.js';
import type { ClusterStatus, MemberInfo } from '../../http/backend.js';
import { tolerant } from '../../grpc/malformed.js';
import { etcdUnary } from './call.js';
import { clampedRequests } from './wire.js';
import { serviceError } from './errors.js';
import { headerFiller } from './header.js';
import { etcdMemberId } from './ids.js';
import type { EtcdNode } from './node.js';

/** What the Cluster service needs from a node (PlacementNode provides it). */
export interface ClusterNode extends EtcdNode {
  readonly cfg: EtcdNode['cfg'] & { readonly certFile: string };
  clusterStatus(): ClusterStatus;
  members(deadline: number): Promise<MemberInfo[]>;
  changeMembership(req: MembershipRequest, deadline: number): Promise<number>;
}

export const ETCD_MEMBER_NOT_FOUND = 'etcdserver: member not found';
export const ETCD_MEMBER_EXISTS = 'etcdserver: member ID already exist';
export const ETCD_PEER_URL_EXISTS = 'etcdserver: Peer URLs already exists';
export const ETCD_BAD_URLS = 'etcdserver: given member URLs are invalid';
export const ETCD_NOT_LEARNER = 'etcdserver: can only promote a learner member';
export const ETCD_LEARNER_NOT_READY = 'etcdserver: can only promote a learner member which is in sync with leader';
export const ETCD_UNHEALTHY = 'etcdserver: unhealthy cluster';

/**
 * A refusal of src/membership as etcd's error for the same condition, which etcd clients match
 * on. Conditions etcd has no string for keep our sentence (and its code).
 */
export function toEtcdMembershipError(err: unknown): unknown {
  if (!(err instanceof PlacementError)) return err;
  const m = err.message;
  const S = grpc.status;
  if (err.code === 'NOT_FOUND') return serviceError(S.NOT_FOUND, ETCD_MEMBER_NOT_FOUND);
  if (err.code === 'ALREADY_EXISTS') return serviceError(S.FAILED_PRECONDITION, /already has the address/.test(m) ? ETCD_PEER_URL_EXISTS : ETCD_MEMBER_EXISTS);
  if (err.code === 'FAILED_PRECONDITION') {
    if (/has not caught up/.test(m)) return serviceError(S.FAILED_PRECONDITION, ETCD_LEARNER_NOT_READY);
    if (/is already a voter/.test(m)) return serviceError(S.FAILED_PRECONDITION, ETCD_NOT_LEARNER);
    // The strict reconfiguration check: etcd answers "unhealthy cluster" when too few members are connected.
    if (/strict reconfiguration/.test(m)) return serviceError(S.UNAVAILABLE, ETCD_UNHEALTHY);
  }
  return err;
}

/** `http(s)://host:port` → `host:port`; throws etcd's "invalid URLs" for anything else. */
export function addressOfPeerUrl(url: string): string {
  const m = /^(https?):\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):(\d{1,5})\/?$/.exec(url);
  if (!m || Number(m[3]) < 1 || Number(m[3]) > 65535) throw serviceError(grpc.status.INVALID_ARGUMENT, ETCD_BAD_URLS);
  return `${m[2]}:${m[3]}`;
}

export function clusterHandlers(node: ClusterNode): ClusterServer {
  const fill = headerFiller(node);
  // etcd's Cluster responses carry no revision.
  const header = (): { header: ResponseHeader } => ({ header: { ...fill(), revision: 0 } });
  const clusterId = node.cfg.clusterId;
  const scheme = node.cfg.certFile ? 'https' : 'http';
  const unary = <Req, Rep>(fn: (req: Req, deadline: number) => Rep | Promise<Rep>): grpc.handleUnaryCall<Req, Rep> =>
    etcdUnary<Req, Rep>(node, async (req, deadline) => {
      try {
        return await fn(req, deadline);
      } catch (err) {
        throw toEtcdMembershipError(err);
      }
    }) as unknown as grpc.handleUnaryCall<Req, Rep>;

  const toWire = (m: MemberInfo, selfId: number): Member => {
    // Started: it has answered the leader (or it is this member). etcd leaves an unstarted
    // member's name and client URLs empty.
    const started = m.id === selfId || m.isLeader || (m.matchIndex ?? 0) > 0 || m.active === true;
    const url = m.address ? `${scheme}://${m.address}` : '';
    return {
      ID: etcdMemberId(clusterId, m.id),
      name: started ? `member-${m.id}` : '',
      peerURLs: url ? [url] : [],
      clientURLs: started && url ? [url] : [],
      isLearner: m.role === 'learner',
    };
  };
  const list = async (deadline: number): Promise<Member[]> => {
    const self = node.cfg.id;
    return (await node.members(deadline)).map((m) => toWire(m, self));
  };
  /** Our id of the member etcd calls `etcdId`; etcd's "member not found" when there is none. */
  const ourId = (etcdId: number): number => {
    const m = node.clusterStatus().members.find((x) => etcdMemberId(clusterId, x.id) === etcdId);
    if (!m) throw serviceError(grpc.status.NOT_FOUND, ETCD_MEMBER_NOT_FOUND);
    return m.id;
  };
  const change = async (req: MembershipRequest, deadline: number): Promise<{ id: number; members: Member[] }> => {
    const id = await node.changeMembership(req, deadline);
    return { id, members: await list(deadline) };
  };

  return {
    memberList: unary(async (_req: MemberListRequest, deadline) => ({ ...header(), members: await list(deadline) })),
    memberAdd: unary(async (req: MemberAddRequest, deadline) => {
      if (req.peerURLs.length !== 1) {
        // One port per member: several peer URLs cannot be honoured, and none names nothing.
        throw serviceError(grpc.status.INVALID_ARGUMENT, ETCD_BAD_URLS);
      }
      const address = addressOfPeerUrl(req.peerURLs[0]!);
      const { id, members } = await change({ op: 'add', id: 0, address, isLearner: req.isLearner }, deadline);
      const added = members.find((m) => m.ID === etcdMemberId(clusterId, id)) ?? {
        ID: etcdMemberId(clusterId, id),
        name: '',
        peerURLs: [req.peerURLs[0]!],
        clientURLs: [],
        isLearner: req.isLearner,
      };
      // The new member has not started: etcd answers it without a name, which etcdctl then
      // fills in; ours carries its --id so that the operator knows how to start it.
      return { ...header(), member: { ...added, name: `member-${id}` }, members };
    }),
    memberRemove: unary(async (req: MemberRemoveRequest, deadline) => {
      const { members } = await change({ op: 'remove', id: ourId(req.ID), address: '', isLearner: false }, deadline);
      return { ...header(), members };
    }),
    memberPromote: unary(async (req: MemberPromoteRequest, deadline) => {
      const { members } = await change({ op: 'promote', id: ourId(req.ID), address: '', isLearner: false }, deadline);
      return { ...header(), members };
    }),
    memberUpdate: unary(async (req: MemberUpdateRequest, deadline) => {
      const id = ourId(req.ID);
      // One port per member: it has exactly one peer URL.
      if (req.peerURLs.length !== 1) throw serviceError(grpc.status.INVALID_ARGUMENT, ETCD_BAD_URLS);
      const { members } = await change({ op: 'update', id, address: addressOfPeerUrl(req.peerURLs[0]!), isLearner: false }, deadline);
      return { ...header(), members };
    }),
  };
}

export function registerCluster(server: grpc.Server, node: ClusterNode, metrics?: Metrics): void {
  // tolerant: a request that does not decode is answered INVALID_ARGUMENT by the handler.
  const handlers = clusterHandlers(node);
  // Member ids beyond 2^53 (etcd's are 64-bit) read as 2^53-1, which names no member (ids.ts).
  const def = clampedRequests(ClusterService, {
    memberAdd: MemberAddRequest,
    memberRemove: MemberRemoveRequest,
    memberUpdate: MemberUpdateRequest,
    memberList: MemberListRequest,
    memberPromote: MemberPromoteRequest,
  });
  server.addService(tolerant(def), metrics ? instrumentGrpcService('etcdserverpb.Cluster', handlers, metrics, ClusterService) : handlers);
}

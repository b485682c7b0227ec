// Client traffic in bytes, as etcd counts it (etcd_network_client_grpc_{received,sent}_bytes_total,
// which etcd's Grafana dashboard plots as "Client Traffic In/Out"): the encoded size of every gRPC
// message the client port receives and sends, counted where grpc-js is handed each method's
// (de)serializer, so the direct unary path, the streams and the gateway's loopback calls all count.
import type * as grpc from '@grpc/grpc-js';
import type { Metrics } from './metrics.js';

type Register = (name: string, handler: unknown, serialize: unknown, deserialize: unknown, type: string) => boolean;

/**
 * Counts the message bytes of every method registered on `server` from now on, except those
 * `skip` names (Raft traffic between members, when it shares the port). Call before the services
 * are added.
 */
export function countMessageBytes(server: grpc.Server, metrics: Metrics, skip: (path: string) => boolean): void {
  const s = server as unknown as { register: Register };
  const register = s.register.bind(server);
  const received = metrics.grpcReceivedBytes;
  const sent = metrics.grpcSentBytes;
  s.register = (name, handler, serialize, deserialize, type) => {
    if (skip(name) || typeof serialize !== 'function' || typeof deserialize !== 'function') return register(name, handler, serialize, deserialize, type);
    const ser = serialize as (v: unknown) => Buffer;
    const de = deserialize as (b: Buffer) => unknown;
    return register(
      name,
      handler,
      (v: unknown) => {
        const b = ser(v);
        sent.inc(b.length);
        return b;
      },
      (b: Buffer) => {
        received.inc(b.length);
        return de(b);
      },
      type,
    );
  };
}

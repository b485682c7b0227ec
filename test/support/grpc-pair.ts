// The same gRPC service on two grpc-js servers, one with a direct path hooked into it (src/grpc/h2)
// and one plain, each with a client: the direct-path tests compare what a client sees from both.
import * as grpc from '@grpc/grpc-js';

export interface Served<H> {
  server: grpc.Server;
  client: grpc.Client;
  port: number;
  /** What the hook reported (the hooked server only). */
  hook?: H;
}

export interface ServedPair<H> {
  direct: Served<H>;
  plain: Served<H>;
  /** Closes both clients and shuts both servers down. */
  close(): void;
}

/**
 * Serves `service` with `handlers` twice, with the server limits `maxIn`/`maxOut`; `hook` is
 * applied to the first server before the service is added.
 */
export async function servePair<H>(
  service: grpc.ServiceDefinition,
  handlers: unknown,
  limits: { maxIn: number; maxOut: number },
  hook: (server: grpc.Server) => H,
  clientOptions: grpc.ChannelOptions = { 'grpc.max_receive_message_length': 1024 * 1024 },
): Promise<ServedPair<H>> {
  const serve = async (direct: boolean): Promise<Served<H>> => {
    const server = new grpc.Server({ 'grpc.max_receive_message_length': limits.maxIn, 'grpc.max_send_message_length': limits.maxOut });
    const h = direct ? hook(server) : undefined;
    server.addService(service, handlers as grpc.UntypedServiceImplementation);
    const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), clientOptions);
    return { server, client, port, hook: h };
  };
  const direct = await serve(true);
  const plain = await serve(false);
  return {
    direct,
    plain,
    close() {
      for (const s of [direct, plain]) {
        s.client.close();
        s.server.forceShutdown();
      }
    },
  };
}

/**
 * Metadata without what the transport sets: the HTTP date (grpc-js sends the second a reply was
 * sent) and the content-type (the direct path sends etcd's, application/grpc, where grpc-js sends
 * application/grpc+proto; test/etcd/wire-headers-diff.test.ts checks the direct path's headers).
 */
export function appMetadata(m: Record<string, unknown>): Record<string, unknown> {
  const { date: _date, 'content-type': _contentType, ...rest } = m;
  return rest;
}

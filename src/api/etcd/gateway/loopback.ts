// The gateway's way into the member's own gRPC server: a gRPC client over a private Unix socket
// whose connections grpc-js serves as if they came to the client port (createConnectionInjector),
// so every gateway request goes through exactly what a gRPC client's does: validation, auth, the
// services, their errors. As with etcd's gateway, a TLS client certificate does not reach it (no
// common-name auth through the gateway); a token in the Authorization header does.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';

const identity = (b: Buffer): Buffer => b;

export class GatewayLoopback {
  private constructor(
    private readonly client: grpc.Client,
    private readonly listener: NetServer,
    private readonly injector: ReturnType<grpc.Server['createConnectionInjector']>,
    private readonly dir: string,
  ) {}

  /** Opens the socket and connects to it. Call before the server's bindAsync (grpc-js hooks apply). */
  static async open(server: grpc.Server): Promise<GatewayLoopback> {
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    // A directory only this user can enter holds the socket: nobody else can connect to it.
    const dir = mkdtempSync(join(tmpdir(), 'placement-gw-'));
    const path = join(dir, 'grpc.sock');
    const listener = createServer((socket) => injector.injectConnection(socket));
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(path, () => resolve());
    });
    const client = new grpc.Client(`unix:${path}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
    });
    return new GatewayLoopback(client, listener, injector, dir);
  }

  unary(method: string, request: Buffer, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, reply?: Buffer) => void): grpc.ClientUnaryCall {
    return this.client.makeUnaryRequest(method, identity, identity, request, md, {}, (err, reply) => cb(err, reply));
  }

  serverStream(method: string, request: Buffer, md: grpc.Metadata): grpc.ClientReadableStream<Buffer> {
    return this.client.makeServerStreamRequest(method, identity, identity, request, md, {});
  }

  bidi(method: string, md: grpc.Metadata): grpc.ClientDuplexStream<Buffer, Buffer> {
    return this.client.makeBidiStreamRequest(method, identity, identity, md, {});
  }

  close(): void {
    this.client.close();
    this.injector.destroy();
    this.listener.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// The gateway's way into the member's own gRPC server: a gRPC client over a private Unix socket
// whose connections grpc-js serves as if they came to the client port (createConnectionInjector),
// so every gateway request goes through exactly what a gRPC client's does: validation, auth, the
// services, their errors. As with etcd's gateway, a TLS client certificate does not reach it (no
// common-name auth through the gateway); a token in the Authorization header does.
//
// The socket lives in the member's data directory, which only its user may enter (a socket
// anyone could reach would skip the client port's TLS), and is replaced at start if a killed run
// left it behind. A data directory whose path is too long for a socket name gets a private
// directory under the system's temporary one instead.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';

const identity = (b: Buffer): Buffer => b;

/** Linux's limit on a socket path is 108 bytes with its terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 100;

export class GatewayLoopback {
  private constructor(
    private readonly client: grpc.Client,
    private readonly listener: NetServer,
    private readonly injector: ReturnType<grpc.Server['createConnectionInjector']>,
    private readonly cleanup: () => void,
  ) {}

  /** Opens the socket and connects to it. Call before the server's bindAsync (grpc-js hooks apply). */
  static async open(server: grpc.Server, dataDir: string): Promise<GatewayLoopback> {
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    let path = join(dataDir, 'gateway.sock');
    let cleanup = (): void => rmSync(path, { force: true });
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
      const dir = mkdtempSync(join(tmpdir(), 'placement-gw-'));
      path = join(dir, 'grpc.sock');
      cleanup = () => rmSync(dir, { recursive: true, force: true });
    }
    rmSync(path, { force: true });
    const listener = createServer((socket) => injector.injectConnection(socket));
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(path, () => resolve());
    });
    const client = new grpc.Client(`unix:${path}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
    });
    return new GatewayLoopback(client, listener, injector, cleanup);
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
    this.cleanup();
  }
}

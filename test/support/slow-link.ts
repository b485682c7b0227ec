// A TCP proxy whose dialer → target direction is limited to `bytesPerSec` (a token bucket
// refilled every 20 ms); the other direction is not limited. Models a slow network link to one
// member, e.g. so a snapshot takes longer to stream than the leader takes to write the next ones.
import net from 'node:net';

export interface SlowLink {
  port: number;
  address: string;
  /** Bytes forwarded towards the target so far. */
  forwarded(): number;
  close(): Promise<void>;
}

const REFILL_MS = 20;

export async function startSlowLink(target: { host: string; port: number }, bytesPerSec: number): Promise<SlowLink> {
  const sockets = new Set<net.Socket>();
  let forwarded = 0;
  const server = net.createServer((down) => {
    const up = net.connect(target.port, target.host);
    sockets.add(down).add(up);
    let tokens = (bytesPerSec * REFILL_MS) / 1000;
    let timer: NodeJS.Timeout | null = null;
    const refill = (): void => {
      timer = null;
      tokens = Math.min(tokens + (bytesPerSec * REFILL_MS) / 1000, bytesPerSec / 10);
      if (tokens > 0) down.resume();
      else timer = setTimeout(refill, REFILL_MS);
    };
    down.on('data', (chunk: Buffer) => {
      up.write(chunk);
      forwarded += chunk.byteLength;
      tokens -= chunk.byteLength;
      if (tokens <= 0) {
        down.pause();
        if (!timer) timer = setTimeout(refill, REFILL_MS);
      }
    });
    up.pipe(down);
    const end = (): void => {
      if (timer) clearTimeout(timer);
      down.destroy();
      up.destroy();
      sockets.delete(down);
      sockets.delete(up);
    };
    down.on('close', end).on('error', end);
    up.on('close', end).on('error', end);
    down.on('end', () => up.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    address: `127.0.0.1:${port}`,
    forwarded: () => forwarded,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// One GET whose answer is JSON, with node:http(s) rather than fetch(): fetch refuses the ports
// browsers block (6000, 6665-6669, 10080, ...), which an operator may give an admin port, and
// cannot be given a CA or a client certificate. Used by the cluster overview (a member asking the
// others) and by `npm start` (scripts/start-cluster.js, waiting for its nodes' leader).
import type { request as httpRequest } from 'node:http';
import type { RequestOptions } from 'node:https';

/** One GET whose answer is JSON, within timeoutMs in all (a TimeoutError after, as AbortSignal.timeout gives). */
export function getJson(request: typeof httpRequest, url: string, options: RequestOptions, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(url, options, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(parts).toString('utf8')) as unknown });
        } catch (err) {
          reject(err as Error);
        }
      });
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error('no answer in time'), { name: 'TimeoutError' })), timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    req.end();
  });
}

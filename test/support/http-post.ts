// Plain HTTP requests for the tests of etcd's JSON gateway on the client port: one POST over
// HTTP/1.1 (or HTTPS), or over an HTTP/2 session, answered with its status and text.
import { request as httpRequest, type Agent, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type * as http2 from 'node:http2';

export interface TextReply {
  status: number;
  body: string;
}

/** POSTs `body` to `address` (host:port); `tls` options make it HTTPS. */
export function postText(address: string, path: string, body: string, opts: { agent?: Agent; tls?: RequestOptions } = {}): Promise<TextReply> {
  const i = address.lastIndexOf(':');
  const base: RequestOptions = { host: address.slice(0, i), port: Number(address.slice(i + 1)), path, method: 'POST', agent: opts.agent };
  return new Promise((resolve, reject) => {
    const onResponse = (res: import('node:http').IncomingMessage): void => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    };
    const req = opts.tls ? httpsRequest({ ...base, ...opts.tls }, onResponse) : httpRequest(base, onResponse);
    req.on('error', reject);
    req.end(body);
  });
}

/** POSTs `body` on an HTTP/2 session, without gRPC's content type. */
export function postH2(session: http2.ClientHttp2Session, path: string, body: string): Promise<TextReply> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/json' });
    let status = 0;
    let text = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text += c));
    req.on('end', () => resolve({ status, body: text }));
    req.on('error', reject);
    req.end(body);
  });
}

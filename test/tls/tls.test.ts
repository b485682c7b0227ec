// TLS building blocks in one process (certificates from deploy/make-certs.sh): the file watcher
// keeps serving the last usable certificate while a rotation is half-written, certificate
// identities, the caller a gRPC call or HTTPS request resolves to (a client certificate's CN),
// a dialer that checks it reached the member it dialed, and key-file permissions.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { grpcCaller, httpCaller, type Caller } from '../../src/auth/caller.js';
import { DialCredentials, followCertificates, grpcServerCredentials, httpsServerOptions } from '../../src/tls/credentials.js';
import { TlsFileError, TlsWatcher, guardSecretFile, loadTlsMaterial } from '../../src/tls/files.js';
import { commonNameOf, expectMember, memberIdsOf } from '../../src/tls/identity.js';
import { CertDir, makeClusterCerts } from '../support/certs.js';

interface LogLine {
  level: 'info' | 'warn';
  obj: object;
  msg?: string;
}
function memLog(): { lines: LogLine[]; info(o: object, m?: string): void; warn(o: object, m?: string): void } {
  const lines: LogLine[] = [];
  return { lines, info: (obj, msg) => lines.push({ level: 'info', obj, msg }), warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }) };
}

const WhoAmI = {
  whoami: {
    path: '/test.WhoAmI/Who',
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: Buffer) => v,
    requestDeserialize: (v: Buffer) => v,
    responseSerialize: (v: Buffer) => v,
    responseDeserialize: (v: Buffer) => v,
  },
} satisfies grpc.ServiceDefinition;

describe('TLS building blocks', () => {
  let root: string;
  let certs: CertDir;
  let other: CertDir;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'pc-tls-unit-'));
    certs = makeClusterCerts(join(root, 'a'), 3, ['alice']);
    other = makeClusterCerts(join(root, 'b'), 1);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('reads member ids and common names from certificates', () => {
    const m2 = new X509Certificate(readFileSync(certs.member(2).cert)).toLegacyObject();
    assert.deepEqual(memberIdsOf(m2), [2]);
    assert.equal(commonNameOf(m2), 'member-2');
    const alice = new X509Certificate(readFileSync(certs.client('alice').cert)).toLegacyObject();
    assert.deepEqual(memberIdsOf(alice), []);
    assert.equal(commonNameOf(alice), 'alice');
    assert.deepEqual(memberIdsOf({ subject: { CN: 'x' }, subjectaltname: 'DNS:member-3, DNS:member-7, IP Address:10.0.0.1, URI:member-9' } as never), [3, 7, 9]);
    assert.deepEqual(memberIdsOf({ subject: { CN: 'member-0' }, subjectaltname: 'DNS:member-01, DNS:xmember-4' } as never), []);
    assert.equal(expectMember(2)(m2), undefined);
    assert.match(expectMember(3)(m2)!.message, /dialed as member 3 names member-2/);
  });

  it('refuses unusable files with a message naming them', () => {
    assert.throws(() => loadTlsMaterial({ certFile: join(root, 'nope.crt'), keyFile: certs.member(1).key, caFile: '' }), (e: unknown) => e instanceof TlsFileError && /nope\.crt: ENOENT/.test((e as Error).message));
    assert.throws(() => loadTlsMaterial({ certFile: certs.member(1).cert, keyFile: certs.member(2).key, caFile: '' }), /member-1\.crt \/ key .*member-2\.key/);
    assert.throws(() => loadTlsMaterial({ certFile: certs.member(1).key, keyFile: certs.member(1).key, caFile: '' }), /not a PEM certificate/);
  });

  it('a half-written rotation keeps the previous certificate; the finished one is taken', () => {
    const dir = join(root, 'watch');
    const live = new CertDir(dir).make('member:1:127.0.0.1');
    const log = memLog();
    const w = new TlsWatcher({ certFile: live.member(1).cert, keyFile: live.member(1).key, caFile: live.caFile }, 'client', log);
    const changes: string[] = [];
    w.onChange((m) => changes.push(new X509Certificate(m.cert).fingerprint256));
    const first = new X509Certificate(w.current.cert).fingerprint256;
    assert.equal(w.check(), false, 'nothing changed');
    // Rotation step 1: the new certificate is in place, its key not yet.
    const next = new CertDir(join(root, 'staging')).make('member:1:127.0.0.1');
    copyFileSync(live.caFile, join(root, 'keep-ca.crt'));
    writeFileSync(live.member(1).cert, readFileSync(next.member(1).cert));
    assert.equal(w.check(), false);
    assert.equal(new X509Certificate(w.current.cert).fingerprint256, first, 'still serving the previous certificate');
    assert.equal(log.lines.filter((l) => l.level === 'warn').length, 1);
    assert.equal(w.check(), false);
    assert.equal(log.lines.filter((l) => l.level === 'warn').length, 1, 'the same problem is logged once');
    // Step 2: the key follows (and the CA, since `next` is another CA).
    writeFileSync(live.member(1).key, readFileSync(next.member(1).key));
    writeFileSync(live.caFile, readFileSync(next.caFile));
    assert.equal(w.check(), true);
    assert.deepEqual(changes, [new X509Certificate(readFileSync(next.member(1).cert)).fingerprint256]);
    assert.ok(log.lines.some((l) => l.level === 'info' && l.msg === 'TLS certificate reloaded'));
    w.close();
  });

  it('resolves the caller of a gRPC call and of an HTTPS request from a verified client certificate', async () => {
    const log = memLog();
    const w = new TlsWatcher({ certFile: certs.member(1).cert, keyFile: certs.member(1).key, caFile: certs.caFile }, 'client', log);
    const seen: Caller[] = [];
    const server = new grpc.Server();
    server.addService(WhoAmI, {
      whoami: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const c = grpcCaller(call);
        assert.equal(grpcCaller(call), c, 'resolved once per call');
        seen.push(c);
        cb(null, Buffer.from(JSON.stringify(c)));
      },
    });
    // Client certificates asked for (verified against the CA) but not required.
    const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpcServerCredentials(w, { requestCert: true, requireCert: false }), (e, p) => (e ? rej(e) : res(p))));
    const Client = grpc.makeGenericClientConstructor(WhoAmI, 'WhoAmI');
    const ask = (creds: grpc.ChannelCredentials): Promise<Caller> =>
      new Promise((resolve, reject) => {
        const c = new Client(`127.0.0.1:${port}`, creds) as unknown as { whoami(r: Buffer, cb: (e: grpc.ServiceError | null, r: Buffer) => void): void; close(): void };
        c.whoami(Buffer.alloc(0), (e, r) => {
          c.close();
          if (e) reject(e);
          else resolve(JSON.parse(r.toString()) as Caller);
        });
      });
    const a = certs.read(certs.client('alice'));
    assert.deepEqual(await ask(grpc.credentials.createSsl(certs.ca, a.key, a.cert)), { kind: 'certificate', user: 'alice' });
    assert.deepEqual(await ask(grpc.credentials.createSsl(certs.ca)), { kind: 'anonymous' });
    // A certificate from another CA is not verified, so it names no one.
    const b = other.read(other.member(1));
    assert.deepEqual(await ask(grpc.credentials.createSsl(certs.ca, b.key, b.cert)), { kind: 'anonymous' });
    server.forceShutdown();

    const https = createHttpsServer(httpsServerOptions(w, { requestCert: true, requireCert: false }), (req, res) => res.end(JSON.stringify(httpCaller(req))));
    followCertificates(https, w);
    await new Promise<void>((r) => https.listen(0, '127.0.0.1', () => r()));
    const hp = (https.address() as AddressInfo).port;
    const get = (opts: object): Promise<Caller> =>
      new Promise((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', servername: 'localhost', port: hp, path: '/', ca: certs.ca, ...opts }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve(JSON.parse(body) as Caller));
        });
        req.on('error', reject);
        req.end();
      });
    assert.deepEqual(await get({ cert: a.cert, key: a.key }), { kind: 'certificate', user: 'alice' });
    assert.deepEqual(await get({}), { kind: 'anonymous' });
    https.close();
    w.close();
  });

  it('a dialer refuses a server whose certificate names another member', async () => {
    const log = memLog();
    const serverSide = new TlsWatcher({ certFile: certs.member(3).cert, keyFile: certs.member(3).key, caFile: certs.caFile }, 'peer', log);
    const server = new grpc.Server();
    server.addService(WhoAmI, { whoami: (_c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from('hi')) });
    const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpcServerCredentials(serverSide, { requestCert: true, requireCert: true }), (e, p) => (e ? rej(e) : res(p))));
    const dialer = new DialCredentials(new TlsWatcher({ certFile: certs.member(1).cert, keyFile: certs.member(1).key, caFile: certs.caFile }, 'peer', log));
    const Client = grpc.makeGenericClientConstructor(WhoAmI, 'WhoAmI');
    const call = (creds: grpc.ChannelCredentials): Promise<string> =>
      new Promise((resolve, reject) => {
        const c = new Client(`127.0.0.1:${port}`, creds) as unknown as { whoami(r: Buffer, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Buffer) => void): void; close(): void };
        c.whoami(Buffer.alloc(0), { deadline: Date.now() + 3000 }, (e, r) => {
          c.close();
          if (e) reject(e);
          else resolve(r.toString());
        });
      });
    assert.equal(await call(dialer.channel(expectMember(3))), 'hi');
    await assert.rejects(call(dialer.channel(expectMember(2))), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
    server.forceShutdown();
    serverSide.close();
  });

  it('tightens a secret file this process owns; leaves one it does not own, with a warning', async () => {
    const f = join(root, 'secret');
    writeFileSync(f, 'x', { mode: 0o644 });
    chmodSync(f, 0o644);
    const log = memLog();
    await guardSecretFile(f, 'peer secret file', log);
    assert.equal(statSync(f).mode & 0o777, 0o600);
    assert.match(log.lines[0]!.msg!, /readable by other users: permissions tightened/);
    await guardSecretFile(f, 'peer secret file', log);
    assert.equal(log.lines.length, 1, 'a private file is left alone silently');
  });
});

// The SDK's side of auth: a token from `auth.token`, or one obtained with `Authenticate` from a
// username and password, sent as etcd's `token` metadata on every call and stream. A token the
// server refuses as invalid (expired, or issued before the user's roles changed) is replaced by
// authenticating again once, and the call is retried.
import * as grpc from '@grpc/grpc-js';
import { AuthClient } from '../../proto/gen/etcd/etcdserverpb/rpc.js';

export type AuthOptions = { username: string; password: string } | { token: string };

const INVALID_TOKEN = 'etcdserver: invalid auth token';
const USER_EMPTY = 'etcdserver: user name is empty';
const AUTH_NOT_ENABLED = 'etcdserver: authentication is not enabled';

export class ClientAuth {
  private token: string | undefined;
  private pending: Promise<void> | undefined;
  /** The cluster said auth is off: calls go without a token until one is asked for. */
  private off = false;

  constructor(private readonly opts: AuthOptions) {
    if ('token' in opts) this.token = opts.token;
  }

  /** The metadata every call carries (a fresh object: grpc-js may hold on to it). */
  metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.token) md.set('token', this.token);
    return md;
  }

  /** Resolves once a token is at hand (authenticating through `channel` if needed). */
  ready(address: string, credentials: grpc.ChannelCredentials, channel: grpc.Channel, deadline: number): Promise<void> {
    if (this.token || this.off || 'token' in this.opts) return Promise.resolve();
    this.pending ??= this.authenticate(address, credentials, channel, deadline).finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** True when `err` says the token is no longer good and a new one can be had (the caller retries once). */
  expired(err: grpc.ServiceError): boolean {
    if (err.code !== grpc.status.UNAUTHENTICATED || 'token' in this.opts) return false;
    const msg = err.details ?? err.message;
    if (msg !== INVALID_TOKEN && msg !== USER_EMPTY) return false;
    this.token = undefined;
    this.off = false;
    return true;
  }

  private authenticate(address: string, credentials: grpc.ChannelCredentials, channel: grpc.Channel, deadline: number): Promise<void> {
    const { username, password } = this.opts as { username: string; password: string };
    const client = new AuthClient(address, credentials, { channelOverride: channel });
    return new Promise((resolve, reject) => {
      client.authenticate({ name: username, password }, new grpc.Metadata(), { deadline }, (err, rep) => {
        if (err && err.code === grpc.status.FAILED_PRECONDITION && err.details === AUTH_NOT_ENABLED) {
          this.off = true;
          resolve();
        } else if (err) reject(err);
        else {
          this.token = rep.token;
          resolve();
        }
      });
    });
  }
}

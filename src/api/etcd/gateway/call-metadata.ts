// The gRPC metadata of a gateway request, built from its HTTP headers as etcd's gateway does.
import * as grpc from '@grpc/grpc-js';
import type { HttpExchange } from '../../../grpc/h2/http-exchange.js';

const METADATA_HEADER = 'grpc-metadata-';

/**
 * The call's metadata, as etcd's gateway builds it: the Authorization header, as is, is the auth
 * token; a `Grpc-Metadata-<name>` header is metadata `<name>` (e.g. Grpc-Metadata-Hasleader: true).
 */
export function metadataOf(ex: HttpExchange): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const name of ex.headerNames()) {
    if (!name.startsWith(METADATA_HEADER) || name.length === METADATA_HEADER.length) continue;
    const key = name.slice(METADATA_HEADER.length);
    if (key.endsWith('-bin')) continue; // binary metadata has no text form in a header
    const value = ex.header(name);
    try {
      if (value !== undefined) md.set(key, value);
    } catch {
      // A name gRPC metadata does not allow (HTTP allows more characters): not forwarded.
    }
  }
  const auth = ex.header('authorization');
  if (auth) md.set('token', auth);
  return md;
}

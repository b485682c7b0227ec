// The status a call ends with, as trailers: grpc-status, and grpc-message percent-encoded as the
// gRPC spec requires (every byte of its UTF-8 outside printable ASCII, and '%' itself), so any
// message, in any language, reaches the client intact and a header can never be broken by it.

/** grpc-message's encoding of `text`. */
export function encodeGrpcMessage(text: string): string {
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return text;
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte < 0x20 || byte > 0x7e || byte === 0x25 ? `%${byte.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(byte);
  }
  return out;
}

/** The text of a grpc-message header; a '%' not followed by two hex digits is kept as it is (spec). */
export function decodeGrpcMessage(value: string): string {
  if (!value.includes('%')) return value;
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(value.slice(i + 1, i + 3))) {
      parts.push(Buffer.from(value.slice(start, i), 'utf8'), Buffer.of(parseInt(value.slice(i + 1, i + 3), 16)));
      i += 2;
      start = i + 1;
    }
  }
  parts.push(Buffer.from(value.slice(start), 'utf8'));
  return Buffer.concat(parts).toString('utf8');
}

/** The trailers ending a call with `code` and `message`. */
export function statusTrailers(code: number, message: string): Record<string, string> {
  return message ? { 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(message) } : { 'grpc-status': String(code) };
}

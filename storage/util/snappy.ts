// Snappy block decompression (LevelDB compresses table blocks with it), to read the index and
// metaindex blocks of a table file while verifying it. Throws on any malformed input.

export function snappyUncompress(src: Uint8Array): Uint8Array {
  let p = 0;
  let len = 0;
  for (let shift = 0; ; shift += 7) {
    if (p >= src.length || shift > 28) throw new Error('snappy: bad length preamble');
    const b = src[p++]!;
    len += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  const out = new Uint8Array(len);
  let o = 0;
  while (p < src.length) {
    const tag = src[p++]!;
    let n: number;
    let off: number;
    switch (tag & 3) {
      case 0: {
        n = tag >>> 2;
        if (n >= 60) {
          const bytes = n - 59;
          if (p + bytes > src.length) throw new Error('snappy: truncated literal length');
          n = 0;
          for (let k = 0; k < bytes; k++) n += src[p + k]! * 2 ** (8 * k);
          p += bytes;
        }
        n += 1;
        if (p + n > src.length || o + n > len) throw new Error('snappy: literal overruns');
        out.set(src.subarray(p, p + n), o);
        p += n;
        o += n;
        continue;
      }
      case 1:
        if (p >= src.length) throw new Error('snappy: truncated copy');
        n = ((tag >>> 2) & 7) + 4;
        off = ((tag >>> 5) << 8) | src[p++]!;
        break;
      case 2:
        if (p + 2 > src.length) throw new Error('snappy: truncated copy');
        n = (tag >>> 2) + 1;
        off = src[p]! | (src[p + 1]! << 8);
        p += 2;
        break;
      default:
        if (p + 4 > src.length) throw new Error('snappy: truncated copy');
        n = (tag >>> 2) + 1;
        off = (src[p]! | (src[p + 1]! << 8) | (src[p + 2]! << 16) | (src[p + 3]! << 24)) >>> 0;
        p += 4;
    }
    if (off === 0 || off > o || o + n > len) throw new Error('snappy: bad copy');
    for (let k = 0; k < n; k++, o++) out[o] = out[o - off]!;
  }
  if (o !== len) throw new Error(`snappy: ${o} bytes decoded, preamble says ${len}`);
  return out;
}

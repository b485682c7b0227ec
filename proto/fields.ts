// Walking the top-level fields of an encoded protobuf message without decoding it: for readers
// that need one or two fields of a log entry (storage/dedup's fingerprint, src/node's forward
// stamp) and must not pay for, or depend on, a full decode.

/** One top-level field: its number, wire type, byte range [start, end) tag included, and varint value (wire type 0; else 0). */
export interface WireField {
  field: number;
  wireType: number;
  start: number;
  end: number;
  value: number;
}

/**
 * Calls `visit` for each top-level field of `data`, in wire order, until it returns false.
 * Throws a RangeError on a truncated message or a wire type protobuf no longer uses (groups).
 * Varint values above 2^53 lose precision (the callers' fields are JS numbers).
 */
export function walkFields(data: Uint8Array, visit: (f: WireField) => boolean | void): void {
  let o = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (o >= data.length) throw new RangeError(`truncated varint at byte ${o}`);
      const b = data[o++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  };
  const f: WireField = { field: 0, wireType: 0, start: 0, end: 0, value: 0 };
  while (o < data.length) {
    f.start = o;
    const tag = varint();
    f.field = Math.floor(tag / 8);
    f.wireType = tag & 7;
    f.value = 0;
    switch (f.wireType) {
      case 0:
        f.value = varint();
        break;
      case 1:
        o += 8;
        break;
      case 2: {
        const n = varint(); // read before `o +=`, which would take `o` before varint() moves it
        o += n;
        break;
      }
      case 5:
        o += 4;
        break;
      default:
        throw new RangeError(`wire type ${f.wireType} at byte ${f.start}`);
    }
    if (o > data.length) throw new RangeError(`field ${f.field} runs past the end (${o} > ${data.length})`);
    f.end = o;
    if (visit(f) === false) return;
  }
}

// The key browser's value views, its history walk, and the Live page's event-stream parser
// (ui/src/api/bytes.ts, history.ts, sse.ts): pure modules, tested in Node.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { asJson, asText, formatBytes, fromBase64, hexDump, toBase64 } from '../../ui/src/api/bytes.js';
import { keyHistory, type Version } from '../../ui/src/api/history.js';
import { SseParser } from '../../ui/src/api/sse.js';

describe('value views', () => {
  it('text, JSON and hex of the exact bytes', () => {
    const bytes = new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x31, 0x7d]); // {"a":1}
    assert.equal(asText(bytes), '{"a":1}');
    assert.deepEqual(asJson(bytes), { ok: true, text: '{\n  "a": 1\n}' });
    assert.equal(asText(new Uint8Array([0xff, 0xfe])), null);
    assert.match((asJson(new Uint8Array([0xff])) as { error: string }).error, /not UTF-8/);
    assert.match((asJson(new TextEncoder().encode('{x')) as { error: string }).error, /^not JSON/);
    const dump = hexDump(new Uint8Array([...Array(18).keys()].map((i) => i + 0x3e)));
    assert.equal(dump, '00000000  3e 3f 40 41 42 43 44 45  46 47 48 49 4a 4b 4c 4d  |>?@ABCDEFGHIJKLM|\n00000010  4e 4f                                             |NO|');
    assert.match(hexDump(new Uint8Array(40), 16), /… 24 more bytes$/);
    const all = new Uint8Array(256).map((_, i) => i);
    assert.deepEqual(fromBase64(toBase64(all)), all);
    assert.deepEqual([formatBytes(512), formatBytes(1536), formatBytes(20 * 1024 * 1024), formatBytes(null)], ['512 B', '1.5 KiB', '20 MiB', '—']);
  });
});

describe('key history walk', () => {
  type V = Version & { value: string };
  // The key was created at revision 3, changed at 7 and 12; revisions before 5 are compacted in one case.
  const versions: V[] = [
    { createRevision: 3, modRevision: 3, version: 1, value: 'a' },
    { createRevision: 3, modRevision: 7, version: 2, value: 'b' },
    { createRevision: 3, modRevision: 12, version: 3, value: 'c' },
  ];
  const at = (compactedBelow = 0) => async (rev: number): Promise<V | null | 'compacted'> => {
    if (rev < compactedBelow) return 'compacted';
    return [...versions].reverse().find((v) => v.modRevision <= rev) ?? null;
  };

  it('walks back one version at a time to the creation', async () => {
    const asked: number[] = [];
    const h = await keyHistory(versions[2]!, async (r) => (asked.push(r), at()(r)));
    assert.deepEqual(h.versions.map((v) => v.value), ['c', 'b', 'a']);
    assert.equal(h.stoppedBy, null);
    assert.deepEqual(asked, [11, 6]);
  });

  it('stops at compaction or at the limit, and says so', async () => {
    const compacted = await keyHistory(versions[2]!, at(8));
    assert.deepEqual([compacted.versions.map((v) => v.value), compacted.stoppedBy], [['c', 'b'], 'compacted']);
    const limited = await keyHistory(versions[2]!, at(), 2);
    assert.deepEqual([limited.versions.map((v) => v.value), limited.stoppedBy], [['c', 'b'], 'limit']);
  });
});

describe('server-sent events parser', () => {
  it('assembles events across chunks, joins data lines, keeps event names and ids, skips comments', () => {
    const p = new SseParser();
    assert.deepEqual(p.push(': hello\nevent: put\nid: 7\ndata: {"key"'), []);
    assert.deepEqual(p.push(':"/a"}\n\ndata: line 1\r\ndata: line 2\r\n\r\n'), [
      { event: 'put', data: '{"key":"/a"}', id: '7' },
      { event: 'message', data: 'line 1\nline 2', id: '7' },
    ]);
    assert.deepEqual(p.push('data\n\nevent: x\n\n'), [{ event: 'message', data: '', id: '7' }]);
  });
});

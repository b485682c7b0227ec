// placement-ctl txn's parser of etcdctl's txn text: blocks, quoting, every comparison target, and
// a clear error (not a request) for each malformed line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TxnSyntaxError, parseTxn, words } from '../../src/cli/ctl/txn-parse.js';

test('words: double quotes keep spaces, backslash escapes', () => {
  assert.deepEqual(words('put "a b" "say \\"hi\\"" --prev-kv'), ['put', 'a b', 'say "hi"', '--prev-kv']);
  assert.throws(() => words('put "a b'), TxnSyntaxError);
});

test('three blocks become compares, success and failure', () => {
  const t = parseTxn('mod("k") > "3"\nver("k") = "1"\ncreate("k") != "0"\nlease("k") = "1f"\nvalue("k") < "z"\n\nput k v --lease=a\ndel p --prefix --prev-kv\n\nget k --rev=7 --limit=2\n\n');
  assert.deepEqual(
    t.compares.map((c) => [c.compare.target, c.compare.result, c.compare.targetUnion?.value]),
    [[2, 1, 3], [0, 0, 1], [1, 3, 0], [4, 0, 31], [3, 2, Buffer.from('z')]],
  );
  assert.equal(t.success.length, 2);
  const put = t.success[0]!.request.request;
  assert.ok(put?.$case === 'requestPut');
  assert.equal(put.value.lease, 10);
  const del = t.success[1]!.request.request;
  assert.ok(del?.$case === 'requestDeleteRange');
  assert.equal(del.value.rangeEnd.toString(), 'q');
  assert.equal(del.value.prevKv, true);
  const get = t.failure[0]!.request.request;
  assert.ok(get?.$case === 'requestRange');
  assert.equal(get.value.revision, 7);
  assert.equal(get.value.limit, 2);
});

test('missing blocks are empty', () => {
  assert.deepEqual(parseTxn(''), { compares: [], success: [], failure: [] });
  const t = parseTxn('\nput a 1\n');
  assert.equal(t.compares.length, 0);
  assert.equal(t.success.length, 1);
});

test('malformed lines are refused with the line in the message', () => {
  for (const [text, why] of [
    ['mod(k) = "1"', /malformed comparison: mod\(k\)/],
    ['size("k") = "1"', /malformed comparison/],
    ['mod("k") = "-1"', /whole number/],
    ['lease("k") = "xyz"', /hexadecimal/],
    ['\nput a', /put needs a key and a value/],
    ['\nget a --bogus', /unknown flag --bogus/],
    ['\nget a --rev', /--rev needs a value/],
    ['\nget a b --prefix', /at most one of/],
    ['\nwatch a', /unknown operation "watch"/],
  ] as Array<[string, RegExp]>) {
    assert.throws(() => parseTxn(text), (e: unknown) => e instanceof TxnSyntaxError && why.test(e.message), text);
  }
});

// The chaos watch check names the first gap, duplicate, reorder or differing event with its revision.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkWatchSequence, type WatchedRevision } from './checker/watch.js';

const h = (...revs: number[]): WatchedRevision[] => revs.map((revision) => ({ revision, events: [`PUT k=${revision}`] }));

test('a watcher that delivered the committed history passes; one that did not is reported at the revision', () => {
  const expected = h(5, 6, 8, 9);
  assert.ok(checkWatchSequence('w', expected, h(5, 6, 8, 9)).ok);
  assert.ok(checkWatchSequence('w', expected, h(5, 6, 8, 9, 10)).ok, 'past the checked end is not judged');
  assert.match(checkWatchSequence('w', expected, h(5, 8, 9)).message, /gap: revision 6 never delivered/);
  assert.match(checkWatchSequence('w', expected, h(5, 6, 6, 8, 9)).message, /revision 6 delivered twice/);
  assert.match(checkWatchSequence('w', expected, h(5, 8, 6, 9)).message, /revision 6 delivered after 8/);
  assert.match(checkWatchSequence('w', expected, h(5, 6, 7, 8, 9)).message, /revision 7 delivered, but it is not in the committed history/);
  assert.match(checkWatchSequence('w', expected, h(5, 6)).message, /stopped before revision 8/);
  const changed = h(5, 6, 8, 9);
  changed[2] = { revision: 8, events: ['PUT k=other'] };
  assert.match(checkWatchSequence('w', expected, changed).message, /revision 8 differs/);
});

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { LogsTail } from '../../../renderer/run/logs-tail.js';

it('keeps exactly the last maxBytes and counts what it dropped', () => {
  const tail = new LogsTail(10);
  for (const piece of ['0123', '4567', '89ab', 'cdef']) tail.push(Buffer.from(piece));
  assert.equal(tail.text(), '6789abcdef');
  assert.equal(tail.droppedBytes, 6);
  tail.push(Buffer.from('x'.repeat(25)));
  assert.equal(tail.text(), 'x'.repeat(10));
  assert.equal(tail.droppedBytes, 31);
});

it('never starts the tail inside a multi-byte character', () => {
  const tail = new LogsTail(4);
  tail.push(Buffer.from('aé€')); // 1 + 2 + 3 bytes: the last 4 start inside é
  assert.equal(tail.text(), '€');
});

it('keeps the same tail as the whole output would give, across growth and wrap-around', () => {
  const limit = 10_000;
  const tail = new LogsTail(limit);
  let all = '';
  let seed = 1;
  for (let i = 0; i < 400; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const piece = String.fromCharCode(97 + (i % 26)).repeat(seed % 300);
    tail.push(Buffer.from(piece));
    all += piece;
    assert.equal(tail.text(), all.slice(-limit));
    assert.equal(tail.droppedBytes, Math.max(0, all.length - limit));
  }
});

// Regression (soak, 2026-12): the tail kept read chunks, or a fresh copy of the last
// one, so a spamming step's 64 KiB pipe reads stayed alive or doubled until V8 collected
// them. A chunk must be free to reuse as soon as push() returns.
it('copies what it keeps: a chunk may be reused once pushed', () => {
  const tail = new LogsTail(8);
  const chunk = Buffer.from('abcdefghij');
  tail.push(chunk);
  chunk.fill(0x21);
  tail.push(chunk.subarray(0, 2));
  assert.equal(tail.text(), 'efghij!!');
});

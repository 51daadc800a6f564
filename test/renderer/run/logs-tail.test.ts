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

// The error registry and its documentation cannot drift apart (fastify's rule).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { ERRORS } from '../../renderer/errors.js';
import { PACKAGE_ROOT } from '../../renderer/paths.js';

it('docs/errors.md lists every code with its status and hint, and nothing else', () => {
  const doc = readFileSync(join(PACKAGE_ROOT, 'docs', 'errors.md'), 'utf8');
  const rows = [...doc.matchAll(/^\| `(RENDERER_ERR_\w+)` \| (\d{3}) \| (.+) \|$/gm)].map((m) => [m[1], Number(m[2]), m[3]]);
  assert.deepEqual(
    rows,
    Object.entries(ERRORS).map(([code, spec]) => [code, spec.status, spec.hint]),
  );
});

it('codes follow RENDERER_ERR_<AREA>_<WHAT> and statuses are 4xx for callers, 5xx for the renderer', () => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    assert.match(code, /^RENDERER_ERR_[A-Z]+(_[A-Z]+)*$/);
    assert.ok(spec.status >= 400 && spec.status < 600, code);
    assert.ok(spec.hint.endsWith('.'), `${code}: a hint is a sentence`);
  }
});

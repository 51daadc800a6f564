// The layers import downwards only: http/ is built on daemon/, and the daemon knows
// nothing of HTTP (issue 15 item 8: daemon.ts built the server while the routes imported
// Daemon). cli/serve.ts wires the two.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PACKAGE_ROOT } from '../../renderer/paths.js';

const importsOf = (dir: string): { file: string; from: string }[] =>
  readdirSync(join(PACKAGE_ROOT, 'renderer', dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .flatMap((file) => [...readFileSync(join(PACKAGE_ROOT, 'renderer', dir, file), 'utf8').matchAll(/^import[^;]*?from '([^']+)'/gms)].map((m) => ({ file: `${dir}/${file}`, from: m[1]! })));

describe('layering', () => {
  for (const lower of ['daemon', 'store', 'run', 'sandbox', 'pool', 'arrow', 'config'])
    it(`renderer/${lower}/ imports nothing from http/ or cli/`, () => {
      const upward = importsOf(lower).filter(({ from }) => /(^|\/)(http|cli)\//.test(from));
      assert.deepEqual(upward, [], upward.map(({ file, from }) => `${file} imports ${from}`).join('\n'));
    });
});

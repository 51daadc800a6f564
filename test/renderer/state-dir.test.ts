// Published versions (the installed runtime, step roots): built once, found by every
// later renderer, and removed only when no renderer has marked them in use for a day,
// so a long-lived daemon of an older version keeps its own beside a newer one.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { markInUse, publishOnce, UNUSED_VERSION_MS } from '../../renderer/state-dir.js';
import { scratchDir } from '../helpers.js';

function makeOld(path: string): void {
  const then = new Date(Date.now() - 2 * UNUSED_VERSION_MS);
  utimesSync(path, then, then);
}

describe('publishOnce', () => {
  it('builds a version once; later callers get the same directory, whole', () => {
    const dir = scratchDir();
    try {
      let builds = 0;
      const build = (staging: string): void => {
        builds++;
        writeFileSync(join(staging, 'file'), 'content');
      };
      const first = publishOnce(join(dir.path, 'versions'), 'aaaa', build);
      const second = publishOnce(join(dir.path, 'versions'), 'aaaa', build);
      assert.equal(first, second);
      assert.equal(builds, 1);
      assert.ok(existsSync(join(first, 'file')));
    } finally {
      dir.remove();
    }
  });

  it('removes versions unused for a day, never one a renderer marked in use', () => {
    const dir = scratchDir();
    try {
      const parent = join(dir.path, 'versions');
      const make = (key: string): string => publishOnce(parent, key, () => undefined);
      const abandoned = make('old0');
      const daemonOfOldVersion = make('old1');
      const foundAgain = make('old2');
      for (const path of [abandoned, daemonOfOldVersion, foundAgain]) makeOld(path);
      mkdirSync(join(parent, 'new0.12345.tmp')); // a crashed builder's staging
      makeOld(join(parent, 'new0.12345.tmp'));

      markInUse(daemonOfOldVersion); // what a live daemon does every minute
      make('old2'); // a renderer starting on that version finds it, and marks it
      const current = make('new0');

      assert.ok(existsSync(current));
      assert.equal(existsSync(abandoned), false, 'unused for two days: removed');
      assert.equal(existsSync(join(parent, 'new0.12345.tmp')), false);
      assert.ok(existsSync(daemonOfOldVersion), 'marked in use: kept');
      assert.ok(existsSync(foundAgain), 'found again by a starting renderer: kept');
      assert.ok(Date.now() - statSync(daemonOfOldVersion).mtimeMs < 60_000);
    } finally {
      dir.remove();
    }
  });
});

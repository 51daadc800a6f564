// The host-wide step-uid allocator: no two live sandboxes of any renderer on the host
// ever share a uid, a lease dies with its holder, and a uid whose dead holder's
// processes still run is not handed out.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { UidAllocator } from '../../../renderer/sandbox/uids.js';
import { isRoot } from '../../helpers.js';

const hostDir = mkdtempSync(join(tmpdir(), 'uids-test-'));
const UIDS_MODULE = new URL('../../../renderer/sandbox/uids.js', import.meta.url).pathname;
const range = { first: 2_100_000_000, count: 16 };

/** A node process running `body` with `uids` (an allocator on the same host dir). */
function holder(body: string): ChildProcess {
  const script = `const { UidAllocator } = await import(${JSON.stringify(UIDS_MODULE)});
    const uids = new UidAllocator(${JSON.stringify(hostDir)}, ${JSON.stringify(range)}); ${body}`;
  return spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
}

const firstLine = (child: ChildProcess): Promise<string> =>
  new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk;
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before it said anything`)));
  });

const killed = async (child: ChildProcess): Promise<void> => {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
};

describe('step uids: one per live sandbox, host-wide', () => {
  after(() => rmSync(hostDir, { recursive: true, force: true }));

  it('hands out distinct uids of the range, says so when it is used up, and reuses a released one', () => {
    const uids = new UidAllocator(hostDir, range);
    const leases = Array.from({ length: range.count }, () => uids.acquire());
    const got = leases.map((l) => l.uid).sort();
    assert.deepEqual(got, Array.from({ length: range.count }, (_, i) => range.first + i));
    assert.ok(leases.every((l) => l.gid === l.uid));
    assert.throws(() => uids.acquire(), (error: Error & { code?: string }) => error.code === 'RENDERER_ERR_SANDBOX_UIDS' && /all 16 step uids from 2100000000/.test(error.message));
    // A second allocator (another renderer in this process) sees them taken too.
    assert.throws(() => new UidAllocator(hostDir, range).acquire(), /all 16 step uids/);
    leases[5]!.release();
    const again = uids.acquire();
    assert.equal(again.uid, leases[5]!.uid);
    for (const lease of [...leases, again]) lease.release();
  });

  it('leases held by another process are never handed out, and come free the moment it dies', async () => {
    const other = holder(`const held = Array.from({ length: 10 }, () => uids.acquire().uid); console.log(JSON.stringify(held)); setInterval(() => {}, 1000);`);
    const held = JSON.parse(await firstLine(other)) as number[];
    const uids = new UidAllocator(hostDir, range);
    const mine = Array.from({ length: 6 }, () => uids.acquire());
    assert.deepEqual(mine.filter((l) => held.includes(l.uid)), []);
    assert.throws(() => uids.acquire(), /all 16 step uids/);
    await killed(other);
    const freed = Array.from({ length: 10 }, () => uids.acquire());
    assert.deepEqual(freed.map((l) => l.uid).sort(), [...held].sort(), 'a dead holder\'s leases go back to the range');
    for (const lease of [...mine, ...freed]) lease.release();
  });

  it('a uid whose dead holder left a process running as it is skipped until that process is gone', { skip: !isRoot && 'needs root to run a process as another uid' }, async () => {
    const one = { first: 2_100_000_100, count: 1 };
    const other = spawn(process.execPath, ['--input-type=module', '-e', `const { UidAllocator } = await import(${JSON.stringify(UIDS_MODULE)});
      const lease = new UidAllocator(${JSON.stringify(hostDir)}, ${JSON.stringify(one)}).acquire(); console.log(lease.uid); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const uid = Number(await firstLine(other));
    // What a sandbox that outlived a kill -9'd renderer would be: a process of the uid.
    const straggler = spawn('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'sleep', '60'], { stdio: 'ignore' });
    await new Promise((resolve) => straggler.once('spawn', resolve));
    await new Promise((resolve) => setTimeout(resolve, 100)); // setpriv has switched uid
    await killed(other);
    assert.match(readFileSync(join(hostDir, 'uids', String(uid)), 'utf8'), /\d/, 'the dead holder left its lease marked');
    const uids = new UidAllocator(hostDir, one);
    assert.throws(() => uids.acquire(), /all 1 step uids/, 'handed out a uid a process still runs as');
    await killed(straggler);
    const lease = uids.acquire();
    assert.equal(lease.uid, uid);
    lease.release();
    assert.equal(readFileSync(join(hostDir, 'uids', String(uid)), 'utf8'), '', 'a released lease is clean');
  });

  it('four renderers leasing and releasing at once never hold one uid together (500 leases each)', async () => {
    // Each logs "+uid pid" right after it acquires and "-uid pid" right before it
    // releases, with O_APPEND writes: the log's order is the real order, and every
    // logged interval lies inside a lease. Overlapping leases show as "+u" twice.
    const log = join(hostDir, 'interleaving.log');
    const workers = Array.from({ length: 4 }, () =>
      holder(`const { appendFileSync } = await import('node:fs'); const live = [];
        for (let i = 0; i < 500; i++) {
          if (live.length < 4 && (live.length === 0 || Math.random() < 0.6)) {
            let l; try { l = uids.acquire(); } catch (error) { if (error.code !== 'RENDERER_ERR_SANDBOX_UIDS') throw error; continue; } appendFileSync(${JSON.stringify(log)}, '+' + l.uid + ' ' + process.pid + '\\n'); live.push(l);
          } else {
            const l = live.splice(Math.floor(Math.random() * live.length), 1)[0]; appendFileSync(${JSON.stringify(log)}, '-' + l.uid + ' ' + process.pid + '\\n'); l.release();
          }
        }
        // Its last leases too: at exit the kernel would drop them without a "-" line.
        for (const l of live) { appendFileSync(${JSON.stringify(log)}, '-' + l.uid + ' ' + process.pid + '\\n'); l.release(); }
        console.log('done');`),
    );
    await Promise.all(workers.map(firstLine));
    const holderOf = new Map<number, string>();
    let acquisitions = 0;
    for (const line of readFileSync(log, 'utf8').trim().split('\n')) {
      const [sign, uid, pid] = [line[0], Number(line.slice(1, line.indexOf(' '))), line.slice(line.indexOf(' ') + 1)];
      if (sign === '+') {
        assert.equal(holderOf.get(uid), undefined, `uid ${uid} leased by ${pid} while ${holderOf.get(uid)} held it`);
        holderOf.set(uid, pid);
        acquisitions++;
      } else {
        assert.equal(holderOf.get(uid), pid);
        holderOf.delete(uid);
      }
    }
    assert.ok(acquisitions > 400, `only ${acquisitions} leases were made`);
  });
});

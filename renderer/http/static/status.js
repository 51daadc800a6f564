// The status page: polls GET /v1/status every few seconds and draws it. Plain browser
// JavaScript, no build step, no library. A token, when the daemon needs one, is taken
// from the page's fragment (#token=...), which the browser never sends to the server.
'use strict';
const OUTCOMES = ['ok', 'step_error', 'timeout', 'oom_killed', 'crashed', 'invalid_output', 'sandbox_error', 'canceled', 'interrupted'];
const REFRESH_MS = 3000;
const token = new URLSearchParams(location.hash.slice(1)).get('token');
const $ = (id) => document.getElementById(id);
const color = (outcome) => getComputedStyle(document.documentElement).getPropertyValue(`--${outcome}`).trim() || '#888';
const el = (tag, attrs = {}, text) => {
  const node = document.createElementNS(tag === 'svg' || ['rect', 'text', 'line', 'g'].includes(tag) ? 'http://www.w3.org/2000/svg' : 'http://www.w3.org/1999/xhtml', tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
};
const ms = (v) => (v === null || v === undefined ? '–' : v < 1000 ? `${v.toFixed(1)} ms` : `${(v / 1000).toFixed(2)} s`);
const mib = (v) => (v === null || v === undefined ? '–' : `${(v / 1048576).toFixed(1)} MiB`);
const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '–');
const ago = (seconds) => (seconds < 120 ? `${seconds} s` : seconds < 7200 ? `${Math.round(seconds / 60)} min` : `${Math.round(seconds / 3600)} h`);

function drawTimeline(series) {
  const svg = $('timeline');
  svg.replaceChildren();
  const max = Math.max(1, ...series.map((b) => Object.values(b.outcomes).reduce((a, c) => a + c, 0)));
  const width = 600 / series.length;
  series.forEach((bucket, i) => {
    let y = 150;
    for (const outcome of OUTCOMES) {
      const count = bucket.outcomes[outcome] ?? 0;
      if (!count) continue;
      const h = (count / max) * 140;
      y -= h;
      svg.append(el('rect', { x: i * width + 0.5, y, width: Math.max(1, width - 1), height: h, fill: color(outcome), 'data-outcome': outcome, 'data-count': count }, undefined));
    }
  });
  svg.append(el('text', { x: 4, y: 12 }, `max ${max}/min`));
  $('legend').replaceChildren(...OUTCOMES.map((o) => { const li = el('li'); const swatch = el('span'); swatch.style.background = color(o); li.append(swatch, o); return li; }));
}

function drawExits(exits) {
  const svg = $('exits');
  svg.replaceChildren();
  const entries = Object.entries(exits).sort((a, b) => b[1] - a[1]).slice(0, 8);
  const max = Math.max(1, ...entries.map(([, v]) => v));
  entries.forEach(([label, count], i) => {
    const y = 6 + i * 19;
    svg.append(el('text', { x: 4, y: y + 12 }, label));
    svg.append(el('rect', { x: 150, y, width: (count / max) * 400, height: 15, fill: label === 'exit 0' ? color('ok') : label.startsWith('SIG') ? color('crashed') : color('step_error'), 'data-exit': label, 'data-count': count }));
    svg.append(el('text', { x: 155 + (count / max) * 400, y: y + 12, 'data-testid': `exit-${label}` }, String(count)));
  });
}

function render(status) {
  // Degraded (recent sandbox starts failing) is not-ready too, never green.
  const degraded = status.problems.some((p) => p.startsWith('degraded'));
  const state = status.ready ? 'ready' : degraded ? 'degraded' : 'not ready';
  $('ready').textContent = state;
  $('ready').className = `badge ${state.replace(' ', '-')}`;
  $('uptime').textContent = `up ${ago(status.uptimeSeconds)}`;
  $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  $('problem').hidden = status.problems.length === 0;
  $('problem').textContent = status.problems.join('; ');
  $('pool-warm').textContent = status.pool.warm;
  $('pool-size').textContent = status.pool.size;
  $('queue-active').textContent = status.queue.active;
  $('queue-depth').textContent = status.queue.depth;
  $('queue-max').textContent = status.queue.maxConcurrent;
  $('queue-rejected').textContent = status.queue.rejected;
  $('outcomes').replaceChildren(...OUTCOMES.map((o) => {
    const li = el('li', { 'data-outcome': o });
    const b = el('b', { 'data-testid': `outcome-${o}` }, String(status.outcomes[o] ?? 0));
    b.style.color = color(o);
    li.append(b, ` ${o}`);
    return li;
  }));
  drawTimeline(status.timeline);
  drawExits(status.exits);
  $('runs').replaceChildren(...status.recentRuns.map((run) => {
    const tr = el('tr', { 'data-run': run.runId });
    const badge = el('span', { class: 'outcome' }, run.outcome ?? run.state);
    badge.style.background = color(run.outcome ?? 'canceled');
    const cells = [run.runId.slice(0, 8), run.step, badge, run.signal ?? (run.exitCode ?? '–'), ms(run.durationMs), mib(run.peakMemoryBytes), time(run.endedAt)];
    for (const cell of cells) { const td = el('td'); td.append(cell); tr.append(td); }
    return tr;
  }));
  $('schedules').replaceChildren(...status.schedules.map((s) => {
    const tr = el('tr', { 'data-schedule': s.name });
    for (const cell of [s.name, s.cron, time(s.lastSuccessAt), s.lastOutcome ?? '–', s.consecutiveFailures, s.skippedOverlaps, time(s.nextRunAt)]) tr.append(el('td', {}, String(cell)));
    return tr;
  }));
}

async function refresh() {
  try {
    const response = await fetch('/v1/status', { headers: token ? { authorization: `Bearer ${token}` } : {} });
    if (!response.ok) throw new Error((await response.json()).error?.message ?? response.statusText);
    render(await response.json());
    document.body.dataset.loaded = 'true';
  } catch (error) {
    $('problem').hidden = false;
    $('problem').textContent = `cannot reach the renderer: ${error.message}`;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}
refresh();

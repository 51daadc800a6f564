// The thrift runtime still calls `new Buffer()`; bundled (outside node_modules) that
// prints DEP0005 from inside the renderer and the step runtime. Not the caller's doing,
// and not fixable short of patching thrift, so both filter exactly this warning.

type Warning = Error & { code?: string };

export const isThriftBufferDeprecation = (w: Warning): boolean =>
  w.code === 'DEP0005' && /TFramedTransport|TBinaryProtocol/.test(w.stack ?? '');

/** Wraps Node's printing 'warning' listeners so that warnings matching `drop` are not
 * printed; every other warning prints exactly as before. */
export function dropWarnings(drop: ReadonlyArray<(w: Warning) => boolean>): void {
  const printers = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning: Warning) => {
    if (drop.some((matches) => matches(warning))) return;
    for (const print of printers) print(warning);
  });
}

// Node's notices about the runtime's own setup are not the step's words and must not
// fill its logs. --disable-warning cannot do this: a start-up snapshot ignores it. So
// Node's printing listener is wrapped, dropping exactly these and printing the rest
// (including every warning the step's own code causes) as Node would.
const OWN_NOISE: ReadonlyArray<(w: Error & { code?: string }) => boolean> = [
  (w) => w.name === 'ExperimentalWarning' && /^Permission is an experimental feature/.test(w.message),
  (w) => w.name === 'ExperimentalWarning' && /USE_MAIN_CONTEXT_DEFAULT_LOADER/.test(w.message),
  (w) => w.name === 'SecurityWarning' && /--allow-addons/.test(w.message),
  // The thrift runtime's framed transport still calls new Buffer().
  (w) => w.code === 'DEP0005' && /TFramedTransport|TBinaryProtocol/.test(w.stack ?? ''),
];

export function quietRuntimeWarnings(): void {
  const printers = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning: Error & { code?: string }) => {
    if (OWN_NOISE.some((isNoise) => isNoise(warning))) return;
    for (const print of printers) print(warning);
  });
}

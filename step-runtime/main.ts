// Entry point of every step child. Bundled by scripts/build into one file that can
// also be baked into a V8 start-up snapshot (apache-arrow pre-loaded, ~30 ms saved per
// child). Usage inside the sandbox:
//   node [flags] step-runtime.cjs RUNTIME_DIR
//   node [flags] --snapshot-blob step-runtime.blob RUNTIME_DIR
import * as arrow from 'apache-arrow';
import { startupSnapshot } from 'node:v8';
import { writeSync } from 'node:fs';
import { runChild } from './child.js';

function start(): void {
  runChild(arrow).catch((error: unknown) => {
    // A failure of the runtime itself (not of the step): say so on stderr and exit
    // non-zero; the renderer reports `crashed` with this in the logs.
    writeSync(2, `renderer step-runtime: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(70);
  });
}

if (startupSnapshot.isBuildingSnapshot()) startupSnapshot.setDeserializeMainFunction(start);
else start();

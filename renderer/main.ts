// The `renderer` command: wiring only. Each subcommand lives in renderer/cli/.
import { dropWarnings, isThriftBufferDeprecation } from '../thrift/warnings.js';
import { writeLine } from './cli/args.js';

const USAGE = `usage:
  renderer run STEP_FILE [--input IN.arrow] [--output OUT.arrow] [--params JSON]
                         [--params-file FILE] [--timeout-ms N] [--memory-mib N] [--json] [--config FILE]
  renderer sandbox [--timeout-ms N] [--memory-mib N] [--bind-ro PATH]... [--config FILE] -- COMMAND [ARGS...]
  renderer serve [--config FILE] [--host H] [--port P] [--socket PATH] [--steps-dir DIR] [--data-root DIR]
                 [--state-dir DIR]
  renderer doctor [--json] [--config FILE]
  renderer status [--url URL | --socket PATH] [--json] [--watch]

A token the daemon requires comes from RENDERER_TOKEN, never a flag (flags show in ps).

Exit status of run: 0 ok, 1 step_error, 2 usage error, 3 any other outcome.
Docs: README.md (contract), docs/config.md, docs/errors.md.`;

const COMMANDS: Record<string, () => Promise<{ [name: string]: (argv: string[]) => Promise<number> }>> = {
  run: () => import('./cli/run.js').then((m) => ({ main: m.runCommand })),
  sandbox: () => import('./cli/sandbox.js').then((m) => ({ main: m.sandboxCommand })),
  serve: () => import('./cli/serve.js').then((m) => ({ main: m.serveCommand })),
  doctor: () => import('./cli/doctor.js').then((m) => ({ main: m.doctorCommand })),
  status: () => import('./cli/status.js').then((m) => ({ main: m.statusCommand })),
};

export async function main(argv: string[]): Promise<number> {
  dropWarnings([isThriftBufferDeprecation]);
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    writeLine(command === undefined ? process.stderr : process.stdout, USAGE);
    return command === undefined ? 2 : 0;
  }
  const load = COMMANDS[command];
  if (!load) {
    writeLine(process.stderr, `renderer: unknown command "${command}" (run, sandbox, serve, doctor, status)`);
    return 2;
  }
  const { main: run } = await load();
  return run!(rest);
}

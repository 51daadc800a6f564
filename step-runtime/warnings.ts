// Node's notices about the runtime's own setup are not the step's words and must not
// fill its logs. --disable-warning cannot do this: a start-up snapshot ignores it. So
// exactly these are dropped; every warning the step's own code causes still prints.
import { dropWarnings, isThriftBufferDeprecation } from '../thrift/warnings.js';

export function quietRuntimeWarnings(): void {
  dropWarnings([
    (w) => w.name === 'ExperimentalWarning' && /^Permission is an experimental feature/.test(w.message),
    (w) => w.name === 'ExperimentalWarning' && /USE_MAIN_CONTEXT_DEFAULT_LOADER/.test(w.message),
    (w) => w.name === 'SecurityWarning' && /--allow-addons/.test(w.message),
    isThriftBufferDeprecation,
  ]);
}

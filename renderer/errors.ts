// The one registry of the renderer's own error codes. A code is never reused or
// renamed; each says what went wrong and what to do. docs/errors.md lists them all and
// test/renderer/errors.test.ts keeps the two in step.
//
// These are errors of the renderer and of its callers. How a *step* ended is not an
// error here: it is the result's `outcome` (renderer/run/outcome.ts).

export interface ErrorSpec {
  /** HTTP status when the error reaches an API caller: 4xx their mistake, 5xx ours. */
  readonly status: number;
  /** What to do about it; appended to the specific message. */
  readonly hint: string;
}

export const ERRORS = {
  RENDERER_ERR_USAGE: { status: 400, hint: 'Run `renderer --help` for the commands and flags.' },
  RENDERER_ERR_INPUT_UNREADABLE: { status: 400, hint: 'Pass an Arrow IPC file the renderer can read.' },
  RENDERER_ERR_LIMIT_ABOVE_CEILING: { status: 422, hint: 'Ask for at most the ceiling, or omit the field to get the configured limit; the operator can raise `limits.max` in the config.' },
  RENDERER_ERR_PARAMS_INVALID: { status: 400, hint: 'Params must be one JSON value, e.g. {"column": "a"}.' },
  RENDERER_ERR_CONFIG_INVALID: { status: 500, hint: 'Fix the configuration file; see docs/config.md.' },
  RENDERER_ERR_SANDBOX_UNAVAILABLE: { status: 503, hint: 'Run `renderer doctor` to see what this host lacks.' },
  RENDERER_ERR_SANDBOX_UIDS: { status: 503, hint: 'Every step uid of sandbox.uidRange is in use on this host: widen sandbox.uidRange.count, or run fewer sandboxes at once.' },
  RENDERER_ERR_SANDBOX_BINARY_REFUSED: { status: 400, hint: 'Only ELF64 x86-64 programs (or scripts) whose libraries are plain names found in the system library directories (/lib, /lib64, /usr/lib, /usr/lib64, /usr/local/lib) can be sandboxed; SECURITY.md says what is bound.' },
  RENDERER_ERR_STATE_DIR: { status: 500, hint: 'The state directory must be owned by the renderer and not writable by others.' },
  RENDERER_ERR_HTTP_BAD_REQUEST: { status: 400, hint: 'See the API in README.md.' },
  RENDERER_ERR_HTTP_HOST_NOT_ALLOWED: { status: 421, hint: 'Address the renderer by a name in `server.allowedHosts` (by default its loopback names and its listen address), or add the name there.' },
  RENDERER_ERR_HTTP_UNAUTHORIZED: { status: 401, hint: 'Send `Authorization: Bearer <token>` with the configured token.' },
  RENDERER_ERR_HTTP_NOT_FOUND: { status: 404, hint: 'Check the URL and the id.' },
  RENDERER_ERR_HTTP_BODY_TOO_LARGE: { status: 413, hint: 'Send a smaller body or raise the limit in the config.' },
  RENDERER_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE: { status: 415, hint: 'Send the Content-Type the endpoint documents.' },
  RENDERER_ERR_HTTP_CONFLICT: { status: 409, hint: 'The run is not in a state that allows this.' },
  RENDERER_ERR_STEP_NOT_FOUND: { status: 404, hint: 'Name a step from the steps directory (GET /v1/steps lists them).' },
  RENDERER_ERR_TABLE_NOT_FOUND: { status: 404, hint: 'Upload the table again with POST /v1/tables; uploads expire.' },
  RENDERER_ERR_TABLE_INVALID: { status: 400, hint: 'Upload an Arrow IPC file (not a stream) that passes validation.' },
  RENDERER_ERR_TABLE_VALIDATION_TIMEOUT: { status: 400, hint: 'The table took too long to validate for its size; write it with fewer, larger record batches, or report it if it is an ordinary file.' },
  RENDERER_ERR_PATH_OUTSIDE_DATA_ROOT: { status: 400, hint: 'Input paths are relative to the data root, without `..` or links out of it.' },
  RENDERER_ERR_IDEMPOTENCY_KEY_REUSED: { status: 422, hint: 'An Idempotency-Key names one request: retry with the same body, or use a new key for a new request.' },
  RENDERER_ERR_CALLBACK_URL_NOT_ALLOWED: { status: 422, hint: 'A callbackUrl must start with one of the operator\'s `callbacks.allowedUrlPrefixes` (none by default); leave it out, or ask the operator to allow it.' },
  RENDERER_ERR_QUEUE_FULL: { status: 503, hint: 'The renderer is at capacity; retry after the Retry-After delay.' },
  RENDERER_ERR_SHUTTING_DOWN: { status: 503, hint: 'The renderer is shutting down; retry against another instance.' },
  RENDERER_ERR_DEADLINE: { status: 504, hint: 'The run waited in the queue past its deadline; retry later.' },
  RENDERER_ERR_INTERNAL: { status: 500, hint: 'This is a bug in the renderer; the log line with this request has details.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export class RendererError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RendererError';
    this.code = code;
    this.statusCode = ERRORS[code].status;
  }

  /** The message with its hint, for a terminal or a log. */
  get detail(): string {
    return `${this.message}. ${ERRORS[this.code].hint}`;
  }
}

export const isRendererError = (error: unknown): error is RendererError => error instanceof RendererError;

/** Describes a value for an error message: `-1` (number), `"abc"` (string). */
export function describeValue(value: unknown): string {
  let shown: string;
  try {
    shown = JSON.stringify(value) ?? String(value);
  } catch {
    shown = String(value);
  }
  if (shown.length > 60) shown = `${shown.slice(0, 57)}...`;
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return `\`${shown}\` (${type})`;
}

/*
 * The renderer <-> step-runtime protocol. Each message is one Thrift struct in the
 * binary protocol, framed as TFramedTransport does: a 4-byte big-endian length, then
 * the payload.
 *
 *   renderer -> child, on the child's stdin:        one StepRequest, then EOF
 *   child -> renderer, on the result pipe (fd 3):   ChildMessage{ready}, then
 *                                                   ChildMessage{result}, then EOF
 *
 * Big data never crosses these pipes: tables are Arrow IPC files named by path.
 * Everything the child sends is untrusted: the renderer bounds each frame before
 * reading it and validates every field after (renderer/run/protocol.ts).
 */
namespace js renderer.step

const i32 PROTOCOL_VERSION = 1

struct StepRequest {
  1: required string runId,
  /** The step module, as a path inside the sandbox. */
  2: required string stepPath,
  /** The input Arrow IPC file inside the sandbox; unset means an empty table. */
  3: optional string inputPath,
  /** The file the runtime writes the output table to (pre-created, step-writable). */
  4: required string outputPath,
  /** The step's params as JSON text. */
  5: required string paramsJson,
  /** The largest result frame the renderer accepts; the runtime fails early past it. */
  6: required i32 maxResultBytes,
}

/** Sent as soon as the runtime is loaded and waiting for its one request. */
struct Ready {
  1: required i32 protocolVersion,
}

enum StepStatus {
  OK = 1,
  STEP_ERROR = 2,
  /** The runtime's write of the output table hit the size cap (RLIMIT_FSIZE). */
  OUTPUT_TOO_LARGE = 3,
}

struct StepError {
  1: required string message,
  /** Stack frames of the step's own module only. */
  2: optional string stack,
}

struct StepResult {
  1: required string runId,
  2: required StepStatus status,
  3: optional StepError error,
  /** True when the runtime wrote a table to the request's outputPath. */
  4: required bool wroteOutput,
  /** The step's json value as JSON text; unset means null. */
  5: optional string json,
  /** Messages the step wants shown to its user. */
  6: optional list<string> errors,
}

union ChildMessage {
  1: Ready ready,
  2: StepResult result,
}

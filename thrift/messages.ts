// Encoding and decoding of the protocol's messages (thrift/step.thrift), shared by the
// renderer and the step runtime. Framing is thrift's own TFramedTransport; this module
// only adds what decoding untrusted bytes needs: a frame must be consumed exactly.
import runtime from './runtime.cjs';
import gen from './gen/step_types.cjs';

// The whole module.exports object: Node's CommonJS export detection misses names the
// generated code assigns through an alias (ttypes.PROTOCOL_VERSION, StepStatus).
export const types = gen;
export declare namespace types {
  type StepRequest = gen.StepRequest;
  type StepResult = gen.StepResult;
  type ChildMessage = gen.ChildMessage;
  type Ready = gen.Ready;
  type StepError = gen.StepError;
}

interface ThriftStruct {
  read(input: unknown): void;
  write(output: unknown): void;
}

type Transport = { readPos: number; inBuf: Buffer };

/** One struct, serialised and framed (4-byte big-endian length + payload). */
export function encodeFrame(struct: object): Buffer {
  let framed: Buffer | undefined;
  const transport = new runtime.TFramedTransport(null, (buffer: Buffer) => {
    framed = buffer;
  });
  const protocol = new runtime.TBinaryProtocol(transport);
  (struct as ThriftStruct).write(protocol);
  protocol.flush();
  if (!framed) throw new Error('thrift framed transport produced no frame');
  return framed;
}

/**
 * Decodes one frame's payload into a new `Struct`. Throws on malformed input, on
 * bytes left over, and (via the framed transport's bounds checks) never reads or
 * allocates past the payload it was given, whatever lengths the bytes claim.
 */
export function decodePayload<T extends object>(Struct: new () => T, payload: Buffer): T {
  const transport = new runtime.TFramedTransport(payload) as unknown as Transport;
  const protocol = new runtime.TBinaryProtocol(transport);
  const struct = new Struct();
  (struct as unknown as ThriftStruct).read(protocol);
  if (transport.readPos !== payload.length)
    throw new Error(`${payload.length - transport.readPos} trailing byte(s) after the message`);
  return struct;
}

/**
 * A bounded reader of frames from a byte stream: each frame is at most `maxFrameBytes`
 * (checked on the 4-byte length, before any buffering) and the stream at most
 * `maxFrames` frames; anything else calls onError once and drops the rest.
 */
export function frameReceiver(
  maxFrameBytes: number,
  onFrame: (payload: Buffer) => void,
  onError: (error: Error) => void,
): (chunk: Buffer) => void {
  let failed = false;
  const receive = runtime.TFramedTransport.receiver(
    (transport: Transport) => onFrame(transport.inBuf),
    undefined,
    maxFrameBytes,
  );
  return (chunk) => {
    if (failed) return;
    try {
      receive(chunk);
    } catch (error) {
      failed = true;
      onError(error as Error);
    }
  };
}

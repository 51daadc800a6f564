// Types for thrift/runtime.cjs (the subset of the `thrift` package the protocol uses).
declare const runtime: {
  Thrift: unknown;
  TBinaryProtocol: new (transport: unknown, strictRead?: boolean, strictWrite?: boolean) => { flush(): void };
  TFramedTransport: {
    new (buffer: Buffer | null, callback?: (framed: Buffer) => void): unknown;
    receiver(callback: (transport: never) => void, seqid: undefined, maxLength: number): (chunk: Buffer) => void;
  };
  InputBufferUnderrunError: new () => Error;
};
export = runtime;

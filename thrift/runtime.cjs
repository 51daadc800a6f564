// The parts of the `thrift` package the generated code and the protocol use.
// Requiring the package's index would also load its HTTP, WebSocket and XHR
// connection code: ~30 ms of start-up in every child, and modules that cannot be
// put into a start-up snapshot. scripts/gen-thrift points the generated code here.
'use strict';
module.exports = {
  Thrift: require('thrift/lib/nodejs/lib/thrift/thrift'),
  TBinaryProtocol: require('thrift/lib/nodejs/lib/thrift/binary_protocol'),
  TFramedTransport: require('thrift/lib/nodejs/lib/thrift/framed_transport'),
  InputBufferUnderrunError: require('thrift/lib/nodejs/lib/thrift/input_buffer_underrun_error'),
};

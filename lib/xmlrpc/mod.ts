/**
 * XML-RPC: codec, server for `Deno.serve`, and client. Knows the protocol, not
 * what the methods mean.
 *
 * @module
 */
export {
  FAULT_INTERNAL,
  FAULT_INVALID_PARAMS,
  FAULT_INVALID_REQUEST,
  FAULT_METHOD_NOT_FOUND,
  FAULT_PARSE_ERROR,
  FaultAnswer,
  XmlRpcDouble,
  XmlRpcFault,
  type XmlRpcValue,
} from "./values.ts";
export {
  type DecodeLimits,
  encodeFault,
  encodeMethodCall,
  encodeMethodResponse,
  encodeValueXml,
  type MethodCall,
  parseMethodCall,
  parseMethodResponse,
} from "./codec.ts";
export {
  DEFAULT_MAX_REQUEST_ELEMENTS,
  DEFAULT_MAX_TEXT_LENGTH,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type MethodResult,
  type MethodSpec,
  pathOf,
  XmlRpcServer,
  type XmlRpcServerOptions,
} from "./server.ts";
export { type CallOptions, callXmlRpc } from "./client.ts";
export { escapeHtml } from "./_doc_page.ts";

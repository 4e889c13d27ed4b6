/**
 * XML-RPC values as JavaScript sees them, and the fault type.
 *
 * @module
 */

/** Forces `<double>` for a number that happens to be integral (`new XmlRpcDouble(3)` → `<double>3.0</double>`). */
export class XmlRpcDouble {
  /** The number. */
  readonly value: number;
  /** Wraps a number. */
  constructor(value: number) {
    this.value = value;
  }
}

/** Any value XML-RPC can carry (with `<nil/>` as null, `<i8>` as bigint, `<base64>` as Uint8Array). */
export type XmlRpcValue =
  | number
  | boolean
  | string
  | Date
  | Uint8Array
  | null
  | bigint
  | XmlRpcDouble
  | XmlRpcValue[]
  | { [key: string]: XmlRpcValue };

/** Interoperable fault codes (the "specification for fault code interoperability"). */
export const FAULT_PARSE_ERROR = -32700;
/** The request is not a valid XML-RPC call. */
export const FAULT_INVALID_REQUEST = -32600;
/** No such method. */
export const FAULT_METHOD_NOT_FOUND = -32601;
/** Wrong parameters for the method. */
export const FAULT_INVALID_PARAMS = -32602;
/** The server failed. */
export const FAULT_INTERNAL = -32603;

/** An XML-RPC fault: thrown by a handler to answer with it, or by the client when the server sent one. */
export class XmlRpcFault extends Error {
  /** The faultCode. */
  readonly code: number;
  /** Creates a fault. */
  constructor(code: number, message: string) {
    super(message);
    this.name = "XmlRpcFault";
    this.code = code;
  }
}

/**
 * A fault a handler returns (or throws) as an ordinary answer, such as a refused
 * work order. Returning it is the cheap way: it is not an Error (no stack trace
 * to capture) and no promise is rejected (the runtime tracks every rejected
 * promise until a handler is attached), which matters on a busy front desk.
 */
export class FaultAnswer {
  /** The faultCode. */
  readonly code: number;
  /** The faultString. */
  readonly message: string;
  /** Creates the answer. */
  constructor(code: number, message: string) {
    this.code = code;
    this.message = message;
  }
}

/**
 * The general XML-RPC decoder: saxes' events built into values, the
 * XML-RPC structure checked as they come. Every document the plain-document
 * fast path declines ends up here, so here are the error messages.
 *
 * @module
 */
import { SaxesParser } from "saxes";
import { decodeScalar, invalid, setMember } from "./_scalars.ts";
import { FAULT_PARSE_ERROR, XmlRpcFault, type XmlRpcValue } from "./values.ts";

/** Deepest element nesting accepted when {@link DecodeLimits} names none. */
export const DEFAULT_MAX_DEPTH = 100;

/** Limits applied while decoding. */
export interface DecodeLimits {
  /** Deepest element nesting accepted (default {@link DEFAULT_MAX_DEPTH}). */
  maxDepth?: number;
}

/** A value being built: what the open element expects next. */
interface Frame {
  /** Element name. */
  name: string;
  /** Collected text of this element. */
  text: string;
  /** Values of a <data>, members of a <struct>, params of <params>. */
  items?: XmlRpcValue[];
  struct?: Record<string, XmlRpcValue>;
  /** A <member>'s name. */
  memberName?: string;
  /** The value decoded inside a <value> / <member> / <param>. */
  value?: XmlRpcValue;
  hasValue?: boolean;
  /** Whether a <value> held a typed element. */
  typed?: boolean;
}

/** Where each element may appear: its parent's name. */
const PARENTS: Record<string, string[]> = {
  methodName: ["methodCall"],
  params: ["methodCall", "methodResponse"],
  param: ["params"],
  fault: ["methodResponse"],
  value: ["param", "data", "member", "fault"],
  data: ["array"],
  member: ["struct"],
  name: ["member"],
};

const CONTAINERS = new Set(["array", "struct"]);

/** The decoded document: its root element name and what it held. */
export interface DecodedDocument {
  root: string;
  methodName: string | null;
  params: XmlRpcValue[] | null;
  fault: XmlRpcValue | undefined;
}

/** Builds values from parser events, checking the XML-RPC structure as it goes. */
interface DocumentBuilder {
  open(name: string): void;
  text(text: string): void;
  close(): void;
  /** Records a failure (the first one wins). */
  fail(error: Error): void;
  /** The document, or the first failure thrown. */
  finish(): DecodedDocument;
}

function createBuilder(limits: DecodeLimits): DocumentBuilder {
  const maxDepth = limits.maxDepth ?? DEFAULT_MAX_DEPTH;
  const stack: Frame[] = [];
  const doc: DecodedDocument = { root: "", methodName: null, params: null, fault: undefined };
  let failure: Error | null = null;
  const fail = (error: Error) => {
    failure ??= error;
  };
  return {
    fail,
    open(name: string): void {
      if (failure) return;
      if (stack.length >= maxDepth) {
        fail(invalid(`nesting deeper than ${maxDepth} elements`));
        return;
      }
      const parent = stack[stack.length - 1];
      if (!parent) {
        doc.root = name;
        if (name !== "methodCall" && name !== "methodResponse") {
          fail(invalid(`expected <methodCall> or <methodResponse>, found <${name}>`));
          return;
        }
      } else {
        const allowed = PARENTS[name];
        if (allowed ? !allowed.includes(parent.name) : parent.name !== "value") {
          fail(invalid(`<${name}> is not allowed inside <${parent.name}>`));
          return;
        }
        if (parent.name === "value") {
          if (parent.typed) {
            fail(invalid("<value> holds more than one element"));
            return;
          }
          parent.typed = true;
        }
      }
      // Every frame has every field from the start: one object shape keeps the property loads fast.
      stack.push({
        name,
        text: "",
        items: name === "params" || name === "data" ? [] : undefined,
        struct: name === "struct" ? {} : undefined,
        memberName: undefined,
        value: undefined,
        hasValue: false,
        typed: false,
      });
    },
    text(text: string): void {
      if (!failure && stack.length > 0) stack[stack.length - 1].text += text;
    },
    close(): void {
      if (failure) return;
      const frame = stack.pop()!;
      const parent = stack[stack.length - 1];
      try {
        let value: XmlRpcValue | undefined;
        switch (frame.name) {
          case "value":
            value = frame.hasValue ? frame.value! : frame.typed ? undefined : frame.text; // untyped value = string
            if (value === undefined) throw invalid("<value> holds no value");
            break;
          case "array": {
            if (!frame.hasValue) throw invalid("<array> without <data>");
            value = frame.value!;
            break;
          }
          case "data":
            value = frame.items!;
            break;
          case "struct":
            value = frame.struct!;
            break;
          case "member":
            if (frame.memberName === undefined || !frame.hasValue) {
              throw invalid("<member> needs a <name> and a <value>");
            }
            setMember(parent.struct!, frame.memberName, frame.value!);
            return;
          case "name":
            parent.memberName = frame.text;
            return;
          case "param":
            if (!frame.hasValue) throw invalid("<param> without <value>");
            parent.items!.push(frame.value!);
            return;
          case "params":
            doc.params = frame.items!;
            return;
          case "methodName":
            doc.methodName = frame.text.trim();
            return;
          case "fault":
            doc.fault = frame.value ?? null;
            return;
          case "methodCall":
          case "methodResponse":
            return;
          default:
            if (CONTAINERS.has(frame.name)) return;
            value = decodeScalar(frame.name, frame.text);
        }
        if (parent.name === "data") parent.items!.push(value);
        else {
          parent.value = value;
          parent.hasValue = true;
        }
      } catch (error) {
        fail(error as Error);
      }
    },
    finish(): DecodedDocument {
      if (failure) throw failure;
      if (!doc.root) throw new XmlRpcFault(FAULT_PARSE_ERROR, "Parse error: no document element");
      return doc;
    },
  };
}

/**
 * Decodes any XML-RPC document through saxes, which refuses a DOCTYPE (so no
 * entity is ever expanded) and words the parse errors; element nesting is
 * limited. Throws an {@link XmlRpcFault} (-32700 or -32600) for bad input.
 */
export function decodeWithSaxes(xml: string, limits: DecodeLimits): DecodedDocument {
  const builder = createBuilder(limits);
  // Line/column tracking is off: faults name the problem, and tracking costs a fifth of the parse.
  const parser = new SaxesParser({ xmlns: false, position: false });
  parser.on(
    "doctype",
    () =>
      builder.fail(new XmlRpcFault(FAULT_PARSE_ERROR, "Parse error: DOCTYPE declarations are not accepted")),
  );
  parser.on("opentag", (tag) => builder.open(tag.name));
  parser.on("text", (text) => builder.text(text));
  parser.on("cdata", (text) => builder.text(text));
  parser.on("closetag", () => builder.close());
  parser.on(
    "error",
    (error) =>
      builder.fail(new XmlRpcFault(FAULT_PARSE_ERROR, `Parse error: ${error.message.split("\n")[0]}`)),
  );
  try {
    parser.write(xml).close();
  } catch (error) {
    builder.fail(
      new XmlRpcFault(FAULT_PARSE_ERROR, `Parse error: ${error instanceof Error ? error.message : error}`),
    );
  }
  return builder.finish();
}

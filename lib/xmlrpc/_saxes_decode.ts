/**
 * The general XML-RPC decoder: saxes' events built into values, the
 * XML-RPC structure checked as they come. Every document the plain-document
 * fast path declines ends up here, so here are the error messages.
 *
 * The first error ends the parse: saxes would otherwise go on to the end of the
 * text and report every later problem too (one per unclosed tag, one per bad
 * character), and a hostile megabyte of them cost seconds. The limits
 * (nesting, elements, text) are checked as the events arrive, so a document
 * past one stops there as well.
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
  /**
   * Most elements one document may hold (default: no limit). Attributes, comments, CDATA sections and
   * processing instructions count too: each costs the parser about as much as an element.
   */
  maxElements?: number;
  /**
   * Longest text, in characters, of a method name, member name or value (default: no limit). Whitespace
   * between elements is not counted.
   */
  maxTextLength?: number;
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

/** The elements a `<value>` may hold; anything else there is refused as it opens. */
const VALUE_TYPES = new Set([
  "string",
  "int",
  "i4",
  "i8",
  "ex:i8",
  "double",
  "boolean",
  "dateTime.iso8601",
  "base64",
  "nil",
  "ex:nil",
  "array",
  "struct",
]);

/** Thrown through saxes to end the parse at the first failure; never leaves this module. */
const STOP = Symbol("stop");

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
  /** Counts an element (or attribute, comment...) against the element limit. */
  count(): void;
  /** Records the failure and ends the parse (throws {@link STOP} through saxes). */
  fail(error: Error): never;
  /** The document; throws the failure, or a parse error for `thrown` (what saxes itself threw). */
  finish(thrown: unknown): DecodedDocument;
}

function createBuilder(limits: DecodeLimits): DocumentBuilder {
  const maxDepth = limits.maxDepth ?? DEFAULT_MAX_DEPTH;
  const maxElements = limits.maxElements ?? Infinity;
  const maxText = limits.maxTextLength ?? Infinity;
  const stack: Frame[] = [];
  const doc: DecodedDocument = { root: "", methodName: null, params: null, fault: undefined };
  let failure: Error | null = null;
  let elements = 0;
  const fail = (error: Error): never => {
    failure = error;
    throw STOP;
  };
  /** The text of an element that holds text, within the limit. */
  const limitedText = (frame: Frame): string => {
    if (frame.text.length > maxText) {
      fail(invalid(`text of <${frame.name}> longer than ${maxText} characters (the limit)`));
    }
    return frame.text;
  };
  return {
    fail,
    count(): void {
      if (++elements > maxElements) {
        fail(invalid(`more than ${maxElements} elements in one document (the limit)`));
      }
    },
    open(name: string): void {
      if (stack.length >= maxDepth) fail(invalid(`nesting deeper than ${maxDepth} elements`));
      const parent = stack[stack.length - 1];
      if (!parent) {
        doc.root = name;
        if (name !== "methodCall" && name !== "methodResponse") {
          fail(invalid(`expected <methodCall> or <methodResponse>, found <${name}>`));
        }
      } else {
        const allowed = PARENTS[name];
        if (allowed ? !allowed.includes(parent.name) : parent.name !== "value") {
          fail(invalid(`<${name}> is not allowed inside <${parent.name}>`));
        }
        if (parent.name === "value") {
          if (!VALUE_TYPES.has(name)) fail(invalid(`unknown value type <${name}>`));
          if (parent.typed) fail(invalid("<value> holds more than one element"));
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
      if (stack.length > 0) stack[stack.length - 1].text += text;
    },
    close(): void {
      const frame = stack.pop()!;
      const parent = stack[stack.length - 1];
      try {
        let value: XmlRpcValue | undefined;
        switch (frame.name) {
          case "value":
            // An untyped value is a string.
            value = frame.hasValue ? frame.value! : frame.typed ? undefined : limitedText(frame);
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
            parent.memberName = limitedText(frame);
            return;
          case "param":
            if (!frame.hasValue) throw invalid("<param> without <value>");
            parent.items!.push(frame.value!);
            return;
          case "params":
            doc.params = frame.items!;
            return;
          case "methodName":
            doc.methodName = limitedText(frame).trim();
            return;
          case "fault":
            doc.fault = frame.value ?? null;
            return;
          case "methodCall":
          case "methodResponse":
            return;
          default:
            if (CONTAINERS.has(frame.name)) return;
            value = decodeScalar(frame.name, limitedText(frame));
        }
        if (parent.name === "data") parent.items!.push(value);
        else {
          parent.value = value;
          parent.hasValue = true;
        }
      } catch (error) {
        if (error === STOP) throw error;
        fail(error as Error);
      }
    },
    finish(thrown: unknown): DecodedDocument {
      if (failure) throw failure;
      if (thrown !== null) {
        const message = thrown instanceof Error ? thrown.message : String(thrown);
        throw new XmlRpcFault(FAULT_PARSE_ERROR, `Parse error: ${message}`);
      }
      if (!doc.root) throw new XmlRpcFault(FAULT_PARSE_ERROR, "Parse error: no document element");
      return doc;
    },
  };
}

/**
 * Decodes any XML-RPC document through saxes, which refuses a DOCTYPE (so no
 * entity is ever expanded) and words the parse errors; nesting, element count
 * and text length are limited. The first error or limit ends the parse.
 * Throws an {@link XmlRpcFault} (-32700 or -32600) for bad input.
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
  // Counted as each starts, before saxes reads its attributes or body.
  parser.on("opentagstart", () => builder.count());
  parser.on("attribute", () => builder.count());
  parser.on("comment", () => builder.count());
  parser.on("processinginstruction", () => builder.count());
  parser.on("opentag", (tag) => builder.open(tag.name));
  parser.on("text", (text) => builder.text(text));
  parser.on("cdata", (text) => {
    builder.count();
    builder.text(text);
  });
  parser.on("closetag", () => builder.close());
  parser.on(
    "error",
    (error) =>
      builder.fail(new XmlRpcFault(FAULT_PARSE_ERROR, `Parse error: ${error.message.split("\n")[0]}`)),
  );
  let thrown: unknown = null;
  try {
    parser.write(xml).close();
  } catch (error) {
    if (error !== STOP) thrown = error;
  }
  return builder.finish(thrown);
}

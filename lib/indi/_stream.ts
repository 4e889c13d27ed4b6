/**
 * Reading the server's byte stream: INDI XML elements for the cache, and BLOB
 * payloads streamed to a sink without ever being held whole.
 *
 * Two problems shape this module:
 *
 * - The stream has no root element (it is a sequence of top-level elements for
 *   as long as the connection lasts). saxes wants a document, so it is given a
 *   synthetic `<indi>` opening tag first and is never closed; the elements the
 *   server sends become children of that root.
 * - saxes collects an element's text and hands it over in one `text` event, so
 *   a 30 MB image would be held as a 40 MB string. A byte scanner therefore
 *   sits in front of the parser. It passes everything to saxes except the
 *   content of `<oneBLOB …>` elements: once it has seen a whole `<oneBLOB`
 *   start tag (and fed that tag to saxes, so the member's attributes are known)
 *   it diverts the following bytes to an incremental base64 decoder until the
 *   next `<`, which base64 never contains, and then hands the stream back to
 *   saxes at the closing tag. Scanning happens on bytes, before UTF-8 decoding:
 *   `<` and the tag name are ASCII, and UTF-8 never uses ASCII byte values
 *   inside a multi-byte character, so a split can never cut a character.
 *
 * @module
 */
import { SaxesParser } from "saxes";
import { Base64Decoder } from "./_base64.ts";

/** An element's attributes, as sent. */
export type Attributes = Record<string, string>;

/** A member of a vector element (`<oneNumber>`, `<defSwitch>`, …) with its text. */
export interface ParsedMember {
  /** Element name (`oneNumber`). */
  tag: string;
  /** Its attributes. */
  attributes: Attributes;
  /** Its text content, trimmed; "" for a BLOB member (whose payload went to a sink). */
  text: string;
}

/** A complete top-level element: a vector definition or update, `delProperty`, `message`, … */
export interface ParsedElement {
  /** Element name (`setNumberVector`). */
  tag: string;
  /** Its attributes. */
  attributes: Attributes;
  /** Its member elements in order. */
  members: ParsedMember[];
}

/** Where one BLOB member's decoded bytes go. */
export interface BlobSink {
  /** Takes the next decoded bytes; the buffer is reused once the returned promise settles. */
  write(bytes: Uint8Array): Promise<void>;
  /** The payload ended (whole when `error` is undefined); the sink finishes its file. */
  end(error: Error | undefined, decodedBytes: number): Promise<void>;
}

/** What the stream parser reports to. */
export interface StreamHandler {
  /** A complete top-level element arrived. */
  element(element: ParsedElement): void;
  /**
   * A `<oneBLOB>` starts inside the vector element with `vector` attributes;
   * returns where its bytes go, or null to decode and drop them.
   */
  blobStart(vectorTag: string, vector: Attributes, member: Attributes): BlobSink | null;
  /** The stream held something that is not well-formed INDI; parsing goes on. */
  error(error: Error): void;
}

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const BLOB_TAG = new TextEncoder().encode("<oneBLOB");
/** A start tag longer than this is not INDI: stop holding it back and let saxes deal with it. */
const MAX_HELD_TAG = 64 * 1024;

/** The BLOB being diverted: its decoder and sink. */
interface BlobInProgress {
  decoder: Base64Decoder;
  sink: BlobSink | null;
  error: Error | undefined;
}

/** Parses one connection's byte stream; make a new one for each connection. */
export class IndiStreamParser {
  readonly #handler: StreamHandler;
  readonly #saxes = new SaxesParser({ xmlns: false, position: false });
  readonly #text = new TextDecoder();
  /** Bytes held back in XML mode because they may begin a `<oneBLOB` start tag. */
  #held: Uint8Array | null = null;
  /** Set while the scanner diverts a BLOB payload. */
  #blob: BlobInProgress | null = null;
  #output = new Uint8Array(0);
  /** The element being built (depth 1), its member (depth 2). */
  #element: ParsedElement | null = null;
  #member: ParsedMember | null = null;
  #depth = 0;
  /** The BLOB announced by saxes' opentag, picked up by the scanner right after. */
  #announced: BlobInProgress | null = null;

  /** Creates the parser and opens the synthetic root. */
  constructor(handler: StreamHandler) {
    this.#handler = handler;
    const saxes = this.#saxes;
    saxes.on("opentag", (tag) => this.#open(tag.name, tag.attributes as Attributes));
    saxes.on("text", (text) => {
      if (this.#member) this.#member.text += text;
    });
    saxes.on("closetag", (tag) => this.#close(tag.name));
    saxes.on("error", (error) => this.#handler.error(new Error(`INDI XML: ${error.message.split("\n")[0]}`)));
    saxes.on("doctype", () => this.#handler.error(new Error("INDI XML: DOCTYPE ignored")));
    saxes.write("<indi>");
  }

  /** Whether a BLOB payload is being received right now. */
  get inBlob(): boolean {
    return this.#blob !== null;
  }

  /** Parses the next bytes; resolves once their BLOB bytes, if any, are in the sink. */
  async feed(chunk: Uint8Array): Promise<void> {
    let data = chunk;
    if (this.#held) {
      data = new Uint8Array(this.#held.length + chunk.length);
      data.set(this.#held);
      data.set(chunk, this.#held.length);
      this.#held = null;
    }
    let position = 0;
    while (position < data.length) {
      if (this.#blob) {
        const end = data.indexOf(LT, position);
        const stop = end < 0 ? data.length : end;
        await this.#blobBytes(data.subarray(position, stop));
        if (end < 0) return;
        await this.#blobEnd();
        position = end; // saxes gets `</oneBLOB>`
        continue;
      }
      const found = findBlobTag(data, position);
      if (found.start < 0) {
        // No BLOB starts here; keep back a tail that could be the beginning of `<oneBLOB`.
        const keep = found.partial >= 0 ? found.partial : data.length;
        this.#xml(data.subarray(position, keep));
        if (keep < data.length) this.#hold(data.subarray(keep));
        return;
      }
      const tagEnd = findTagEnd(data, found.start);
      if (tagEnd < 0) {
        this.#xml(data.subarray(position, found.start));
        if (data.length - found.start > MAX_HELD_TAG) {
          this.#xml(data.subarray(found.start));
        } else {
          this.#hold(data.subarray(found.start));
        }
        return;
      }
      const selfClosing = data[tagEnd - 1] === SLASH;
      this.#xml(data.subarray(position, found.start));
      // A self-closing `<oneBLOB …/>` goes through the same start, end, close steps with no payload.
      this.#xml(data.subarray(found.start, selfClosing ? tagEnd - 1 : tagEnd));
      this.#xml(new Uint8Array([GT]));
      this.#blob = this.#announced ?? {
        decoder: new Base64Decoder(),
        sink: null,
        error: new Error("INDI XML: <oneBLOB> outside a BLOB vector"),
      };
      this.#announced = null;
      position = tagEnd + 1;
      if (selfClosing) {
        await this.#blobEnd();
        this.#xml(new TextEncoder().encode("</oneBLOB>"));
      }
    }
  }

  /** Ends a BLOB cut off by a lost connection: its sink gets `error` (and drops its file). */
  async abort(error: Error): Promise<void> {
    const blob = this.#blob;
    this.#blob = null;
    if (blob?.sink) await blob.sink.end(blob.error ?? error, blob.decoder.decoded);
  }

  #hold(bytes: Uint8Array): void {
    this.#held = bytes.slice();
  }

  #xml(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#saxes.write(this.#text.decode(bytes, { stream: true }));
  }

  async #blobBytes(bytes: Uint8Array): Promise<void> {
    const blob = this.#blob!;
    if (bytes.length === 0 || blob.error) return;
    const needed = Base64Decoder.maxOutput(bytes.length);
    if (this.#output.length < needed) this.#output = new Uint8Array(needed);
    let count: number;
    try {
      count = blob.decoder.decode(bytes, this.#output);
    } catch (error) {
      blob.error = error as Error;
      return;
    }
    if (count === 0 || !blob.sink) return;
    try {
      await blob.sink.write(this.#output.subarray(0, count));
    } catch (error) {
      blob.error = error as Error;
    }
  }

  async #blobEnd(): Promise<void> {
    const blob = this.#blob!;
    this.#blob = null;
    if (!blob.error) {
      try {
        blob.decoder.finish();
      } catch (error) {
        blob.error = error as Error;
      }
    }
    if (blob.sink) {
      await blob.sink.end(blob.error, blob.decoder.decoded);
    } else if (blob.error) {
      this.#report(blob.error);
    }
  }

  #open(name: string, attributes: Attributes): void {
    this.#depth++;
    if (this.#depth === 2) {
      this.#element = { tag: name, attributes, members: [] };
    } else if (this.#depth === 3 && this.#element) {
      this.#member = { tag: name, attributes, text: "" };
      if (name === "oneBLOB") {
        let sink: BlobSink | null = null;
        try {
          sink = this.#handler.blobStart(this.#element.tag, this.#element.attributes, attributes);
        } catch (error) {
          this.#report(error);
        }
        this.#announced = { decoder: new Base64Decoder(), sink, error: undefined };
      }
    }
  }

  #close(name: string): void {
    this.#depth--;
    if (this.#depth === 2 && this.#member && this.#element) {
      this.#member.text = this.#member.text.trim();
      this.#element.members.push(this.#member);
      this.#member = null;
    } else if (this.#depth === 1 && this.#element) {
      const element = this.#element;
      this.#element = null;
      if (element.tag !== name) return;
      try {
        this.#handler.element(element);
      } catch (error) {
        this.#report(error);
      }
    }
  }

  #report(error: unknown): void {
    this.#handler.error(error instanceof Error ? error : new Error(String(error)));
  }
}

/**
 * Finds the next `<oneBLOB` followed by a delimiter from `from`. `start` is its
 * index or -1; `partial` is where a possible beginning of one sits at the very
 * end of the data (to be held back), or -1.
 */
function findBlobTag(data: Uint8Array, from: number): { start: number; partial: number } {
  let at = data.indexOf(LT, from);
  while (at >= 0) {
    let matched = 1;
    while (
      matched < BLOB_TAG.length && at + matched < data.length && data[at + matched] === BLOB_TAG[matched]
    ) {
      matched++;
    }
    if (at + matched === data.length) return { start: -1, partial: at };
    if (matched === BLOB_TAG.length) {
      const next = data[at + matched];
      if (next === GT || next === SLASH || next === 0x20 || next === 0x09 || next === 0x0a || next === 0x0d) {
        return { start: at, partial: -1 };
      }
    }
    at = data.indexOf(LT, at + 1);
  }
  return { start: -1, partial: -1 };
}

/** Index of the `>` ending the start tag at `start` (quotes respected), or -1 if it is not here yet. */
function findTagEnd(data: Uint8Array, start: number): number {
  let quote = 0;
  for (let i = start + 1; i < data.length; i++) {
    const c = data[i];
    if (quote) {
      if (c === quote) quote = 0;
    } else if (c === 0x22 || c === 0x27) {
      quote = c;
    } else if (c === GT) {
      return i;
    }
  }
  return -1;
}

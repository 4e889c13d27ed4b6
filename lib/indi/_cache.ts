/**
 * The property cache: one object per device and property, built from
 * `def*Vector`, updated in place by `set*Vector`, marked undefined by
 * `delProperty` and by a lost connection.
 *
 * Identity rule: the cache never replaces the object of a (device, property)
 * pair. A redefinition (drivers re-send every definition whenever any client
 * asks, and some define a property twice) rewrites the same object's
 * definition; members that keep their name keep their object, members the new
 * definition lacks are dropped and new ones added, in the new order. So a
 * reference the client handed out always shows the current state of "property
 * P of device D", and `defined` says whether the server defines it right now.
 *
 * @module
 */
import type { Attributes, ParsedElement, ParsedMember } from "./_stream.ts";
import type {
  BlobMember,
  IndiVector,
  LightMember,
  NumberMember,
  PropertyPerm,
  PropertyState,
  SwitchMember,
  SwitchRule,
  TextMember,
  VectorBase,
  VectorType,
} from "./types.ts";

/** The writable shape behind the read-only public types. */
type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type AnyMember =
  | Mutable<NumberMember>
  | Mutable<TextMember>
  | Mutable<SwitchMember>
  | Mutable<LightMember>
  | Mutable<BlobMember>;

/**
 * A cached vector as the cache holds it: the public {@link IndiVector} shapes,
 * writable. Hand it out with {@link publicVector}.
 */
export interface CachedVector extends Mutable<VectorBase> {
  type: VectorType;
  /** Switch vectors only. */
  rule?: SwitchRule;
  members: Map<string, AnyMember>;
}

/** The read-only public view of a cached vector (the same object). */
export function publicVector(vector: CachedVector): IndiVector {
  return vector as unknown as IndiVector;
}

const VECTOR_TYPES: Record<string, VectorType> = {
  Number: "number",
  Text: "text",
  Switch: "switch",
  Light: "light",
  BLOB: "blob",
};

const STATES = new Set<string>(["Idle", "Ok", "Busy", "Alert"]);
const PERMS = new Set<string>(["ro", "wo", "rw"]);
const RULES = new Set<string>(["OneOfMany", "AtMostOne", "AnyOfMany"]);

/** What applying one element changed, for waiters and events. */
export type CacheChange =
  | { kind: "define"; vector: CachedVector }
  | { kind: "update"; vector: CachedVector; message: string | undefined; problem: string | undefined }
  | { kind: "delete"; device: string; property: string | undefined; vectors: CachedVector[] };

/** Splits `defNumberVector` into ("def", "number"); null for other elements. */
export function vectorElement(tag: string): { verb: "def" | "set" | "new"; type: VectorType } | null {
  const match = /^(def|set|new)(Number|Text|Switch|Light|BLOB)Vector$/.exec(tag);
  return match ? { verb: match[1] as "def" | "set" | "new", type: VECTOR_TYPES[match[2]] } : null;
}

/**
 * Parses an INDI number: decimal, or sexagesimal (`-12:30:15.5`, `12 30`) as
 * the protocol allows; NaN when it is neither.
 */
export function parseIndiNumber(text: string): number {
  const trimmed = text.trim();
  if (trimmed === "") return NaN;
  if (!/[:\s;]/.test(trimmed)) return Number(trimmed);
  const parts = trimmed.split(/[:\s;]+/);
  if (parts.length > 3) return NaN;
  const negative = parts[0].startsWith("-");
  let value = 0;
  for (let i = 0; i < parts.length; i++) {
    const part = Math.abs(Number(parts[i]));
    if (!Number.isFinite(part)) return NaN;
    value += part / 60 ** i;
  }
  return negative ? -value : value;
}

function key(device: string, property: string): string {
  return `${device}\u0000${property}`;
}

/** Every vector of every device the server told this client about. */
export class PropertyCache {
  readonly #vectors = new Map<string, CachedVector>();

  /** The vector, defined or not (undefined if it was never defined). */
  entry(device: string, property: string): CachedVector | undefined {
    return this.#vectors.get(key(device, property));
  }

  /** The vector if the server defines it now. */
  get(device: string, property: string): CachedVector | undefined {
    const vector = this.#vectors.get(key(device, property));
    return vector?.defined ? vector : undefined;
  }

  /** Names of devices with at least one defined property, in first-seen order. */
  devices(): string[] {
    const names = new Set<string>();
    for (const vector of this.#vectors.values()) if (vector.defined) names.add(vector.device);
    return [...names];
  }

  /** A device's defined vectors in first-seen order. */
  properties(device: string): CachedVector[] {
    return [...this.#vectors.values()].filter((vector) => vector.defined && vector.device === device);
  }

  /** Marks every vector undefined (the connection is gone; definitions will come again). */
  forgetAll(): void {
    for (const vector of this.#vectors.values()) vector.defined = false;
  }

  /**
   * Applies a `def*Vector`, `set*Vector` or `delProperty`; returns what changed,
   * or null when the element changed nothing (a `set` for a property not
   * defined). Throws, changing nothing, on an element too malformed to apply.
   */
  apply(element: ParsedElement): CacheChange | null {
    const { tag, attributes } = element;
    if (tag === "delProperty") return this.#delete(attributes);
    const kind = vectorElement(tag);
    if (!kind) return null;
    if (kind.verb === "def") return { kind: "define", vector: this.#define(kind.type, element) };
    if (kind.verb === "set") return this.#set(kind.type, element);
    return null;
  }

  #define(type: VectorType, element: ParsedElement): CachedVector {
    const a = element.attributes;
    const device = required(a, "device", element.tag);
    const name = required(a, "name", element.tag);
    let vector = this.#vectors.get(key(device, name));
    if (!vector || vector.type !== type) {
      // A property that changes type is a new property: a fresh object, the old one stays undefined.
      if (vector) vector.defined = false;
      vector = {
        type,
        device,
        name,
        label: "",
        group: "",
        state: "Idle",
        perm: "ro",
        timeout: 0,
        timestamp: "",
        message: "",
        defined: true,
        definitions: 0,
        members: new Map(),
      };
      this.#vectors.set(key(device, name), vector);
    }
    vector.label = a.label ?? name;
    vector.group = a.group ?? "";
    vector.state = a.state === undefined ? "Idle" : state(a.state, element.tag);
    vector.perm = type === "light" ? "ro" : perm(a.perm);
    vector.timeout = numberAttribute(a.timeout, 0);
    vector.timestamp = a.timestamp ?? "";
    vector.message = a.message ?? "";
    if (type === "switch") vector.rule = rule(a.rule);
    vector.defined = true;
    vector.definitions++;
    const old = vector.members;
    const members = new Map<string, AnyMember>();
    for (const member of element.members) {
      const memberName = required(member.attributes, "name", member.tag);
      const existing = old.get(memberName);
      const fresh = defineMember(type, member, memberName);
      members.set(memberName, existing ? Object.assign(existing, fresh) : fresh);
    }
    vector.members = members;
    return vector;
  }

  #set(type: VectorType, element: ParsedElement): CacheChange | null {
    const a = element.attributes;
    const vector = this.get(required(a, "device", element.tag), required(a, "name", element.tag));
    if (!vector) return null;
    if (vector.type !== type) {
      throw new Error(
        `<${element.tag}> for "${vector.device}.${vector.name}", which is defined as a ${vector.type} vector`,
      );
    }
    if (a.state !== undefined) vector.state = state(a.state, element.tag);
    if (a.timeout !== undefined) vector.timeout = numberAttribute(a.timeout, vector.timeout);
    if (a.timestamp !== undefined) vector.timestamp = a.timestamp;
    if (a.message !== undefined) vector.message = a.message;
    const unknown: string[] = [];
    for (const member of element.members) {
      const name = member.attributes.name;
      const target = name === undefined ? undefined : vector.members.get(name);
      if (!target) {
        unknown.push(name ?? "(no name)");
        continue;
      }
      updateMember(vector, target, member);
    }
    const problem = unknown.length === 0
      ? undefined
      : `<${element.tag}> for "${vector.device}.${vector.name}" names unknown member(s) ${
        unknown.join(", ")
      }`;
    return { kind: "update", vector, message: a.message, problem };
  }

  #delete(a: Attributes): CacheChange {
    const device = required(a, "device", "delProperty");
    const property = a.name;
    const vectors: CachedVector[] = [];
    for (const vector of this.#vectors.values()) {
      if (
        vector.defined && vector.device === device && (property === undefined || vector.name === property)
      ) {
        vector.defined = false;
        vectors.push(vector);
      }
    }
    return { kind: "delete", device, property, vectors };
  }
}

function defineMember(type: VectorType, member: ParsedMember, name: string): AnyMember {
  const a = member.attributes;
  const label = a.label ?? name;
  switch (type) {
    case "number":
      return {
        name,
        label,
        format: a.format ?? "%g",
        min: numberAttribute(a.min, 0),
        max: numberAttribute(a.max, 0),
        step: numberAttribute(a.step, 0),
        value: parseIndiNumber(member.text),
      };
    case "text":
      return { name, label, value: member.text };
    case "switch":
      return { name, label, value: switchValue(member.text) };
    case "light":
      return { name, label, value: state(member.text, member.tag) };
    case "blob":
      return { name, label, format: a.format ?? "", size: 0, path: undefined };
  }
}

function updateMember(vector: CachedVector, target: AnyMember, member: ParsedMember): void {
  const a = member.attributes;
  switch (vector.type) {
    case "number": {
      const number = target as Mutable<NumberMember>;
      number.value = parseIndiNumber(member.text);
      // Drivers announce new limits in a set (IUUpdateMinMax) with these attributes.
      if (a.min !== undefined) number.min = numberAttribute(a.min, number.min);
      if (a.max !== undefined) number.max = numberAttribute(a.max, number.max);
      if (a.step !== undefined) number.step = numberAttribute(a.step, number.step);
      if (a.format !== undefined) number.format = a.format;
      return;
    }
    case "text":
      (target as Mutable<TextMember>).value = member.text;
      return;
    case "switch": {
      const on = switchValue(member.text);
      // A driver may send only the switch that changed: one turning On in a
      // OneOfMany or AtMostOne vector turns the others Off.
      if (on && vector.rule !== "AnyOfMany") {
        for (const other of vector.members.values()) (other as Mutable<SwitchMember>).value = false;
      }
      (target as Mutable<SwitchMember>).value = on;
      return;
    }
    case "light":
      (target as Mutable<LightMember>).value = state(member.text, member.tag);
      return;
    case "blob": {
      const blob = target as Mutable<BlobMember>;
      if (a.format !== undefined) blob.format = a.format;
      if (a.size !== undefined) blob.size = numberAttribute(a.size, 0);
      return;
    }
  }
}

function required(a: Attributes, name: string, tag: string): string {
  const value = a[name];
  if (value === undefined || value === "") throw new Error(`<${tag}> without a "${name}" attribute`);
  return value;
}

function state(text: string | undefined, tag: string): PropertyState {
  const value = (text ?? "").trim();
  if (!STATES.has(value)) throw new Error(`<${tag}> has state "${value}" (expected Idle, Ok, Busy or Alert)`);
  return value as PropertyState;
}

function perm(text: string | undefined): PropertyPerm {
  return text !== undefined && PERMS.has(text) ? text as PropertyPerm : "rw";
}

function rule(text: string | undefined): SwitchRule {
  return text !== undefined && RULES.has(text) ? text as SwitchRule : "AnyOfMany";
}

function switchValue(text: string): boolean {
  return text.trim() === "On";
}

function numberAttribute(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = parseIndiNumber(text);
  return Number.isNaN(value) ? fallback : value;
}

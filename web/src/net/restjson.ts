// The REST API's JSON (server/rest/jsonview.py) back into pm.v1 messages, driven by the same
// descriptors: snake_case names, enums as lower-case words without their prefix, 64-bit
// integers as JSON numbers, every field present ("" or null when unset).

import { create, ScalarType, type DescEnum, type DescField, type DescMessage, type MessageShape } from "@bufbuild/protobuf";

const LONG = new Set<ScalarType>([
  ScalarType.INT64,
  ScalarType.UINT64,
  ScalarType.SINT64,
  ScalarType.FIXED64,
  ScalarType.SFIXED64,
]);

const enumWords = new WeakMap<DescEnum, Map<string, number>>();

function enumNumber(desc: DescEnum, word: unknown): number {
  if (typeof word === "number") return word;
  if (typeof word !== "string" || word === "") return 0;
  let words = enumWords.get(desc);
  if (!words) {
    words = new Map();
    const prefix = (desc.sharedPrefix ?? "").toUpperCase();
    for (const value of desc.values) {
      const bare = value.name.startsWith(prefix) ? value.name.slice(prefix.length) : value.name;
      words.set(bare.toLowerCase(), value.number);
    }
    enumWords.set(desc, words);
  }
  return words.get(word.toLowerCase()) ?? 0;
}

function scalar(type: ScalarType, value: unknown): unknown {
  if (LONG.has(type)) {
    if (typeof value === "number") return BigInt(Math.trunc(value));
    if (typeof value === "string" && value !== "") return BigInt(value);
    return 0n;
  }
  if (type === ScalarType.BOOL) return value === true;
  if (type === ScalarType.STRING) return typeof value === "string" ? value : "";
  if (type === ScalarType.BYTES) {
    const hex = typeof value === "string" ? value : "";
    const bytes = new Uint8Array(hex.length / 2);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
    return bytes;
  }
  return typeof value === "number" ? value : 0;
}

function fieldValue(field: DescField, value: unknown): unknown {
  switch (field.fieldKind) {
    case "scalar":
      return scalar(field.scalar, value);
    case "enum":
      return enumNumber(field.enum, value);
    case "message":
      return fromRest(field.message, value);
    case "list": {
      const items = Array.isArray(value) ? value : [];
      if (field.listKind === "message") return items.map((v) => fromRest(field.message, v));
      if (field.listKind === "enum") return items.map((v) => enumNumber(field.enum, v));
      return items.map((v) => scalar(field.scalar, v));
    }
    case "map":
      return {};
  }
}

/** One message from its REST JSON; an absent or malformed body gives the empty message. */
export function fromRest<Desc extends DescMessage>(schema: Desc, json: unknown): MessageShape<Desc> {
  const init: Record<string, unknown> = {};
  const body = typeof json === "object" && json !== null ? (json as Record<string, unknown>) : {};
  for (const field of schema.fields) {
    const raw = body[field.name];
    if (raw === null || raw === undefined) continue;
    const value = fieldValue(field, raw);
    if (field.oneof) init[field.oneof.localName] = { case: field.localName, value };
    else init[field.localName] = value;
  }
  return create(schema, init as never) as MessageShape<Desc>;
}

export function listFromRest<Desc extends DescMessage>(schema: Desc, json: unknown): MessageShape<Desc>[] {
  return Array.isArray(json) ? json.map((v) => fromRest(schema, v)) : [];
}

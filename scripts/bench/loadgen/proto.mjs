// The pm.v1 wire types, loaded from the repository's proto/ at run time so the load
// generator never lags behind a changed .proto (no generated JS to rebuild).
import { fileURLToPath } from "node:url";
import path from "node:path";
import protobuf from "protobufjs";

const PROTO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../proto");

function loadRoot() {
  const root = new protobuf.Root();
  // Imports are written "pm/v1/x.proto", relative to proto/, not to the importing file.
  root.resolvePath = (_origin, target) =>
    path.isAbsolute(target) ? target : path.join(PROTO_ROOT, target);
  root.loadSync("pm/v1/envelope.proto", { keepCase: true });
  root.resolveAll();
  return root;
}

const root = loadRoot();
export const ClientMessage = root.lookupType("pm.v1.ClientMessage");
export const ServerMessage = root.lookupType("pm.v1.ServerMessage");
export const WorkItemType = root.lookupEnum("pm.v1.WorkItemType").values;
export const ErrorCode = root.lookupEnum("pm.v1.ErrorCode").values;

const ERROR_NAMES = Object.fromEntries(Object.entries(ErrorCode).map(([k, v]) => [v, k]));

export function encodeClient(fields) {
  return ClientMessage.encode(ClientMessage.create(fields)).finish();
}

export function encodeServer(fields) {
  return ServerMessage.encode(ServerMessage.create(fields)).finish();
}

export function decodeServer(bytes) {
  return ServerMessage.decode(bytes);
}

export function errorName(code) {
  return ERROR_NAMES[code] ?? String(code);
}

// uint64 fields decode as Long objects (or numbers when small enough).
export function toNumber(value) {
  if (value === null || value === undefined) return 0;
  return typeof value === "number" ? value : Number(value.toString());
}

export function createWorkItem(requestId, projectId, title) {
  return encodeClient({
    request_id: requestId,
    create_work_item: { project_id: projectId, type: WorkItemType.WORK_ITEM_TYPE_TASK, title },
  });
}

// Words for the pm.v1 enums, and the lower-case names the DOM carries (data-type="bug").

import { ErrorCode } from "../gen/pm/v1/envelope_pb";
import { Priority, SprintState, WorkItemType } from "../gen/pm/v1/entities_pb";

export const TYPES: [WorkItemType, string][] = [
  [WorkItemType.STORY, "story"],
  [WorkItemType.TASK, "task"],
  [WorkItemType.BUG, "bug"],
  [WorkItemType.EPIC, "epic"],
];

export const PRIORITIES: [Priority, string][] = [
  [Priority.LOW, "low"],
  [Priority.MEDIUM, "medium"],
  [Priority.HIGH, "high"],
  [Priority.CRITICAL, "critical"],
];

export function typeName(type: WorkItemType): string {
  return TYPES.find(([t]) => t === type)?.[1] ?? "";
}

export function priorityName(priority: Priority): string {
  return PRIORITIES.find(([p]) => p === priority)?.[1] ?? "medium";
}

export function typeFromName(name: string): WorkItemType {
  return TYPES.find(([, n]) => n === name)?.[0] ?? WorkItemType.TASK;
}

export function priorityFromName(name: string): Priority {
  return PRIORITIES.find(([, n]) => n === name)?.[0] ?? Priority.MEDIUM;
}

export function sprintStateName(state: SprintState): string {
  switch (state) {
    case SprintState.PLANNED:
      return "planned";
    case SprintState.ACTIVE:
      return "active";
    case SprintState.COMPLETED:
      return "completed";
    case SprintState.CANCELLED:
      return "cancelled";
    default:
      return "";
  }
}

export function errorCodeName(code: ErrorCode): string {
  return (ErrorCode[code] ?? "UNKNOWN").toString();
}

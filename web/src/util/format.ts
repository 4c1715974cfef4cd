// Human-readable times and durations.

export function duration(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const seconds = s % 60;
  if (hours > 0) return `${hours}h ${minutes}m`;
  if (minutes > 0) return `${minutes}m ${seconds}s`;
  return `${seconds}s`;
}

export function dateTime(ms: number | bigint): string {
  const value = Number(ms);
  if (!value) return "";
  return new Date(value).toLocaleString();
}

export function day(ms: number | bigint): string {
  const value = Number(ms);
  if (!value) return "";
  return new Date(value).toISOString().slice(0, 10);
}

/** "2025-01-06" (a date input's value) -> ms at 00:00 UTC; NaN when empty or invalid. */
export function dayToMs(value: string): number {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return Number.NaN;
  return Date.parse(value + "T00:00:00Z");
}

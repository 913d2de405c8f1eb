/**
 * Printing: JSON for scripts, aligned tables with colour only on a terminal, NO_COLOR respected.
 * @module
 */
import process from "node:process";

/** Whether standard output is a terminal. */
export function stdoutIsTty(): boolean {
  return process.stdout.isTTY === true;
}

/** Whether colour may be used on standard output. */
export function useColor(): boolean {
  const env = process.env;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0") return true;
  return stdoutIsTty() && env.TERM !== "dumb";
}

/** Bold text when colour is allowed. */
export function bold(s: string): string {
  return useColor() ? `\x1b[1m${s}\x1b[22m` : s;
}

/** Dim text when colour is allowed. */
export function dim(s: string): string {
  return useColor() ? `\x1b[2m${s}\x1b[22m` : s;
}

/** Print one line to standard output. */
export function println(line = ""): void {
  process.stdout.write(`${line}\n`);
}

/** Print a value as indented JSON. */
export function printJson(value: unknown): void {
  println(JSON.stringify(value, null, 2));
}

/** A column of {@link printTable}. */
export interface Column<T> {
  header: string;
  value(row: T): string;
  align?: "left" | "right";
}

/**
 * Print rows: on a terminal an aligned table with a bold header; otherwise one line per row with
 * tab-separated fields and no header, for scripts. Empty last fields leave no trailing tabs
 * (`cut -f` and `awk -F'\t'` read a missing field as empty all the same).
 */
export function printTable<T>(rows: readonly T[], columns: readonly Column<T>[]): void {
  const cells = rows.map((r) => columns.map((c) => c.value(r)));
  if (!stdoutIsTty()) {
    for (const line of cells) println(line.join("\t").replace(/\t+$/, ""));
    return;
  }
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...cells.map((l) => (l[i] ?? "").length))
  );
  const fmt = (vals: string[]) =>
    vals.map((v, i) =>
      columns[i]?.align === "right" ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0)
    )
      .join("  ").trimEnd();
  println(bold(fmt(columns.map((c) => c.header))));
  for (const line of cells) println(fmt(line));
}

/**
 * What the upstream-compatible tools (`realmctl`, `realmchk`, `lsrealm`) share: where they write,
 * their options, and the realms file's problems as they print them.
 * @internal
 * @module
 */
import { RealmsFileError } from "../realmsfile.ts";

/** Where a tool writes. */
export interface ToolIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** Options of the tool runners. */
export interface ToolOptions {
  io: ToolIo;
  version: string;
  /** Base for relative paths in realms (default the current directory). */
  baseDir?: string;
}

/** A realms file's errors as the tools print them (`file:line: message`). */
export function realmsFileProblems(file: string, e: unknown): string[] {
  if (e instanceof RealmsFileError) {
    return e.issues.filter((i) => i.severity === "error").map((i) =>
      i.line > 0 ? `${file}:${i.line}: ${i.message}` : `${file}: ${i.message}`
    );
  }
  return [(e as Error).message];
}

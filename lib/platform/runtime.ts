/**
 * The only place that knows whether steward runs on Node, on Deno or as the single binary.
 * @internal
 * @module
 */
import path from "node:path";
import { fileURLToPath } from "node:url";

// Replaced by esbuild with `true` when the single binary is built.
declare const STEWARD_BUNDLED: boolean | undefined;

interface DenoLike {
  execPath(): string;
  version: { deno: string };
}

function deno(): DenoLike | undefined {
  return (globalThis as { Deno?: DenoLike }).Deno;
}

/** The runtime steward is running on. */
export type RuntimeName = "node" | "deno" | "binary";

/** Which runtime this process is. */
export function runtimeName(): RuntimeName {
  if (typeof STEWARD_BUNDLED !== "undefined" && STEWARD_BUNDLED) return "binary";
  return deno() ? "deno" : "node";
}

/** True under Deno (source), false under Node or in the binary. */
export function isDeno(): boolean {
  return runtimeName() === "deno";
}

/** The repository root when running from source; undefined inside the binary. */
export function sourceRoot(): string | undefined {
  if (runtimeName() === "binary") return undefined;
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
}

/** Deno permission scope for a re-spawned steward process. */
export interface DenoPermissions {
  read?: readonly string[];
  write?: readonly string[];
  /** Exact Unix socket paths the process may listen on or connect to. */
  unixSockets?: readonly string[];
  /** Hosts (`host` or `host:port`) the process may listen on or connect to over TCP. */
  net?: readonly string[];
  env?: boolean | readonly string[];
  run?: boolean | readonly string[];
  /** true for all, or the named kinds only (e.g. ["uid"] for the run-directory owner check). */
  sys?: boolean | readonly string[];
}

/** How to start steward itself with the given command-line arguments. */
export interface SelfCommand {
  command: string;
  args: string[];
}

function list(flag: string, values: readonly string[] | undefined): string[] {
  if (!values || values.length === 0) return [];
  return [`${flag}=${values.join(",")}`];
}

function boolOrList(flag: string, value: boolean | readonly string[] | undefined): string[] {
  if (value === true) return [flag];
  if (Array.isArray(value)) return list(flag, value);
  return [];
}

/** Deno's command-line flags for a permission scope (exported for tests and scripts). */
export function denoPermissionFlags(p: DenoPermissions): string[] {
  const sockets = p.unixSockets ?? [];
  const read = [...(p.read ?? []), ...sockets];
  const write = [...(p.write ?? []), ...sockets];
  return [
    ...list("--allow-read", read),
    ...list("--allow-write", write),
    ...list("--allow-net", [...sockets.map((s) => `unix:${s}`), ...(p.net ?? [])]),
    ...boolOrList("--allow-env", p.env),
    ...boolOrList("--allow-run", p.run),
    ...boolOrList("--allow-sys", p.sys),
  ];
}

/**
 * The command that runs steward again (the binary, `node cli/main.ts`, or
 * `deno run <scoped permissions> cli/main.ts`) with `args`.
 */
export function selfCommand(
  args: readonly string[],
  permissions: DenoPermissions = {},
): SelfCommand {
  const name = runtimeName();
  if (name === "binary") return { command: process.execPath, args: [...args] };
  const root = sourceRoot() as string;
  // From the sources cli/main.ts; in the npm package, built as this file is, cli/main.js.
  const built = import.meta.url.endsWith(".js");
  const main = path.join(root, "cli", built ? "main.js" : "main.ts");
  if (name === "deno") {
    const d = deno() as DenoLike;
    return {
      command: d.execPath(),
      args: [
        "run",
        "--quiet",
        "--no-prompt",
        // The npm package has no deno.json.
        ...(built ? [] : [`--config=${path.join(root, "deno.json")}`]),
        ...denoPermissionFlags(permissions),
        main,
        ...args,
      ],
    };
  }
  return { command: process.execPath, args: [main, ...args] };
}

/** steward's version, read from package.json at build time or from source. */
export { VERSION } from "./version.ts";

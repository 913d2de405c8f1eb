/**
 * What `steward --version` prints: the version, the Node version inside, and the build's commit.
 * @module
 */
import { VERSION } from "../lib/platform/version.ts";
import { runtimeName } from "../lib/platform/runtime.ts";

declare const STEWARD_COMMIT: string | undefined;

/** The commit the binary was built from ("unknown" when not built by scripts/build.ts). */
export function buildCommit(): string {
  return typeof STEWARD_COMMIT !== "undefined" && STEWARD_COMMIT ? STEWARD_COMMIT : "unknown";
}

/** The `--version` text: version, runtime, commit, one per line. */
export function versionText(): string {
  const runtime = runtimeName();
  const deno = (globalThis as { Deno?: { version?: { deno?: string } } }).Deno?.version?.deno;
  const engine = runtime === "deno" && deno !== undefined
    ? `Deno ${deno}`
    : `Node ${process.version}${runtime === "binary" ? " (inside the binary)" : ""}`;
  return [`steward ${VERSION}`, engine, `commit ${buildCommit()}`].join("\n");
}

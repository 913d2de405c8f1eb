/**
 * `steward install-links DIR`: the links through which steward runs as pntadm, dhtadm,
 * realmctl, lsrealm, realmchk and dtrealms.
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "@commander-js/extra-typings";
import { runtimeName } from "../lib/platform/runtime.ts";
import { CliError, EXIT } from "./errors.ts";
import { MULTICALL } from "./multicall.ts";
import { println } from "./output.ts";

/** The executable links should point at: the binary, or the script that runs steward. */
export function stewardExecutable(): string {
  if (runtimeName() === "binary") return process.execPath;
  return path.resolve(process.argv[1] ?? "");
}

/** What {@link installLinks} did. */
export interface LinksResult {
  made: string[];
  kept: string[];
}

function realpathOrNull(p: string): string | null {
  try {
    return fs.realpathSync(p);
  } catch {
    return null;
  }
}

/**
 * Make `<dir>/<tool>` a symbolic link to `target` for every tool name. Links already pointing
 * at steward (the same text, or the same file) are kept; anything else at one of the paths
 * makes the whole call fail before any link is made.
 */
export function installLinks(
  dir: string,
  target: string,
  names: readonly string[] = Object.keys(MULTICALL),
): LinksResult {
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  if (!st?.isDirectory()) throw new CliError(`Not a directory: ${dir}`, EXIT.FAILURE);
  // The target may not exist yet (a staging DESTDIR): then only the link text identifies it.
  const real = realpathOrNull(target);
  const toSteward = (p: string) =>
    fs.readlinkSync(p) === target || (real !== null && realpathOrNull(p) === real);
  const made: string[] = [];
  const kept: string[] = [];
  const refused: string[] = [];
  for (const name of names) {
    const p = path.join(dir, name);
    const l = fs.lstatSync(p, { throwIfNoEntry: false });
    if (!l) made.push(p);
    else if (l.isSymbolicLink() && toSteward(p)) kept.push(p);
    else refused.push(p);
  }
  if (refused.length > 0) {
    throw new CliError(
      `Refusing to replace what is not a link to steward (nothing was changed): ${
        refused.join(", ")
      }`,
      EXIT.FAILURE,
    );
  }
  for (const p of made) fs.symlinkSync(target, p);
  return { made, kept };
}

/** Add `install-links` to the tree. */
export function registerInstallLinks(program: Command): void {
  program.command("install-links")
    .description(
      `Make links named ${
        Object.keys(MULTICALL).join(", ")
      } in DIR to this steward, so that it runs as those tools; refuses to replace anything that is not already such a link`,
    )
    .argument("<dir>", "directory for the links, e.g. /usr/local/bin")
    .option("--target <path>", "what the links point at (default: this steward executable)")
    .action((dir, o) => {
      const target = path.resolve(o.target ?? stewardExecutable());
      const r = installLinks(dir, target);
      for (const p of r.made) println(`${p} -> ${target}`);
      for (const p of r.kept) println(`${p} -> ${target} (already there)`);
    });
}

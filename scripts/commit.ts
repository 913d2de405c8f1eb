/**
 * The commit a build is made from, for `steward --version`.
 * @module
 */
import { execFileSync } from "node:child_process";

/** HEAD's short hash, with "-dirty" when tracked files have changes; "unknown" outside git. */
export function buildCommit(root: string): string {
  try {
    const git = (args: string[]) =>
      execFileSync("git", args, {
        cwd: root,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      })
        .trim();
    const head = git(["rev-parse", "--short=12", "HEAD"]);
    return git(["status", "--porcelain", "--untracked-files=no"]) === "" ? head : `${head}-dirty`;
  } catch {
    return "unknown";
  }
}

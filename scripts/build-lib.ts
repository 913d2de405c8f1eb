/**
 * Builds the npm package's JavaScript and declarations into dist/npm/: `tsc` emits one .js and
 * one .d.ts per source file (imports rewritten from .ts to .js), so the published package is
 * the same module graph as the sources, which stay the source of truth. The command line
 * (cli/main.js) is built too: the lock client starts the lock manager through it.
 * Usage: node scripts/build-lib.ts
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildCommit } from "./commit.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.join(root, "dist", "npm");
/** Data files the library reads at run time, copied beside the built modules. */
const DATA = [
  "lib/dhcp/testing/tspec-dhcptab-records.txt",
  "lib/dhcp/testing/tspec-network-records.txt",
];

process.stderr.write("build-lib: compiling with tsc into dist/npm\n");
fs.rmSync(out, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"],
  { cwd: root, stdio: "inherit" },
);
for (const file of DATA) {
  fs.mkdirSync(path.dirname(path.join(out, file)), { recursive: true });
  fs.copyFileSync(path.join(root, file), path.join(out, file));
}
// tsc keeps `.ts` in the declarations' import paths; the package holds `.d.ts` beside `.js`, so
// point them at the `.js` names as the JavaScript does.
for (const file of fs.readdirSync(out, { recursive: true, encoding: "utf8" })) {
  if (!file.endsWith(".d.ts")) continue;
  const p = path.join(out, file);
  const text = fs.readFileSync(p, "utf8");
  fs.writeFileSync(p, text.replace(/((?:from|import)\s*\(?\s*")(\.\.?\/[^"]+)\.ts"/g, '$1$2.js"'));
}
// The commit for `steward --version`, as esbuild's define gives it to the binary.
const versionJs = path.join(out, "cli", "version.js");
const before = fs.readFileSync(versionJs, "utf8");
const after = before.replace(/\bSTEWARD_COMMIT\b/g, JSON.stringify(buildCommit(root)));
if (after === before) throw new Error(`build-lib: no STEWARD_COMMIT in ${versionJs}`);
fs.writeFileSync(versionJs, after);
fs.chmodSync(path.join(out, "cli", "main.js"), 0o755);
process.stderr.write("build-lib: done\n");

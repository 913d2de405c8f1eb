/**
 * Builds dist/steward: an esbuild bundle of cli/main.ts made into a Node single-executable
 * application (a stripped copy of the pinned Node 24 binary with the bundle injected), and
 * from the command tree the man pages (dist/man/) and shell completions (dist/completion/).
 * Usage: node scripts/build.ts [--bundle-only]
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { completionScript, SHELLS } from "../cli/completion.ts";
import { manPages } from "../cli/man.ts";
import { buildProgram } from "../cli/program.ts";
import { buildCommit } from "./commit.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(root, "dist");
const bundle = path.join(dist, "steward.cjs");
const blob = path.join(dist, "steward.blob");
const exe = path.join(dist, "steward");
const bin = (name: string) => path.join(root, "node_modules", ".bin", name);

function step(msg: string): void {
  process.stderr.write(`build: ${msg}\n`);
}

fs.mkdirSync(dist, { recursive: true });
step("writing man pages and shell completions");
const program = buildProgram();
fs.rmSync(path.join(dist, "man"), { recursive: true, force: true });
fs.mkdirSync(path.join(dist, "man"), { recursive: true });
for (const page of manPages(program)) {
  fs.writeFileSync(path.join(dist, "man", page.file), page.text);
}
fs.mkdirSync(path.join(dist, "completion"), { recursive: true });
const completionFile = { bash: "steward.bash", zsh: "_steward", fish: "steward.fish" } as const;
for (const shell of SHELLS) {
  fs.writeFileSync(
    path.join(dist, "completion", completionFile[shell]),
    completionScript(program, shell),
  );
}

step("bundling cli/main.ts");
await esbuild.build({
  entryPoints: [path.join(root, "cli", "main.ts")],
  outfile: bundle,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node24",
  minifySyntax: true,
  legalComments: "inline",
  define: {
    STEWARD_BUNDLED: "true",
    STEWARD_COMMIT: JSON.stringify(buildCommit(root)),
    "import.meta.url": "undefined",
  },
  logLevel: "warning",
});
if (process.argv.includes("--bundle-only")) process.exit(0);

step("writing the single-executable blob");
const seaConfig = path.join(dist, "sea-config.json");
fs.writeFileSync(
  seaConfig,
  JSON.stringify({
    main: bundle,
    output: blob,
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    useCodeCache: true,
  }),
);
const node = fs.realpathSync(bin("node"));
execFileSync(node, ["--experimental-sea-config", seaConfig], {
  stdio: ["ignore", "ignore", "pipe"],
});

step("copying and stripping node");
fs.rmSync(exe, { force: true });
fs.copyFileSync(node, exe);
fs.chmodSync(exe, 0o755);
try {
  execFileSync("strip", ["--strip-all", exe], { stdio: ["ignore", "ignore", "pipe"] });
} catch {
  step("strip is not available; the binary stays unstripped");
}

step("injecting the blob");
execFileSync(
  bin("postject"),
  [exe, "NODE_SEA_BLOB", blob, "--sentinel-fuse", "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2"],
  { stdio: ["ignore", "ignore", "pipe"] },
);
fs.rmSync(blob, { force: true });
fs.rmSync(seaConfig, { force: true });
const size = (fs.statSync(exe).size / 1024 / 1024).toFixed(1);
step(`done: ${path.relative(process.cwd(), exe)} (${size} MiB)`);

/**
 * Import cost of each library entry point: the time a fresh process spends in `await import()`
 * of it, median of several runs, on Node (the npm package's built JavaScript in dist/npm/, and
 * the .ts sources through type stripping) and on Deno (the sources). Anchor measured in the
 * same run: importing `commander`, a small and widely used npm package, in the same way; the
 * table prints each entry's ratio to it. Also prints how many modules each entry loads.
 * Usage: node scripts/bench/import.ts [--runs N]   (needs 'npm run build' for dist/npm)
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? Math.max(1, Number(process.argv[runsArg + 1])) : 7;
const deno = path.join(root, "node_modules", ".bin", "deno");
const ENTRIES = ["lockd", "dhcp", "realms", "dhcp-testing", "mod"];

/** A program that prints the milliseconds `import(spec)` takes in a fresh process. */
function probe(spec: string): string {
  return `const t = performance.now(); await import(${JSON.stringify(spec)}); ` +
    `console.log(performance.now() - t); process.exit(0);`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function time(cmd: string, args: string[]): number {
  const runs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const out = execFileSync(cmd, args, { cwd: root, encoding: "utf8", timeout: 60_000 });
    runs.push(Number(out.trim().split("\n").pop()));
  }
  return median(runs);
}

function nodeImport(spec: string): number {
  const file = path.join(root, ".tmp", "bench-import.mjs");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, probe(spec));
  return time(process.execPath, [file]);
}

function denoImport(spec: string): number {
  return time(deno, [
    "eval",
    "--quiet",
    "--no-check",
    `--config=${path.join(root, "deno.json")}`,
    probe(spec),
  ]);
}

/** Source files an entry loads (relative imports, followed). */
function moduleCount(entry: string): number {
  const seen = new Set<string>();
  const todo = [path.join(root, entry)];
  while (todo.length > 0 && seen.size < 5000) {
    const f = todo.pop() as string;
    // A path named in a doc comment (`import … from "./mod.ts"`) need not exist.
    if (seen.has(f) || !fs.existsSync(f)) continue;
    seen.add(f);
    const text = fs.readFileSync(f, "utf8");
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*"(\.\.?\/[^"]+\.ts)"/g)) {
      todo.push(path.resolve(path.dirname(f), m[1] as string));
    }
  }
  return seen.size;
}

if (!fs.existsSync(path.join(root, "dist", "npm", "mod.js"))) {
  console.error("bench import: dist/npm is missing: run 'npm run build' first");
  process.exit(1);
}
const commander = pathToFileURL(path.join(root, "node_modules", "commander", "index.js")).href;
const anchorNode = nodeImport(commander);
const anchorDeno = denoImport(commander);
const fmt = (ms: number, anchor: number) => `${ms.toFixed(1)} ms (${(ms / anchor).toFixed(1)}x)`;
console.log(`import time, median of ${RUNS} fresh processes; anchor: import of commander`);
console.log(`anchor: Node ${anchorNode.toFixed(1)} ms, Deno ${anchorDeno.toFixed(1)} ms\n`);
console.log(
  "| entry | modules | Node, dist/npm (.js) | Node, sources (.ts) | Deno, sources (.ts) |",
);
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const e of ENTRIES) {
  const js = pathToFileURL(path.join(root, "dist", "npm", `${e}.js`)).href;
  const ts = pathToFileURL(path.join(root, `${e}.ts`)).href;
  console.log(
    `| ${e === "mod" ? "steward (mod)" : `steward/${e.replace("-", "/")}`} | ${
      moduleCount(`${e}.ts`)
    } | ${fmt(nodeImport(js), anchorNode)} | ${fmt(nodeImport(ts), anchorNode)} | ${
      fmt(denoImport(ts), anchorDeno)
    } |`,
  );
}

/**
 * The README's commands as a new user runs them: the tour block line by line (its `npm run
 * build` aside: the suite runs on that build, and rebuilding under running tests would pull the
 * binary from under them), `npm install` leaving the clone clean, `npm start` started and
 * stopped with Ctrl-C, a fresh clone installing with `npm ci`, and no example in README.md or
 * docs/ running the TypeScript sources with a bare `node`, which a system Node 20 cannot run.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { LockClient } from "../lib/lockd/client.ts";
import { isDeno } from "../lib/platform/runtime.ts";
import { collect, exited, requireBinary, ROOT, tempDir, waitFor } from "./helpers.ts";

const exec = promisify(execFile);
const SKIP = isDeno() ? "the Node suite runs the README's commands" : false;
const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");

function gitStatus(cwd: string): Promise<string> {
  return exec("git", ["status", "--porcelain"], { cwd }).then((r) => r.stdout);
}

/** The shell blocks of a Markdown text. */
function shellBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```(?:sh|bash|shell)\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

describe("the README", { skip: SKIP }, () => {
  test("names the two commands to start with", () => {
    const first = shellBlocks(README)[0] ?? "";
    assert.match(first, /^npm install && npm start\b/m);
    assert.match(first, /^npm install && npm test\b/m);
  });

  test("its tour runs as written, leaving the clone clean", { timeout: 120_000 }, async () => {
    requireBinary();
    const tour = shellBlocks(README.slice(README.indexOf("## A short tour")))[0];
    assert.ok(tour, "no tour");
    using tmp = tempDir("tour");
    const runDir = path.join(tmp.path, "run");
    fs.mkdirSync(runDir, { mode: 0o700 });
    const before = await gitStatus(ROOT);
    const script = tour.split("\n").filter((l) => !/^npm /.test(l)).join("\n");
    try {
      const r = await exec("bash", ["-e", "-c", script], {
        cwd: ROOT,
        env: { ...process.env, TMPDIR: tmp.path, STEWARD_RUN_DIR: runDir, NO_COLOR: "1" },
        timeout: 90_000,
      }).catch((e: { stdout?: string; stderr?: string }) =>
        assert.fail(`the tour failed: ${e.stderr ?? ""}\n${e.stdout ?? ""}`)
      );
      assert.match(r.stdout, /192\.168\.10\.13/);
      assert.equal(await gitStatus(ROOT), before);
    } finally {
      // A tour stopped half-way leaves its realms daemon running: shut it down.
      for (const demo of fs.readdirSync(tmp.path)) {
        const rs = path.join(tmp.path, demo, "rs");
        if (fs.existsSync(rs)) {
          await exec(requireBinary(), ["realms", "shutdown", "--statedir", rs]).catch(() => {});
        }
      }
      const locks = new LockClient({ runDir, autoStart: false });
      await locks.stopDaemon().catch(() => {});
      locks.close();
    }
  });

  test("npm install leaves the clone clean, and npm start runs until Ctrl-C", {
    timeout: 120_000,
  }, async () => {
    const before = await gitStatus(ROOT);
    await exec("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline"], {
      cwd: ROOT,
      timeout: 90_000,
    });
    assert.equal(await gitStatus(ROOT), before, "npm install changed tracked files");

    const child = spawn("npm", ["start"], {
      cwd: ROOT,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    const out = collect(child);
    try {
      await waitFor(
        () => {
          if (child.exitCode !== null) throw new Error(`npm start exited: ${out.stderr()}`);
          return /beta: \S+ -> running/.test(out.stderr() + out.stdout());
        },
        30_000,
        "npm start to run the example realms",
      );
    } finally {
      // Ctrl-C: SIGINT to the whole foreground process group (npm, its shell, the daemon).
      process.kill(-(child.pid as number), "SIGINT");
      await exited(child, 20_000);
    }
    assert.match(out.stderr() + out.stdout(), /dtrealms: halted/);
    assert.equal(await gitStatus(ROOT), before, "npm start changed tracked files");
  });

  test("a fresh clone installs with npm ci and npm install keeps its lock file", {
    timeout: 180_000,
  }, async () => {
    using tmp = tempDir("clone");
    const clone = path.join(tmp.path, "steward");
    await exec("git", ["clone", "--quiet", ROOT, clone], { timeout: 60_000 });
    const npm = (args: string[]) =>
      exec("npm", [...args, "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund"], {
        cwd: clone,
        timeout: 150_000,
      });
    await npm(["ci"]).catch((e: { stderr?: string }) => assert.fail(`npm ci: ${e.stderr ?? e}`));
    assert.ok(fs.existsSync(path.join(clone, "node_modules", "commander")));
    await npm(["install"]);
    assert.equal(await gitStatus(clone), "", "npm install changed the clone");
  });
});

test("no example in README.md or docs/ runs the sources with a bare node", () => {
  const docs = fs.readdirSync(path.join(ROOT, "docs")).filter((f) => f.endsWith(".md"))
    .map((f) => path.join("docs", f));
  const offending: string[] = [];
  for (const file of ["README.md", ...docs]) {
    const text = fs.readFileSync(path.join(ROOT, file), "utf8");
    for (const block of shellBlocks(text)) {
      for (const line of block.split("\n")) {
        if (/(^|[;&|(]\s*)node\s+\S+\.ts\b/.test(line)) offending.push(`${file}: ${line.trim()}`);
      }
    }
  }
  assert.deepEqual(offending, []);
});

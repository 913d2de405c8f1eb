/**
 * The walk-through of docs/dhcp.md ("From an empty machine to a working store") as a reader runs
 * it: its shell blocks and the `$ ` lines of its console blocks, as written, in order, with the
 * built binary as `steward` on PATH and HOME a fresh directory: the variant for any user (the
 * block pointing steward at `$HOME`), run as the current user and, when root, as a second
 * local user made with useradd. Any command of the document that fails fails the test.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { isDeno } from "../../lib/platform/runtime.ts";
import { BINARY, ROOT, tempDir } from "../helpers.ts";
import { stopLockd } from "./cli/helpers.ts";

const DOC = fs.readFileSync(path.join(ROOT, "docs", "dhcp.md"), "utf8");

function find(candidates: string[]): string | undefined {
  // Deno's test permissions do not reach /usr/sbin; the walk-through runs under Node only.
  return isDeno() ? undefined : candidates.find((c) => fs.existsSync(c));
}
const RUNUSER = find(["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]);
const USERADD = find(["/usr/sbin/useradd", "/sbin/useradd"]);
const USERDEL = find(["/usr/sbin/userdel", "/sbin/userdel"]);

const SKIP = isDeno()
  ? "the Node suite runs the walk-through (it runs the built binary and bash, not the runtime)"
  : !fs.existsSync(BINARY)
  ? `${BINARY} is missing: run 'npm run build' first`
  : false;
const SKIP_USER = process.getuid?.() !== 0
  ? "needs root to create a second local user with useradd"
  : !RUNUSER || !USERADD || !USERDEL
  ? "needs useradd, userdel and runuser"
  : false;

/** The walk-through's commands: shell blocks as they are, console blocks' `$ ` lines. */
function walkthrough(): { forAnyUser: string; steps: string } {
  const start = DOC.indexOf("\n## From an empty machine to a working store\n");
  assert.ok(start >= 0, "docs/dhcp.md has no walk-through");
  const section = DOC.slice(start, DOC.indexOf("\n## ", start + 1));
  const blocks = [...section.matchAll(/```(sh|console)\n([\s\S]*?)```/g)].map((m) =>
    m[1] === "sh"
      ? m[2] as string
      : (m[2] as string).split("\n").filter((l) => l.startsWith("$ ")).map((l) => l.slice(2))
        .join("\n") + "\n"
  );
  const first = blocks.shift() ?? "";
  assert.match(first, /\$HOME/, "the walk-through starts with the block for any user");
  assert.ok(blocks.length >= 6, `the walk-through has its steps: ${blocks.length} blocks`);
  return { forAnyUser: first, steps: blocks.join("") };
}

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

function bash(argv: string[], env: Record<string, string>, cwd: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = execFile(argv[0] as string, argv.slice(1), {
      env,
      cwd,
      timeout: 120_000,
      maxBuffer: 16 * 1024 * 1024,
    }, (error, stdout, stderr) => {
      const code = child.exitCode ?? (error ? -1 : 0);
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/**
 * Run the walk-through for any user with HOME = `home`, `steward` on PATH, nothing of the test's
 * environment; as `user` through runuser when given. Then stop the lock manager it started.
 */
async function runAs(home: string, bin: string, user?: string): Promise<Outcome> {
  const { forAnyUser, steps } = walkthrough();
  const script = `set -e -o pipefail\n${forAnyUser}${steps}steward lockd stop\n`;
  const env = {
    HOME: home,
    PATH: `${bin}:/usr/local/bin:/usr/bin:/bin`,
    LANG: "C.UTF-8",
    TZ: "UTC",
    NO_COLOR: "1",
    ...(user !== undefined ? { USER: user, LOGNAME: user } : {}),
  };
  const argv = user === undefined ? ["bash", "-c", script] : [
    RUNUSER as string,
    "-u",
    user,
    "--",
    "env",
    "-i",
    ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    "bash",
    "-c",
    script,
  ];
  try {
    return await bash(argv, user === undefined ? env : { PATH: process.env.PATH ?? "" }, home);
  } finally {
    // A walk-through stopped half-way leaves its lock manager running: stop it as its user.
    if (user === undefined) await stopLockd(path.join(home, "dhcp", "run"));
    else {
      await bash(
        [
          RUNUSER as string,
          "-u",
          user,
          "--",
          path.join(bin, "steward"),
          "lockd",
          "stop",
          "--run-dir",
          path.join(home, "dhcp", "run"),
        ],
        { PATH: process.env.PATH ?? "" },
        home,
      );
    }
  }
}

function assertWorked(r: Outcome, home: string, who: string): void {
  assert.equal(r.code, 0, `the walk-through failed ${who}:\n${r.stderr}\n${r.stdout}`);
  // Step 6's pntadm -P: the printer, the first and the last address of the pool, once each.
  for (const ip of ["192.168.10.5", "192.168.10.10", "192.168.10.250"]) {
    const rows = r.stdout.split("\n").filter((l) => l.split("\t")[2] === ip);
    assert.equal(rows.length, 1, `${ip} is in the table once ${who}:\n${r.stdout}`);
  }
  assert.match(r.stdout, /office printer/);
  assert.match(r.stdout, /^TftpSrvr\s/m, "the symbol of step 4");
  const table = fs.readFileSync(path.join(home, "dhcp", "data", "SUNWfiles1_192_168_10_0"), "utf8");
  assert.equal(
    table.split("\n").filter((l) => /^192\.168\.10\.\d+\|/.test(l)).length,
    1 + 10 + 231,
  );
}

describe("the docs/dhcp.md walk-through runs as written", { skip: SKIP }, () => {
  test("as the current user, under $HOME", { timeout: 150_000 }, async () => {
    using tmp = tempDir("walkthrough");
    const bin = path.join(tmp.path, "bin");
    fs.mkdirSync(bin);
    fs.symlinkSync(BINARY, path.join(bin, "steward"));
    const home = path.join(tmp.path, "home");
    fs.mkdirSync(home);
    assertWorked(await runAs(home, bin), home, "as the current user");
  });

  test("as an unprivileged user, under $HOME", { timeout: 150_000, skip: SKIP_USER }, async () => {
    using tmp = tempDir("walkthrough-user");
    fs.chmodSync(tmp.path, 0o755);
    const bin = path.join(tmp.path, "bin");
    fs.mkdirSync(bin, { mode: 0o755 });
    fs.symlinkSync(BINARY, path.join(bin, "steward"));
    const user = `stw${randomBytes(4).toString("hex")}`;
    const home = path.join(tmp.path, "home");
    execFileSync(USERADD as string, ["-M", "-N", "-s", "/usr/sbin/nologin", "-d", home, user]);
    try {
      fs.mkdirSync(home, { mode: 0o700 });
      const uid = Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim());
      const gid = Number(execFileSync("id", ["-g", user], { encoding: "utf8" }).trim());
      fs.chownSync(home, uid, gid);
      assertWorked(await runAs(home, bin, user), home, `as ${user}`);
      assert.equal(fs.statSync(path.join(home, "dhcp", "data")).uid, uid, "the user's own store");
    } finally {
      try {
        execFileSync(USERDEL as string, ["-f", user], { stdio: "ignore" });
      } catch { /* already gone */ }
    }
  });
});

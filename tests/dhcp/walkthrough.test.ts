/**
 * The walk-through of docs/dhcp.md ("From an empty machine to a working store") as a reader runs
 * it: its shell blocks and the `$ ` lines of its console blocks, as written, in order, with the
 * built binary as `steward` on PATH and HOME a fresh directory: the variant for any user (the
 * second block, pointing steward at `$HOME`), run as the current user and, when root, as a second
 * local user made with useradd; and, when root, the root variant (its own block) in the
 * upstream locations /etc/inet and /var/dhcp, inside a private mount namespace whose /etc and
 * /var are overlays written under .tmp/ and whose /run is empty, so the host is not touched.
 * Any command of the document that fails fails the test.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { isDeno } from "../../lib/platform/runtime.ts";
import { BINARY, ROOT, RUNUSER, secondUserSkip, tempDir, USERADD, USERDEL } from "../helpers.ts";
import { stopLockd } from "./cli/helpers.ts";

const DOC = fs.readFileSync(path.join(ROOT, "docs", "dhcp.md"), "utf8");

function find(candidates: string[]): string | undefined {
  // Deno's test permissions do not reach /usr/sbin; the walk-through runs under Node only.
  return isDeno() ? undefined : candidates.find((c) => fs.existsSync(c));
}
const UNSHARE = find(["/usr/bin/unshare", "/bin/unshare", "/usr/sbin/unshare"]);

const SKIP = isDeno()
  ? "the Node suite runs the walk-through (it runs the built binary and bash, not the runtime)"
  : !fs.existsSync(BINARY)
  ? `${BINARY} is missing: run 'npm run build' first`
  : false;
const SKIP_ROOT = process.getuid?.() !== 0
  ? "needs root to mount the upstream locations in a private mount namespace"
  : !UNSHARE
  ? "needs unshare(1)"
  : false;
const SKIP_USER = secondUserSkip();

/** The walk-through's commands: shell blocks as they are, console blocks' `$ ` lines. */
function walkthrough(): { asRoot: string; forAnyUser: string; steps: string } {
  const start = DOC.indexOf("\n## From an empty machine to a working store\n");
  assert.ok(start >= 0, "docs/dhcp.md has no walk-through");
  const section = DOC.slice(start, DOC.indexOf("\n## ", start + 1));
  const blocks = [...section.matchAll(/```(sh|console)\n([\s\S]*?)```/g)].map((m) =>
    m[1] === "sh"
      ? m[2] as string
      : (m[2] as string).split("\n").filter((l) => l.startsWith("$ ")).map((l) => l.slice(2))
        .join("\n") + "\n"
  );
  const asRoot = blocks.shift() ?? "";
  assert.match(asRoot, /\/etc\/inet/, "the walk-through starts with the block for root");
  const forAnyUser = blocks.shift() ?? "";
  assert.match(forAnyUser, /\$HOME/, "then the block for any other user");
  assert.ok(blocks.length >= 6, `the walk-through has its steps: ${blocks.length} blocks`);
  return { asRoot, forAnyUser, steps: blocks.join("") };
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
  const script = `set -e -o pipefail\ntrap 'steward lockd stop >/dev/null 2>&1 || true' EXIT\n` +
    `${forAnyUser}${steps}`;
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

/**
 * The root variant: the steps alone, in a mount namespace where /etc and /var are overlays whose
 * changes land in `dir` and /run is a fresh tmpfs (the lock manager's /run/steward).
 */
async function runAsRootInNamespace(dir: string, home: string, bin: string): Promise<Outcome> {
  const { asRoot, steps } = walkthrough();
  const mounts = ["etc", "var"].map((d) => {
    for (const sub of ["upper", "work"]) fs.mkdirSync(path.join(dir, `${d}-${sub}`));
    return `mount -t overlay overlay -o lowerdir=/${d},upperdir=${dir}/${d}-upper,` +
      `workdir=${dir}/${d}-work /${d}`;
  });
  const script = `set -e -o pipefail\n${mounts.join("\n")}\nmount -t tmpfs tmpfs /run\n` +
    `trap 'steward lockd stop >/dev/null 2>&1 || true' EXIT\n${asRoot}${steps}`;
  const env = {
    HOME: home,
    PATH: `${bin}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`,
    LANG: "C.UTF-8",
    TZ: "UTC",
    NO_COLOR: "1",
  };
  return await bash(
    [UNSHARE as string, "--mount", "--propagation", "private", "bash", "-c", script],
    env,
    home,
  );
}

/** The output lines the walk-through's console blocks show (those not starting with `$ `). */
function shownOutput(): string[] {
  const start = DOC.indexOf("\n## From an empty machine to a working store\n");
  const section = DOC.slice(start, DOC.indexOf("\n## ", start + 1));
  return [...section.matchAll(/```console\n([\s\S]*?)```/g)].flatMap((m) =>
    (m[1] as string).split("\n").filter((l) => l !== "" && !l.startsWith("$ "))
  );
}

function assertWorked(r: Outcome, home: string, who: string, data?: string): void {
  assert.equal(r.code, 0, `the walk-through failed ${who}:\n${r.stderr}\n${r.stdout}`);
  const printed = new Set(r.stdout.split("\n"));
  const shown = shownOutput();
  assert.ok(shown.length >= 3, "the document shows the module list");
  for (const line of shown) {
    assert.ok(printed.has(line), `the document shows a line not printed ${who}: ${line}`);
  }
  // Step 6's pntadm -P: the printer, the first and the last address of the pool, once each.
  for (const ip of ["192.168.10.5", "192.168.10.10", "192.168.10.250"]) {
    const rows = r.stdout.split("\n").filter((l) => l.split("\t")[2] === ip);
    assert.equal(rows.length, 1, `${ip} is in the table once ${who}:\n${r.stdout}`);
  }
  assert.match(r.stdout, /office printer/);
  assert.match(r.stdout, /^TftpSrvr\s/m, "the symbol of step 4");
  const table = fs.readFileSync(
    path.join(data ?? path.join(home, "dhcp", "data"), "SUNWfiles1_192_168_10_0"),
    "utf8",
  );
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

  test("as root, in /etc/inet and /var/dhcp (a private mount namespace)", {
    timeout: 150_000,
    skip: SKIP_ROOT,
  }, async (t) => {
    using tmp = tempDir("walkthrough-root");
    const bin = path.join(tmp.path, "bin");
    fs.mkdirSync(bin);
    fs.symlinkSync(BINARY, path.join(bin, "steward"));
    const home = path.join(tmp.path, "home");
    fs.mkdirSync(home);
    const probe = await bash(
      [
        UNSHARE as string,
        "--mount",
        "--propagation",
        "private",
        "mount",
        "-t",
        "tmpfs",
        "tmpfs",
        "/run",
      ],
      { PATH: process.env.PATH ?? "" },
      home,
    );
    if (probe.code !== 0) {
      t.skip(`cannot mount in a private mount namespace here: ${probe.stderr.trim()}`);
      return;
    }
    const r = await runAsRootInNamespace(tmp.path, home, bin);
    assertWorked(r, home, "as root", path.join(tmp.path, "var-upper", "dhcp"));
    const conf = fs.readFileSync(path.join(tmp.path, "etc-upper", "inet", "dhcpsvc.conf"), "utf8");
    assert.match(conf, /^PATH=\/var\/dhcp$/m, "the upstream location");
    assert.ok(!fs.existsSync(path.join(home, "dhcp")), "nothing under $HOME");
  });

  test("as an unprivileged user, under $HOME", { timeout: 150_000, skip: SKIP_USER }, async () => {
    // Outside the repository, whose .tmp (0700) and checkout (perhaps under /root) the second
    // user cannot traverse; the binary is copied there for the same reason. This test skips
    // under Deno, whose writes are limited to .tmp.
    const base = fs.mkdtempSync(path.join(os.tmpdir(), "steward-walkthrough-"));
    using tmp = {
      path: base,
      [Symbol.dispose]: () => fs.rmSync(base, { recursive: true, force: true }),
    };
    fs.chmodSync(tmp.path, 0o755);
    const bin = path.join(tmp.path, "bin");
    fs.mkdirSync(bin, { mode: 0o755 });
    fs.copyFileSync(BINARY, path.join(bin, "steward"));
    fs.chmodSync(path.join(bin, "steward"), 0o755);
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

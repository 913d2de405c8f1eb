/**
 * Namespace plumbing of the dhcp serve tests: whether they can run (root, ip(8), the built
 * binary), namespaces and veth pairs created and removed by the test, the server started from
 * the built binary inside a namespace, and a store made with the binary's batch mode.
 * @internal
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { euid } from "../../../lib/platform/rundir.ts";
import { alive, BINARY, ROOT, waitFor } from "../../helpers.ts";
import { scriptCommand } from "../helpers.ts";

/** Why the namespace tests cannot run here, or undefined when they can. */
export function netnsSkipReason(): string | undefined {
  if (euid() !== 0) return "needs root for network namespaces (ip netns)";
  try {
    execFileSync("ip", ["-V"], { stdio: "ignore" });
  } catch {
    return "needs ip(8) from iproute2";
  }
  if (!fs.existsSync(BINARY)) return `needs the built binary ${BINARY} (npm run build)`;
  return undefined;
}

/** Whether `cmd` is on the PATH. */
export function have(cmd: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Run ip(8); throws with its stderr on failure. */
export function ipCmd(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Namespaces made by a test, removed (with their veth ends) by dispose. */
export class Namespaces {
  readonly names: string[] = [];
  readonly #prefix: string;
  constructor(tag: string) {
    // Short and unique per process: interface names are limited to 15 characters.
    this.#prefix = `st${tag}${process.pid % 100000}`;
  }
  /** Create namespace `n` with its loopback up; returns its full name. */
  add(n: string): string {
    const name = `${this.#prefix}${n}`;
    try {
      ipCmd("netns", "del", name);
    } catch { /* not there */ }
    ipCmd("netns", "add", name);
    this.names.push(name);
    ipCmd("-n", name, "link", "set", "lo", "up");
    return name;
  }
  /** Run ip(8) in namespace `ns`. */
  ip(ns: string, ...args: string[]): string {
    return ipCmd("-n", ns, ...args);
  }
  /** A veth pair a@nsA — b@nsB, both up. */
  veth(a: string, nsA: string, b: string, nsB: string): void {
    ipCmd("link", "add", a, "netns", nsA, "type", "veth", "peer", "name", b, "netns", nsB);
    this.ip(nsA, "link", "set", a, "up");
    this.ip(nsB, "link", "set", b, "up");
  }
  dispose(): void {
    for (const n of this.names.reverse()) {
      try {
        ipCmd("netns", "del", n);
      } catch { /* already gone */ }
    }
    this.names.length = 0;
  }
}

/** A server process started by {@link startServer}. */
export interface ServerProc {
  child: ChildProcess;
  pid: number;
  statusFile: string;
  output(): string;
}

/** Start `steward dhcp serve` (the built binary) in namespace `ns`; resolves once it serves. */
export function startServer(
  ns: string,
  dir: string,
  env: Record<string, string>,
): Promise<ServerProc> {
  return startServerIn(ns, dir, env, dir);
}

/** As {@link startServer}, with the configuration in `confDir` and the pid and status files in `dir`. */
export async function startServerIn(
  ns: string,
  confDir: string,
  env: Record<string, string>,
  dir: string,
): Promise<ServerProc> {
  const status = path.join(dir, "status.json");
  fs.rmSync(status, { force: true });
  const child = spawn("ip", [
    "netns",
    "exec",
    ns,
    BINARY,
    "dhcp",
    "serve",
    "--conf",
    path.join(confDir, "dhcpsvc.conf"),
    "--pid-file",
    path.join(dir, "dhcpd.pid"),
    "--status-file",
    status,
  ], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (out += d));
  try {
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`dhcp serve exited: ${out}`);
        try {
          return JSON.parse(fs.readFileSync(status, "utf8")).state === "running";
        } catch {
          return false;
        }
      },
      20_000,
      "dhcp serve to start",
    );
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
  return { child, pid: child.pid!, statusFile: status, output: () => out };
}

/**
 * Stop a server: SIGTERM, then SIGKILL after `ms`. True when it stopped cleanly (its status
 * file says so: Deno reports a child that exits after SIGTERM as killed by it, whatever its
 * exit code).
 */
export async function stopServer(s: ServerProc, ms = 8000): Promise<boolean> {
  // By pid, not ChildProcess.kill: Deno marks a child signalled that way as gone at once.
  const t0 = Date.now();
  let killed = false;
  if (alive(s.pid)) {
    process.kill(s.pid, "SIGTERM");
    try {
      await waitFor(() => !alive(s.pid), ms, `dhcp serve ${s.pid} to stop`);
    } catch {
      killed = true;
      process.kill(s.pid, "SIGKILL");
    }
  }
  let status = "";
  try {
    status = fs.readFileSync(s.statusFile, "utf8");
    if (JSON.parse(status).state === "stopped") return true;
  } catch { /* reported below */ }
  // What a failed stop looked like, for the test's log.
  console.error(
    `dhcp serve ${s.pid} did not stop cleanly${killed ? ` (killed after ${ms} ms)` : ""} in ` +
      `${Date.now() - t0} ms; status file: ${status.slice(0, 400) || "(none)"}; output: ` +
      s.output().slice(-2000),
  );
  return false;
}

/** Run the built binary with `args` (outside any namespace). */
export function steward(args: string[], env: Record<string, string>, input?: string): string {
  return execFileSync(BINARY, args, {
    encoding: "utf8",
    env: { ...process.env, ...env },
    ...(input !== undefined ? { input } : {}),
    stdio: ["pipe", "pipe", "pipe"],
  });
}

/** Start the fixture client in namespace `ns`. */
export function fixtureClient(ns: string, args: string[]): ChildProcess {
  const c = scriptCommand(path.join(ROOT, "tests/dhcp/serve/fixtures/client.ts"), args);
  return spawn("ip", ["netns", "exec", ns, c.command, ...c.args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Run the fixture client to completion; its stdout. */
export function runFixture(ns: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const child = fixtureClient(ns, args);
  let out = "";
  let err = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (err += d));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(t);
      if (code === 0) resolve(out);
      else reject(new Error(`fixture client failed (${code}): ${err}`));
    });
  });
}

/** A dhcpsvc.conf for a SUNWfiles store in `dir`/store plus `extra` keys. */
export function writeConf(dir: string, extra: Record<string, string>): void {
  const lines = [`RESOURCE=SUNWfiles`, `PATH=${path.join(dir, "store")}`, `CONVER=1`];
  for (const [k, v] of Object.entries(extra)) lines.push(`${k}=${v}`);
  fs.mkdirSync(path.join(dir, "store"), { recursive: true });
  fs.writeFileSync(path.join(dir, "dhcpsvc.conf"), lines.join("\n") + "\n");
}

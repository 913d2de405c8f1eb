/**
 * Fixtures for the realms daemon tests: a realms file whose managers are small shell scripts,
 * starting the real daemon in a temp directory, and raw requests over its socket.
 */
import { type ChildProcess, execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  alive,
  collect,
  exited,
  spawnSteward,
  testPermissions,
  type Via,
  waitFor,
} from "../helpers.ts";
import type { DenoPermissions } from "../../lib/platform/runtime.ts";

/** A manager that reports how it was started, then runs until signalled. */
const MGR = `#!/bin/sh
echo "argv: $*"
echo "cwd: $(pwd)"
echo "env: DT_STATEDIR=$DT_STATEDIR DT_SYSCONFDIR=$DT_SYSCONFDIR"
echo "ids: uid=$(id -u) gid=$(id -g) groups=$(id -G)"
trap 'echo "stopping $$"; exit 0' TERM INT
while :; do sleep 1 & wait $!; done
`;

/** A manager that dies at once. */
const CRASH = `#!/bin/sh
echo "crashing $$"
exit 3
`;

/** A manager that ignores the stop signal (its children inherit that). */
const STUBBORN = `#!/bin/sh
trap '' TERM INT
echo "stubborn $$"
while :; do sleep 1; done
`;

/** rollctl -zonestatus: one line of each kind. */
const ROLLCTL = `#!/bin/sh
[ "$1" = "-zonestatus" ] || exit 1
printf 'alpha/a.example\\ta.example\\tZSK 0\\n'
printf 'alpha/b.example\\tb.example\\tZSK 2: waiting\\n'
printf 'alpha/c.example\\tc.example\\tKSK 3: waiting\\n'
printf 'alpha/d.example\\td.example\\tKSK 6: waiting\\n'
`;

/** The default realms file of the fixture. */
export const REALMS = `; test realms
realm "alpha"
\tstate\t\t"active"
\trealmdir\t"alpha"
\tconfigdir\t"conf"
\tstatedir\t"alphastate"
\trollrec\t\t"alpha.rollrec"
\tmanager\t\t"../bin/mgr"
\targs\t\t"-sleep 1 -loglevel phase"
\trollctl\t\t"../bin/rollctl"
\tallowcommands\t"echo sleep"
\tcommandtimeout\t"0.5"
\tstoptimeout\t"2"

realm "beta"
\tstate\t\t"active"
\tmanager\t\t"bin/mgr"
\targs\t\t"-name beta"
\trestartdelay\t"0.2"
\trestartmaxdelay\t"1"
\tmaxrestarts\t"3"

realm "gamma"
\tstate\t\t"inactive"
\tmanager\t\t"bin/mgr"
\targs\t\t"-name gamma"
`;

/** Write the fixture into `dir`; returns the paths tests need. */
export function writeFixture(dir: string, realms = REALMS): {
  realmsFile: string;
  stateDir: string;
  socket: string;
  idFile: string;
  logFile: string;
} {
  fs.mkdirSync(path.join(dir, "bin"), { recursive: true });
  for (const [name, text] of Object.entries({ mgr: MGR, crash: CRASH, stubborn: STUBBORN })) {
    fs.writeFileSync(path.join(dir, "bin", name), text, { mode: 0o755 });
  }
  fs.writeFileSync(path.join(dir, "bin", "rollctl"), ROLLCTL, { mode: 0o755 });
  for (const d of ["alpha", "conf", "alphastate", "sysconf"]) {
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  }
  fs.writeFileSync(path.join(dir, "alpha", "alpha.rollrec"), 'roll "a.example"\n');
  fs.writeFileSync(path.join(dir, "realms"), realms);
  const stateDir = path.join(dir, "state");
  return {
    realmsFile: path.join(dir, "realms"),
    stateDir,
    socket: path.join(stateDir, "dnssec-tools", "realmmgr.socket"),
    idFile: path.join(stateDir, "run", "realmmgr.pid"),
    logFile: path.join(dir, "log.dtrealms"),
  };
}

/** A daemon started by a test. */
export interface TestDaemon {
  child: ChildProcess;
  pid: number;
  output: { stdout: () => string; stderr: () => string };
  /** Halt it with SIGTERM and wait for it. */
  stop(): Promise<void>;
}

/** Start `steward realms daemon --foreground` on the fixture in `dir` and wait for its socket. */
export async function startDaemon(
  dir: string,
  options: {
    via?: Via;
    args?: string[];
    permissions?: DenoPermissions;
    /** Run from here and pass this as --directory (default: from the repository, `dir`). */
    cwd?: string;
    directoryArg?: string;
    /** The --loglevel given (default tmi; null for none). */
    loglevel?: string | null;
  } = {},
): Promise<TestDaemon> {
  const idFile = path.join(dir, "state", "run", "realmmgr.pid");
  const socket = path.join(dir, "state", "dnssec-tools", "realmmgr.socket");
  const child = spawnSteward([
    "realms",
    "daemon",
    "--foreground",
    "--directory",
    options.directoryArg ?? dir,
    "--statedir",
    "state",
    ...(options.loglevel === null ? [] : ["--loglevel", options.loglevel ?? "tmi"]),
    ...(options.args ?? []),
    "realms",
  ], {
    via: options.via ?? "source",
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: { DT_SYSCONFDIR: path.join(dir, "sysconf") },
    permissions: options.permissions ??
      testPermissions(dir, { unixSockets: [socket], read: ["/proc", "/etc/passwd"] }),
  });
  const output = collect(child);
  await waitFor(
    async () => {
      if (child.exitCode !== null) {
        throw new Error(`daemon exited ${child.exitCode}: ${output.stderr()}`);
      }
      try {
        if (Number(fs.readFileSync(idFile, "utf8")) !== child.pid) return false;
      } catch {
        return false;
      }
      return await canConnect(socket);
    },
    15_000,
    "the realms daemon to listen",
  );
  return {
    child,
    pid: child.pid as number,
    output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid as number, "SIGTERM");
        } catch { /* gone */ }
      }
      await exited(child, 10_000);
    },
  };
}

function canConnect(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socket);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/**
 * Send raw bytes (then end our side when `end`) and read everything until the server closes;
 * the reply as text.
 */
export function raw(
  socket: string,
  bytes: string | Uint8Array,
  options: { end?: boolean; timeoutMs?: number } = {},
): Promise<string> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const s = net.connect(socket);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no close within ${timeoutMs} ms after ${JSON.stringify(String(bytes))}`));
    }, timeoutMs);
    s.once("connect", () => (options.end ? s.end(bytes) : s.write(bytes)));
    s.on("data", (d: Buffer) => chunks.push(d));
    s.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.once("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
  });
}

/** Send one command the upstream way and return the raw reply. */
export function send(socket: string, command: string, data = ""): Promise<string> {
  return raw(socket, `${command} \r\n${data} \r\n`);
}

/** Pids of live (not zombie) processes whose command line contains `needle`. */
export function pidsWith(needle: string): number[] {
  const out: number[] = [];
  const ps = execFileSync("ps", ["-eo", "pid=,stat=,args="], { encoding: "utf8" });
  for (const line of ps.split("\n")) {
    const m = /^\s*(\d+)\s+(\S+)\s+(.*)$/.exec(line);
    if (!m || (m[2] as string).startsWith("Z")) continue;
    if ((m[3] as string).includes(needle) && Number(m[1]) !== process.pid) out.push(Number(m[1]));
  }
  return out;
}

/** The pid the realmstatus reply shows for a plain realm. */
export function statusPid(reply: string, realm: string): number | undefined {
  const m = new RegExp(`${realm}\\tactive\\t\\(running; pid (\\d+)`).exec(reply);
  return m ? Number(m[1]) : undefined;
}

/** Kill whatever is left of a fixture's managers (cleanup after a failed test). */
export async function killLeftovers(dir: string): Promise<void> {
  for (const pid of pidsWith(dir)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
  await sleep(50);
  for (const pid of pidsWith(dir)) if (alive(pid)) await sleep(50);
}

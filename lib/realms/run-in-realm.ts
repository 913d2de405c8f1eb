/**
 * Running a command inside a realm (upstream realm_system): in the realm's directory, with its
 * DT_STATEDIR/DT_SYSCONFDIR and user, without a shell, with a timeout and an output limit;
 * and rollerd's `-zonestatus` output counted as realmstatus reports it.
 * @internal
 * @module
 */
import { spawn } from "node:child_process";
import { constants } from "node:os";
import type { PhaseCounts } from "./protocol/bodies.ts";
import { asUser, checkDirectory, signalGroup, withoutInheritedFds } from "./process.ts";

/** What a command run in a realm produced. */
export interface RealmCommandResult {
  /** Standard output and error, interleaved as they arrived. */
  output: string;
  /** Exit code (128 + signal number when a signal ended it); undefined on timeout. */
  exitCode: number | undefined;
  timedOut: boolean;
}

/** Options of {@link runInRealm}. */
export interface RunInRealmOptions {
  cwd: string;
  env: Record<string, string>;
  user?: import("./process.ts").UserInfo | undefined;
  /** Default 60 s, as upstream. */
  timeoutMs?: number;
  /** Output kept at most (default 1 MiB); the rest is dropped with a note. */
  maxOutput?: number;
}

/** Run `argv` in a realm without a shell; never throws for the command's own failures. */
export function runInRealm(
  argv: readonly string[],
  options: RunInRealmOptions,
): Promise<RealmCommandResult> {
  const [program, ...args] = argv;
  if (program === undefined) throw new Error("Command is empty");
  checkDirectory(options.cwd, "Realm directory");
  const cmd = withoutInheritedFds(asUser(program, args, options.user));
  const max = options.maxOutput ?? 1024 * 1024;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    let timedOut = false;
    const child = spawn(cmd.command, cmd.args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const take = (d: Buffer) => {
      if (size + d.length > max) {
        truncated = true;
        d = d.subarray(0, Math.max(0, max - size));
      }
      size += d.length;
      if (d.length) chunks.push(d);
    };
    child.stdout?.on("data", take);
    child.stderr?.on("data", take);
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid) signalGroup(child.pid, "SIGKILL");
    }, options.timeoutMs ?? 60_000);
    const text = () =>
      Buffer.concat(chunks).toString("utf8") + (truncated ? "\n(output truncated)\n" : "");
    child.once("error", (e) => {
      clearTimeout(timer);
      resolve({ output: `${program}: ${e.message}\n`, exitCode: 127, timedOut: false });
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const sigNum = signal ? (constants.signals as Record<string, number>)[signal] ?? 0 : 0;
      resolve({
        output: text(),
        exitCode: timedOut ? undefined : code ?? 128 + sigNum,
        timedOut,
      });
    });
  });
}

/**
 * Count rollerd `-zonestatus` lines as dtrealms does: atom 3 is the phase and atom 2 the key
 * type; phase 0 or missing → normal, phase 6 → KSK phase 6, else KSK → KSK, ZSK → ZSK.
 */
export function countZoneStatus(output: string): PhaseCounts {
  const counts: PhaseCounts = { normal: 0, zsk: 0, ksk: 0, kskPhase6: 0 };
  for (const raw of output.split("\n")) {
    const line = raw.trim().replace(/\s+/g, " ");
    if (line === "") continue;
    const atoms = line.split(" ");
    const phase = parseInt(atoms[3] ?? "0", 10);
    const type = atoms[2] ?? "";
    if (!phase) counts.normal++;
    else if (phase === 6) counts.kskPhase6++;
    else if (type === "KSK") counts.ksk++;
    else if (type === "ZSK") counts.zsk++;
  }
  return counts;
}

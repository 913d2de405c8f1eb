/**
 * The command handlers as pure functions over a narrow context: no socket, no daemon, managers
 * and commands injected.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { dispatch, type HandledRealm, type HandlerContext } from "../../lib/realms/handlers.ts";
import { RollLog } from "../../lib/realms/rolllog.ts";
import type { RealmCommandResult, RunInRealmOptions } from "../../lib/realms/run-in-realm.ts";
import {
  type Launcher,
  type LaunchHooks,
  type ManagerProcess,
  RealmSupervisor,
} from "../../lib/realms/supervisor.ts";
import type { RealmEntry } from "../../lib/realms/process.ts";
import { parseRealmStatusBody, parseRealmSupervision } from "../../lib/realms/protocol/bodies.ts";
import { REALMCMD, type RealmCommand } from "../../lib/realms/protocol/codes.ts";

/** A launcher whose managers spawn at once and never exit by themselves. */
class InstantLauncher implements Launcher {
  #pid = 1000;
  launch(hooks: LaunchHooks): void {
    const pid = this.#pid++;
    const proc: ManagerProcess = {
      pid,
      adopted: false,
      signal: (sig) => {
        if (sig === "SIGTERM" || sig === "SIGINT" || sig === "SIGKILL") {
          queueMicrotask(() => hooks.onExit({ code: 0, signal: null }));
        }
        return true;
      },
    };
    hooks.onSpawn(proc);
  }
}

function context(
  entries: RealmEntry[],
  extra: {
    run?: HandlerContext["runCommand"];
    display?: HandlerContext["display"];
    logTail?: HandlerContext["logTail"];
  } = {},
) {
  const realms = new Map<string, HandledRealm>();
  for (const entry of entries) {
    realms.set(entry.name, {
      entry,
      sup: new RealmSupervisor(entry.name, { launcher: new InstantLauncher() }),
    });
  }
  const saved: string[] = [];
  const lines: string[] = [];
  const halted: string[] = [];
  const ctx: HandlerContext = {
    log: new RollLog(),
    directory: "/srv/realms",
    ownFiles: () => [],
    logLevelText: "4",
    logTzText: "gmt",
    defaultLogTz: "gmt",
    options: {},
    realms,
    display: extra.display ??
      (() => Promise.resolve({ code: 15, message: "command failed: no status display here" })),
    env: { PATH: "/usr/bin:/bin" },
    uid: process.geteuid?.(),
    // Nothing is spawned here: a test that runs commands injects its runner.
    runCommand: extra.run ?? (() => Promise.reject(new Error("no runner in this test"))),
    logTail: extra.logTail ?? (() => []),
    sorted: () => [...realms.values()].sort((a, b) => (a.entry.name < b.entry.name ? -1 : 1)),
    reload: () => Promise.resolve(),
    realmProblems: (e) => (e.fields.state === "paused" ? ['invalid state - "paused"'] : []),
    persistState: (name, state) => {
      saved.push(`${name}=${state}`);
      return Promise.resolve(name === "readonly" ? "EROFS: read-only file system" : undefined);
    },
    statusBody: () => "dtrealms parameters:\n",
    write: (_level, field, message) => lines.push(`${field ?? ""}: ${message}`),
    halt: (reason) => {
      halted.push(reason);
      return Promise.resolve();
    },
  };
  return { ctx, saved, lines, halted };
}

const realm = (name: string, fields: Record<string, string> = {}): RealmEntry => ({
  name,
  fields: { state: "inactive", manager: "m", ...fields },
});

describe("realm command handlers", () => {
  test("start and stop say why they failed, and save the state before acting", async () => {
    const { ctx, saved } = context([realm("a"), realm("paused", { state: "paused" })]);
    const start = (n: string) => dispatch(ctx, { command: REALMCMD.STARTREALM, data: n });
    assert.deepEqual((await start("a")).reply, { code: 0, message: 'realm "a" started' });
    assert.deepEqual(saved, ["a=active"]);
    assert.deepEqual((await start("a")).reply, {
      code: 4,
      message: 'unable to start realm "a": realm "a" is already running',
    });
    assert.deepEqual(
      (await start("nosuch")).reply.message,
      'unable to start realm "nosuch": no realm named "nosuch"',
    );
    assert.match(
      (await start("paused")).reply.message,
      /invalid realm definition: invalid state - "paused"$/,
    );
    const stop = await dispatch(ctx, { command: REALMCMD.STOPREALM, data: "a" });
    assert.deepEqual(stop.reply, { code: 0, message: 'realm "a" stopped' });
    assert.deepEqual(saved, ["a=active", "a=inactive"]);
  });

  test("a state that cannot be saved refuses the start and leaves the realm stopped", async () => {
    const { ctx } = context([realm("readonly")]);
    const r = await dispatch(ctx, { command: REALMCMD.STARTREALM, data: "readonly" });
    assert.equal(r.reply.code, 4);
    assert.match(r.reply.message, /state not saved: EROFS/);
    assert.equal(ctx.realms.get("readonly")?.sup.state, "inactive");
  });

  test("commands run through the injected runner, argv or /bin/sh -c as the realm says", async () => {
    const calls: { argv: readonly string[]; options: RunInRealmOptions }[] = [];
    const run = (argv: readonly string[], options: RunInRealmOptions) => {
      calls.push({ argv, options });
      return Promise.resolve<RealmCommandResult>({ output: "ok", exitCode: 3, timedOut: false });
    };
    const { ctx } = context([
      realm("plain", { allowcommands: "echo" }),
      realm("shell", { allowcommands: "*", commandshell: "1", statedir: "st" }),
    ], { run });
    const cmd = (data: string) => dispatch(ctx, { command: REALMCMD.COMMAND, data });
    assert.deepEqual((await cmd("plain echo a;b")).reply, {
      code: 0,
      message: "ok\nreturn code - 3\n",
    });
    assert.deepEqual(calls[0]?.argv, ["echo", "a;b"]);
    assert.equal((await cmd("plain id")).reply.code, 14);
    await cmd("shell echo a;  echo $DT_STATEDIR");
    assert.deepEqual(calls[1]?.argv, ["/bin/sh", "-c", "echo a;  echo $DT_STATEDIR"]);
    assert.equal(calls[1]?.options.env.DT_STATEDIR, "/srv/realms/st");
    assert.equal(calls.length, 2, "the refused command was never run");
  });

  test("display commands go to the display; supervision reports each realm as JSON", async () => {
    const asked: string[] = [];
    const display: HandlerContext["display"] = (data) => {
      asked.push(data);
      return Promise.resolve({ code: 0, message: "dtrealms display started" });
    };
    const { ctx } = context([realm("a"), realm("b")], { display });
    const d = (command: RealmCommand, data: string) => dispatch(ctx, { command, data });
    assert.deepEqual((await d(REALMCMD.DISPLAY, "1")).reply, {
      code: 0,
      message: "dtrealms display started",
    });
    await d(REALMCMD.NODISPLAY, "");
    assert.deepEqual(asked, ["1", "0"]);
    await dispatch(ctx, { command: REALMCMD.STARTREALM, data: "b" });
    const r = await dispatch(ctx, { command: REALMCMD.SUPERVISION, data: "" });
    const report = parseRealmSupervision(r.reply.message);
    assert.deepEqual(report.realms.map((x) => [x.name, x.state, x.pid]), [
      ["a", "stopped", null],
      ["b", "running", 1000],
    ]);
    const one = await dispatch(ctx, { command: REALMCMD.SUPERVISION, data: "nosuch" });
    assert.deepEqual(one.reply, { code: 4, message: 'no realm named "nosuch"' });
  });

  test("realmstatus asks rollctl -zonestatus through the runner and counts its phases", async () => {
    const calls: (readonly string[])[] = [];
    const run = (argv: readonly string[], options: RunInRealmOptions) => {
      calls.push(argv);
      assert.equal(options.timeoutMs, 10_000, "the status deadline");
      return Promise.resolve<RealmCommandResult>(
        options.cwd.endsWith("/gone")
          ? { output: "rollctl: not found\n", exitCode: 127, timedOut: false }
          : {
            output: "a.example  signed  ZSK 2\nb.example signed KSK 6\nc.example signed KSK 0\n",
            exitCode: 0,
            timedOut: false,
          },
      );
    };
    const { ctx } = context([
      realm("dnssec", { rollrec: "r.rollrec", realmdir: "dnssec" }),
      realm("gone", { rollrec: "r.rollrec", realmdir: "gone" }),
      realm("other"),
      realm("stopped", { rollrec: "r.rollrec" }),
    ], { run });
    for (const n of ["dnssec", "gone", "other"]) {
      await dispatch(ctx, { command: REALMCMD.STARTREALM, data: n });
    }
    const r = await dispatch(ctx, { command: REALMCMD.REALMSTATUS, data: "" });
    assert.equal(r.reply.code, 0);
    assert.deepEqual(parseRealmStatusBody(r.reply.message), [
      { name: "dnssec", state: "active", counts: { normal: 1, zsk: 1, ksk: 0, kskPhase6: 1 } },
      { name: "gone", state: "active", detail: "(no data available)" },
      { name: "other", state: "active", detail: "(running; pid 1000)" },
      { name: "stopped", state: "inactive" },
    ]);
    assert.deepEqual(calls, [["rollctl", "-zonestatus"], ["rollctl", "-zonestatus"]]);
  });

  test("a command that timed out or could not run gets its own code", async () => {
    let mode: "timeout" | "throw" = "timeout";
    const run = () =>
      mode === "timeout"
        ? Promise.resolve<RealmCommandResult>({ output: "", exitCode: undefined, timedOut: true })
        : Promise.reject(new Error("Realm directory does not exist"));
    const { ctx } = context([realm("a", { allowcommands: "*" })], { run });
    const cmd = (data: string) => dispatch(ctx, { command: REALMCMD.COMMAND, data });
    assert.deepEqual((await cmd("a sleep 100")).reply, {
      code: 11,
      message: "realm command timed out",
    });
    mode = "throw";
    assert.deepEqual((await cmd("a true")).reply, {
      code: 4,
      message: 'unable to run command in realm "a": Realm directory does not exist',
    });
    assert.equal((await cmd("a")).reply.code, 8, "a realm without a command");
    assert.equal((await cmd("nosuch true")).reply.code, 4);
  });

  test("log level, time zone and messages change the log and answer as dtrealms", async () => {
    const { ctx, lines } = context([]);
    const d = (command: RealmCommand, data: string) => dispatch(ctx, { command, data });
    assert.deepEqual((await d(REALMCMD.LOGLEVEL, "err")).reply, {
      code: 0,
      message: 'loglevel changed from "info" to "err"',
    });
    assert.equal(ctx.log.level, 8);
    assert.equal(ctx.logLevelText, "err");
    assert.deepEqual((await d(REALMCMD.LOGLEVEL, "7")).reply, {
      code: 1,
      message: 'invalid loglevel "7"',
    });
    assert.deepEqual((await d(REALMCMD.LOGTZ, "local")).reply, {
      code: 0,
      message: "new logging timezone set",
    });
    assert.equal(ctx.log.tz, "local");
    assert.equal((await d(REALMCMD.LOGTZ, "mars")).reply.code, 5);
    assert.deepEqual((await d(REALMCMD.LOGMSG, "(fatal)disk full")).reply, {
      code: 0,
      message: "message written to log",
    });
    assert.ok(lines.includes("<user msg>: disk full"));
    assert.equal((await d(REALMCMD.LOGMSG, "no level")).reply.code, 1);
    assert.equal((await d(REALMCMD.LOGFILE, "")).reply.code, 2);
  });

  test("shutdown halts only after its reply; getstatus is not offered", async () => {
    const { ctx, halted } = context([]);
    const r = await dispatch(ctx, { command: REALMCMD.SHUTDOWN, data: "" });
    assert.deepEqual(r.reply, { code: 0, message: "dtrealms shutting down" });
    assert.deepEqual(halted, [], "nothing halts before the reply is sent");
    r.afterReply?.();
    assert.deepEqual(halted, ["shutdown command received"]);
    assert.equal((await dispatch(ctx, { command: REALMCMD.GETSTATUS, data: "" })).reply.code, 13);
  });

  test("supervision of one realm carries its log tail, control characters escaped", async () => {
    const asked: string[] = [];
    const logTail = (file: string) => {
      asked.push(file);
      return ["started", "bell\x07here"];
    };
    const { ctx } = context([realm("a")], { logTail });
    const r = await dispatch(ctx, { command: REALMCMD.SUPERVISION, data: "a" });
    const report = parseRealmSupervision(r.reply.message);
    assert.deepEqual(report.log_tail, ["started", "bell\\x07here"]);
    assert.deepEqual(asked, [report.realms[0]?.output_log]);
  });
});

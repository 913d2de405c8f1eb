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
import { parseRealmSupervision } from "../../lib/realms/protocol/bodies.ts";
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
  extra: { run?: HandlerContext["runCommand"]; display?: HandlerContext["display"] } = {},
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
    ...(extra.run ? { runCommand: extra.run } : {}),
    sorted: () => [...realms.values()].sort((a, b) => (a.entry.name < b.entry.name ? -1 : 1)),
    reload: () => Promise.resolve(),
    realmProblems: (e) => (e.fields.state === "paused" ? ['invalid state - "paused"'] : []),
    persistState: (name, state) => {
      saved.push(`${name}=${state}`);
      return Promise.resolve(name === "readonly" ? "EROFS: read-only file system" : undefined);
    },
    statusBody: () => "dtrealms parameters:\n",
    write: (_level, field, message) => lines.push(`${field ?? ""}: ${message}`),
    halt: () => Promise.resolve(),
  };
  return { ctx, saved, lines };
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
});

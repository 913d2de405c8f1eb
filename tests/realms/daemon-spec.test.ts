/**
 * How the daemon builds a realm's process (argv, directory, environment, user) and reads its
 * steward settings, without starting anything.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  asUser,
  managerSpec,
  realmDtEnv,
  splitArgs,
  withoutInheritedFds,
} from "../../lib/realms/process.ts";
import {
  commandAllowed,
  parseSignal,
  realmCommandTimeout,
  realmPolicy,
} from "../../lib/realms/policy.ts";
import { countZoneStatus } from "../../lib/realms/run-in-realm.ts";
import { realmsDaemonPermissions } from "../../lib/realms/permissions.ts";
import { RealmError } from "../../lib/realms/errors.ts";

const realm = (name: string, fields: Record<string, string>) => ({ name, fields });

describe("realm process spec", () => {
  test("a rollrec realm runs rollerd the upstream way", () => {
    const s = managerSpec(
      realm("alpha", {
        realmdir: "zones",
        configdir: "conf",
        rollrec: "alpha.rollrec",
        args: "-sleep 60  -loglevel phase",
      }),
      { directory: "/srv/realms", env: { PATH: "/bin" }, uid: 1000 },
    );
    assert.equal(s.command, "rollerd");
    assert.deepEqual(s.args, [
      "-realm",
      "alpha",
      "-foreground",
      "-sleep",
      "60",
      "-loglevel",
      "phase",
      "-rrf",
      "/srv/realms/zones/alpha.rollrec",
    ]);
    assert.equal(s.cwd, "/srv/realms/zones");
    assert.equal(s.env.DT_STATEDIR, ".");
    assert.equal(s.env.DT_SYSCONFDIR, "/srv/realms/conf");
    assert.equal(s.env.PATH, "/bin");
    assert.equal(s.logFile, "/srv/realms/realm-logs/alpha.log");
    assert.equal(s.rollerd, true);
  });

  test("a realm without rollrec runs its manager with its args only", () => {
    const s = managerSpec(
      realm("web", {
        manager: "bin/serve",
        args: "--port 8080 'quoted;' $HOME",
        outputlog: "/var/log/web.out",
      }),
      { directory: "/srv", env: {}, uid: 1000 },
    );
    assert.equal(s.command, "/srv/bin/serve");
    assert.deepEqual(s.args, ["--port", "8080", "'quoted;'", "$HOME"], "no shell interprets args");
    assert.equal(s.cwd, "/srv");
    assert.deepEqual(realmDtEnv(realm("web", {}), "/srv"), {
      DT_STATEDIR: ".",
      DT_SYSCONFDIR: ".",
    });
    assert.equal(s.logFile, "/var/log/web.out");
  });

  test("a realm name with slashes never leads the output log out of its directory", () => {
    const s = managerSpec(realm("../../etc/x", { manager: "m" }), { directory: "/srv", uid: 1000 });
    assert.equal(s.logFile, "/srv/realm-logs/.._.._etc_x.log");
  });

  test("a realm with neither manager nor rollrec, or an unknown user, is refused", () => {
    assert.throws(() => managerSpec(realm("x", {}), { directory: "/", uid: 0 }), RealmError);
    assert.throws(
      () =>
        managerSpec(realm("x", { manager: "m", user: "no-such-user-here" }), {
          directory: "/",
          uid: 0,
        }),
      /user does not exist: no-such-user-here/,
    );
  });

  test("the user is applied through setpriv with the user's groups, only as root", () => {
    const u = { name: "dns", uid: 53, gid: 54, home: "/var/dns" };
    assert.deepEqual(asUser("rollerd", ["-a"], u), {
      command: "setpriv",
      args: ["--reuid=53", "--regid=54", "--init-groups", "--", "rollerd", "-a"],
    });
    assert.deepEqual(asUser("rollerd", ["-a"], undefined), { command: "rollerd", args: ["-a"] });
    const s = managerSpec(realm("r", { manager: "m", user: "root" }), {
      directory: "/",
      uid: 1000,
    });
    assert.equal(s.user, undefined, "a daemon that is not root cannot switch users");
    const asRoot = managerSpec(realm("r", { manager: "m", user: "root" }), {
      directory: "/",
      uid: 0,
    });
    assert.equal(asRoot.user?.uid, 0);
    assert.equal(asRoot.env.USER, "root");
  });

  test("the descriptor trampoline passes the program as positional parameters", () => {
    const c = withoutInheritedFds({ command: "/x/y", args: ["a b", "$(rm)"] }, true);
    assert.equal(c.args[0], "-c");
    assert.deepEqual(c.args.slice(2), ["steward-exec", "/x/y", "a b", "$(rm)"]);
    assert.deepEqual(withoutInheritedFds({ command: "p", args: [] }, false), {
      command: "p",
      args: [],
    });
  });

  test("args split on blanks", () => {
    assert.deepEqual(splitArgs(" -a\t-b  c "), ["-a", "-b", "c"]);
    assert.deepEqual(splitArgs(undefined), []);
  });
});

describe("realm settings", () => {
  test("defaults, and the stop signal follows the kind of realm", () => {
    const p = realmPolicy(realm("a", { manager: "m" }));
    assert.equal(p.restartDelayMs, 1000);
    assert.equal(p.maxRestarts, 5);
    assert.equal(p.stopSignal, "SIGTERM");
    assert.equal(realmPolicy(realm("a", { rollrec: "x" })).stopSignal, "SIGINT");
    assert.equal(realmCommandTimeout(realm("a", {})), 60_000);
  });

  test("fields set backoff, limits, signal and deadline", () => {
    const p = realmPolicy(realm("a", {
      restartdelay: "0.5",
      restartmaxdelay: "8",
      maxrestarts: "2",
      stableafter: "10",
      restart: "always",
      stopsignal: "HUP",
      stoptimeout: "3",
    }));
    assert.deepEqual(
      [
        p.restartDelayMs,
        p.maxRestartDelayMs,
        p.maxRestarts,
        p.stableAfterMs,
        p.restart,
        p.stopSignal,
        p.stopTimeoutMs,
      ],
      [500, 8000, 2, 10_000, "always", "SIGHUP", 3000],
    );
    assert.equal(parseSignal("15"), "SIGTERM");
    assert.equal(parseSignal("sigkill"), "SIGKILL");
    assert.equal(parseSignal("SIGFOO"), undefined);
  });

  test("bad values name the realm and the field", () => {
    for (
      const [k, v] of [
        ["restartdelay", "soon"],
        ["maxrestarts", "1.5"],
        ["restart", "sometimes"],
        ["stopsignal", "SIGFOO"],
        ["stoptimeout", "-1"],
        ["commandtimeout", "0"],
      ] as const
    ) {
      assert.throws(() => realmPolicy(realm("zz", { [k]: v })), new RegExp(`Realm zz: ${k}`), k);
    }
  });

  test("commands are allowed only by name, by * or by the daemon flag", () => {
    const r = realm("a", { allowcommands: "rollctl ls" });
    assert.equal(commandAllowed(r, "rollctl", false), true);
    assert.equal(commandAllowed(r, "rm", false), false);
    assert.equal(commandAllowed(r, "/bin/rollctl", false), false);
    assert.equal(commandAllowed(realm("b", {}), "ls", false), false);
    assert.equal(commandAllowed(realm("b", {}), "ls", true), true);
    assert.equal(commandAllowed(realm("c", { allowcommands: "*" }), "anything", false), true);
  });

  test("zonestatus lines are counted as dtrealms counts them", () => {
    const out = [
      "r/a.example\ta.example\tZSK 0",
      "r/b.example\tb.example\tZSK 2: waiting",
      "r/c.example  c.example   KSK 3: waiting",
      "r/d.example\td.example\tKSK 6: waiting",
      "rollerd is not running",
      "",
    ].join("\n");
    assert.deepEqual(countZoneStatus(out), { normal: 2, zsk: 1, ksk: 1, kskPhase6: 1 });
  });

  test("Deno permissions name only the daemon's files, socket and programs", () => {
    const p = realmsDaemonPermissions({
      directory: "/srv/realms",
      stateDir: "/var/lib/realms",
      realmsFile: "realms",
      realms: [
        realm("a", { realmdir: "a", rollrec: "a.rollrec", allowcommands: "../bin/tool ls" }),
        realm("b", { manager: "/usr/sbin/named" }),
      ],
    });
    assert.deepEqual(p.unixSockets, ["/var/lib/realms/dnssec-tools/realmmgr.socket"]);
    assert.ok(Array.isArray(p.run));
    for (
      const prog of [
        "rollerd",
        "rollctl",
        "/srv/realms/bin/tool",
        "ls",
        "/usr/sbin/named",
        "setpriv",
      ]
    ) {
      assert.ok((p.run as string[]).includes(prog), prog);
    }
    assert.ok(p.read?.includes("/srv/realms/a"));
    assert.ok(p.write?.includes("/var/lib/realms"));
    assert.ok(!p.write?.includes("/"));
  });
});

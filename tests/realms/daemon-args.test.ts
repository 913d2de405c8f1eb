/** The daemon's command line, read as upstream dtrealms reads it (Getopt::Long). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseDaemonArgs } from "../../cli/realms-daemon.ts";
import { CliError } from "../../cli/errors.ts";

test("daemon options are read with one or two dashes, abbreviated and with =", () => {
  const upstream = parseDaemonArgs([
    "-directory",
    "/srv/realms",
    "-foreground",
    "-logfile",
    "-",
    "-loglevel",
    "phase",
    "-logtz",
    "local",
    "-display",
    "-verbose",
    "-statedir",
    "state",
    "realms.conf",
  ]);
  const expected = {
    action: "run",
    file: "realms.conf",
    flags: {
      directory: "/srv/realms",
      logfile: "-",
      loglevel: "phase",
      logtz: "local",
      statedir: "state",
      foreground: true,
      display: true,
    },
  };
  assert.deepEqual(upstream, expected);
  assert.deepEqual(
    parseDaemonArgs([
      "realms.conf",
      "--dir=/srv/realms",
      "-fore",
      "-logf",
      "-",
      "--logl",
      "phase",
      "-logt=local",
      "-disp",
      "-v",
      "-s",
      "state",
    ]),
    expected,
    "abbreviations and options after the file",
  );
});

test("daemon -help and -Version are recognised, abbreviated too", () => {
  for (const word of ["-help", "--help", "-h", "-he"]) {
    assert.deepEqual(parseDaemonArgs([word]), { action: "help" }, word);
  }
  for (const word of ["-Version", "--Version", "-V"]) {
    assert.deepEqual(parseDaemonArgs([word, "x"]), { action: "version" }, word);
  }
});

test("daemon usage errors name the problem and exit 2", () => {
  for (
    const [args, message] of [
      [["-d", "x", "f"], /Option d is ambiguous \(directory, display\)/],
      [["-l", "x", "f"], /Option l is ambiguous \(logfile, loglevel, logtz\)/],
      [["-Foreground", "f"], /Unknown option: Foreground/],
      [["-allow", "f"], /Unknown option: allow/],
      [["-foreground=yes", "f"], /Option foreground does not take an argument/],
      [["f", "-directory"], /Option directory requires an argument/],
      [["-foreground"], /Missing the realms file argument/],
      [["a", "b"], /Only one realms file may be given: a b/],
    ] as const
  ) {
    assert.throws(
      () => parseDaemonArgs(args),
      (e: unknown) => e instanceof CliError && e.exitCode === 2 && message.test(e.message),
      args.join(" "),
    );
  }
  const allowed = parseDaemonArgs(["--allow-commands", "f"]);
  assert.equal(allowed.action === "run" && allowed.flags.allowCommands, true);
});

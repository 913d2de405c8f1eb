/**
 * Upstream's own `realmctl -display` / `-nodisplay` (DNSSEC-Tools' Perl script and modules)
 * against steward's daemon: the same output and exit codes as against dtrealms. Needs Perl and
 * an upstream checkout named by DNSSEC_TOOLS_SRC (the directory holding `dnssec-tools/tools/`);
 * skipped with a message otherwise.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { tempDir } from "../../helpers.ts";
import { killLeftovers, send } from "../daemon-helpers.ts";
import { type DisplayDaemon, startDisplayDaemon } from "./helpers.ts";

const SRC = process.env.DNSSEC_TOOLS_SRC ?? "";
const TOOLS = path.join(SRC, "dnssec-tools", "tools");
const MODULES = ["realmmgr", "rolllog", "tooloptions", "QWPrimitives", "defaults", "keyrec"];

function skipReason(): string | undefined {
  if (SRC === "") return "DNSSEC_TOOLS_SRC does not name an upstream DNSSEC-Tools checkout";
  try {
    fs.accessSync(path.join(TOOLS, "scripts", "realmctl"), fs.constants.R_OK);
  } catch (e) {
    return `cannot read dnssec-tools/tools/scripts/realmctl under ${SRC} (${
      (e as Error).name
    }; under Deno the tests may read only the repository)`;
  }
  try {
    if (spawnSync("perl", ["-MSocket", "-MGetopt::Long", "-e", "1"]).status !== 0) {
      return "Perl (with Socket and Getopt::Long) is not available";
    }
  } catch {
    return "Perl is not installed";
  }
  return undefined;
}

const skip = skipReason();
if (skip) console.log(`# skipping the upstream realmctl display test: ${skip}`);

const tmp = skip ? undefined : tempDir("rupctl");
let d: DisplayDaemon | undefined;
let lib = "";
let sysconf = "";

before(async () => {
  if (!tmp) return;
  // Install upstream's modules as `make` would, with conf.pm's placeholders filled in.
  lib = path.join(tmp.path, "perl");
  const dest = path.join(lib, "Net", "DNS", "SEC", "Tools");
  fs.mkdirSync(dest, { recursive: true });
  for (const m of MODULES) {
    fs.copyFileSync(path.join(TOOLS, "modules", `${m}.pm`), path.join(dest, `${m}.pm`));
  }
  const conf = fs.readFileSync(path.join(TOOLS, "modules", "conf.pm.in"), "utf8")
    .replaceAll("@prefix@", "/usr/local")
    .replaceAll("@expanded_sysconfdir@", "/usr/local/etc")
    .replaceAll("@expanded_localstatedir@", "/usr/local/var");
  fs.writeFileSync(path.join(dest, "conf.pm"), conf);
  // realmctl's configuration check wants a non-empty dnssec-tools.conf.
  sysconf = path.join(tmp.path, "sysconf");
  fs.mkdirSync(path.join(sysconf, "dnssec-tools"), { recursive: true });
  fs.writeFileSync(path.join(sysconf, "dnssec-tools", "dnssec-tools.conf"), "verbose 0\n");
  d = await startDisplayDaemon(path.join(tmp.path, "d"), { args: [] });
  assert.match(await send(d.fx.socket, "realmcmd_display", "0"), /^0 \r\n/);
});

after(async () => {
  await d?.stop();
  if (tmp) {
    await killLeftovers(tmp.path);
    tmp[Symbol.dispose]();
  }
});

function realmctl(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync("perl", [`-I${lib}`, path.join(TOOLS, "scripts", "realmctl"), ...args], {
    env: {
      ...process.env,
      DT_STATEDIR: (d as DisplayDaemon).fx.stateDir,
      DT_SYSCONFDIR: sysconf,
    },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("upstream realmctl -display and -nodisplay get upstream's answers from steward", {
  skip: skip ?? false,
}, () => {
  assert.deepEqual(realmctl("-display"), {
    code: 0,
    stdout: "dtrealms display started\n",
    stderr: "",
  });
  assert.ok(
    fs.existsSync(path.join((d as DisplayDaemon).fx.stateDir, "dnssec-tools", "display.json")),
  );
  assert.deepEqual(realmctl("-display"), {
    code: 1,
    stdout: "",
    stderr: "dtrealms display not started\n",
  });
  assert.deepEqual(realmctl("-nodisplay"), {
    code: 0,
    stdout: "dtrealms display stopped\n",
    stderr: "",
  });
  assert.deepEqual(realmctl("-nodisplay"), {
    code: 1,
    stdout: "",
    stderr: "dtrealms display not stopped\n",
  });
});

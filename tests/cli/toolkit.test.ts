/**
 * The binary fits admins' habits: the multi-call links and install-links, shell completion for
 * bash, zsh and fish, the man pages, the install script, help, did-you-mean and help width.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { MULTICALL } from "../../cli/multicall.ts";
import { LockClient } from "../../lib/lockd/client.ts";
import { buildProgram } from "../../cli/program.ts";
import { allNodes, commandTree } from "../../cli/tree.ts";
import { BINARY, requireBinary, ROOT, runSteward, symlink, tempDir } from "../helpers.ts";

const exec = promisify(execFile);
const DIST = path.join(ROOT, "dist");

/** Run `file` with `args`; code, stdout and stderr whatever the exit status. */
async function runFile(
  file: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(file, args, {
      env: { ...process.env, NO_COLOR: "1", ...env },
      timeout: 60_000,
      cwd: ROOT,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: unknown; stdout?: string; stderr?: string };
    return {
      code: typeof x.code === "number" ? x.code : -1,
      stdout: x.stdout ?? "",
      stderr: x.stderr ?? "",
    };
  }
}

function which(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const p = path.join(dir, program);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch { /* not here */ }
  }
  return undefined;
}

describe("the multi-call binary", () => {
  test("install-links makes the links, and each link runs as its upstream tool", async () => {
    requireBinary();
    using tmp = tempDir("links");
    const bin = path.join(tmp.path, "bin");
    fs.mkdirSync(bin);
    const made = await runSteward(["install-links", bin], { via: "binary" });
    assert.equal(made.code, 0, made.stderr);
    for (const tool of Object.keys(MULTICALL)) {
      assert.equal(fs.readlinkSync(path.join(bin, tool)), BINARY, tool);
    }
    const realms = path.join(ROOT, "examples", "realms", "example.realm");
    // A copy of examples/dhcp: the tools lock the store (a lock file beside the containers).
    for (
      const f of ["dhcpsvc.conf", "var-dhcp/SUNWfiles1_dhcptab", "var-dhcp/SUNWfiles1_192_168_10_0"]
    ) {
      fs.mkdirSync(path.dirname(path.join(tmp.path, "dhcp", f)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, "examples", "dhcp", f), path.join(tmp.path, "dhcp", f));
    }
    const env = {
      STEWARD_DHCPSVC_CONF: path.join(tmp.path, "dhcp", "dhcpsvc.conf"),
      STEWARD_RUN_DIR: path.join(tmp.path, "run"),
    };
    fs.mkdirSync(env.STEWARD_RUN_DIR, { mode: 0o700 });
    const cases: Array<[string, string[]]> = [
      ["lsrealm", [realms]],
      ["realmchk", [realms]],
      ["pntadm", ["-L"]],
      ["dhtadm", ["-P"]],
      ["realmctl", ["-help"]],
      ["dtrealms", ["-help"]],
    ];
    try {
      for (const [tool, args] of cases) {
        const sub = MULTICALL[tool] as readonly string[];
        const viaLink = await runFile(path.join(bin, tool), args, env);
        const direct = await runFile(BINARY, [...sub, ...args], env);
        assert.deepEqual(viaLink, direct, tool);
        assert.notEqual(viaLink.stdout + viaLink.stderr, "", `${tool} printed nothing`);
      }
    } finally {
      // The dhcp tools started a lock manager in the private run directory.
      const locks = new LockClient({ runDir: env.STEWARD_RUN_DIR, autoStart: false });
      await locks.stopDaemon().catch(() => {});
      locks.close();
    }
    const lsrealm = await runFile(path.join(bin, "lsrealm"), [realms]);
    assert.match(lsrealm.stdout, /^alpha\s+active$/m);
  });

  test("install-links keeps links to steward and refuses, changing nothing, to replace a file", async () => {
    requireBinary();
    using tmp = tempDir("links");
    symlink(BINARY, path.join(tmp.path, "pntadm"));
    const again = await runSteward(["install-links", tmp.path], { via: "binary" });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /pntadm -> .* \(already there\)/);

    using other = tempDir("links");
    fs.writeFileSync(path.join(other.path, "dhtadm"), "#!/bin/sh\necho mine\n");
    symlink("/bin/true", path.join(other.path, "realmctl"));
    const r = await runSteward(["install-links", other.path], { via: "binary" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^steward: Refusing to replace .*dhtadm.*realmctl/);
    assert.equal(
      fs.readFileSync(path.join(other.path, "dhtadm"), "utf8"),
      "#!/bin/sh\necho mine\n",
    );
    assert.equal(fs.readlinkSync(path.join(other.path, "realmctl")), "/bin/true");
    assert.deepEqual(fs.readdirSync(other.path).sort(), ["dhtadm", "realmctl"]);
  });
});

describe("shell completion", () => {
  const tree = commandTree(buildProgram());

  test("bash completes subcommands at every level and options after a dash", async () => {
    requireBinary();
    const script = await runSteward(["completion", "bash"], { via: "binary" });
    assert.equal(script.code, 0, script.stderr);
    using tmp = tempDir("completion");
    const file = path.join(tmp.path, "steward.bash");
    fs.writeFileSync(file, script.stdout);
    const complete = async (...words: string[]) => {
      const r = await exec("bash", [
        "-c",
        `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _steward; printf '%s\\n' "\${COMPREPLY[@]}"`,
        "bash",
        file,
        ...words,
      ]);
      return r.stdout.trim().split("\n").filter(Boolean).sort();
    };
    assert.deepEqual(await complete("steward", ""), tree.commands.map((c) => c.name).sort());
    assert.deepEqual(await complete("steward", "dh"), ["dhcp"]);
    assert.deepEqual(await complete("steward", "dhcp", "network", "l"), ["list"]);
    assert.deepEqual(await complete("steward", "lockd", "st"), ["status", "stop"]);
    assert.ok((await complete("steward", "lock", "run", "--ex")).includes("--exclusive"));
    assert.deepEqual(await complete("steward", "dhcp", "--conf", "x", "modu"), ["module"]);
  });

  test("zsh completes subcommands and options", {
    skip: which("zsh") ? false : "zsh is not installed",
  }, async () => {
    const script = await runSteward(["completion", "zsh"], { via: "binary" });
    using tmp = tempDir("completion");
    const file = path.join(tmp.path, "_steward");
    fs.writeFileSync(file, script.stdout);
    const complete = async (...words: string[]) => {
      const r = await exec("zsh", [
        "-fc",
        `compdef() { :; }; _files() { print -- FILES; }; ` +
        `_describe() { print -l -- "\${(@P)4}"; }; source "$1"; shift; ` +
        `words=("$@"); CURRENT=$#; _steward`,
        "zsh",
        file,
        ...words,
      ]);
      return r.stdout.trim().split("\n").map((l) => l.replace(/(?<!\\):.*$/, ""));
    };
    assert.ok((await complete("steward", "dhcp", "network", "")).includes("list"));
    assert.ok((await complete("steward", "lock", "run", "-")).includes("--exclusive"));
    assert.deepEqual(await complete("steward", "lock", "run", "name", ""), ["FILES"]);
  });

  test("fish completes subcommands with descriptions and options", {
    skip: which("fish") ? false : "fish is not installed",
  }, async () => {
    const script = await runSteward(["completion", "fish"], { via: "binary" });
    using tmp = tempDir("completion");
    const file = path.join(tmp.path, "steward.fish");
    fs.writeFileSync(file, script.stdout);
    const complete = async (line: string) => {
      const r = await exec("fish", [
        "--no-config",
        "-c",
        `source $argv[1]; complete -C $argv[2]`,
        file,
        line,
      ]);
      return r.stdout.trim().split("\n");
    };
    assert.ok((await complete("steward dhcp network l")).some((l) => /^list\t/.test(l)));
    assert.ok((await complete("steward lock run --ex")).some((l) => /^--exclusive\t/.test(l)));
    assert.ok((await complete("steward ")).some((l) => /^realms\tRun and control/.test(l)));
  });

  test("an unknown shell is a usage error", async () => {
    const r = await runSteward(["completion", "tcsh"], { via: "binary" });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Unknown shell: tcsh/);
  });
});

describe("man pages and the install script", () => {
  test("the build makes steward.1 and one page per service, naming every command", () => {
    requireBinary();
    const tree = commandTree(buildProgram());
    const pages: Record<string, string[]> = {
      "steward.1": tree.commands.map((c) => c.name),
      "steward-realms.1": ["realms"],
      "steward-dhcp.1": ["dhcp"],
      "steward-lockd.1": ["lockd", "lock"],
    };
    for (const [page, tops] of Object.entries(pages)) {
      const text = fs.readFileSync(path.join(DIST, "man", page), "utf8");
      assert.match(text, new RegExp(`^\\.TH ${page.replace(/\.1$/, "").toUpperCase()} 1 `, "m"));
      const nodes = page === "steward.1"
        ? tree.commands
        : tree.commands.filter((c) => tops.includes(c.name)).flatMap(allNodes);
      for (const n of nodes) {
        const words = ["steward", ...n.path].join(" ").replace(/-/g, "\\-");
        assert.ok(text.includes(`\\fB${words}\\fR`), `${page} lacks ${words}`);
      }
    }
  });

  test("the man pages render without warnings", {
    skip: which("groff") ? false : "groff is not installed",
  }, async () => {
    for (const page of fs.readdirSync(path.join(DIST, "man"))) {
      const r = await exec("groff", ["-man", "-Tutf8", "-ww", "-z", path.join(DIST, "man", page)]);
      assert.equal(r.stderr, "", page);
    }
  });

  test("scripts/install.sh installs the binary, its links, man pages and completions", async () => {
    requireBinary();
    using tmp = tempDir("install");
    const r = await exec("sh", [path.join(ROOT, "scripts", "install.sh"), "/opt/steward"], {
      env: { ...process.env, DESTDIR: tmp.path },
      timeout: 60_000,
    });
    assert.match(r.stdout, /installed steward/);
    const root = path.join(tmp.path, "opt", "steward");
    for (
      const f of [
        "bin/steward",
        "share/man/man1/steward.1",
        "share/man/man1/steward-dhcp.1",
        "share/bash-completion/completions/steward",
        "share/zsh/site-functions/_steward",
        "share/fish/vendor_completions.d/steward.fish",
      ]
    ) assert.ok(fs.existsSync(path.join(root, f)), f);
    // The links name the final location (DESTDIR is a staging area).
    assert.equal(fs.readlinkSync(path.join(root, "bin", "pntadm")), "/opt/steward/bin/steward");
  });
});

describe("help", () => {
  test("steward help COMMAND prints that command's help", async () => {
    const viaHelp = await runSteward(["help", "dhcp", "network"], { via: "binary" });
    const viaOption = await runSteward(["dhcp", "network", "--help"], { via: "binary" });
    assert.equal(viaHelp.code, 0, viaHelp.stderr);
    assert.equal(viaHelp.stdout, viaOption.stdout);
    const top = await runSteward(["help"], { via: "binary" });
    assert.match(top.stdout, /^Usage: steward \[options\] \[command\]/);
  });

  test("a mistyped subcommand gets a suggestion and exit 2, also under a group that runs", async () => {
    for (
      const [args, hint] of [
        [["lockd", "stauts"], "status"],
        [["help", "lokd"], "lockd"],
        [["realms", "stauts"], "status"],
      ] as const
    ) {
      const r = await runSteward(args, { via: "binary" });
      assert.equal(r.code, 2, args.join(" "));
      assert.match(r.stderr, new RegExp(`Did you mean ${hint}\\?`), args.join(" "));
    }
  });

  test("help lines wrap to the terminal width", async () => {
    for (const columns of [60, 100]) {
      const r = await runSteward(["realms", "--help"], {
        via: "binary",
        env: { COLUMNS: String(columns) },
      });
      const long = r.stdout.split("\n").filter((l) =>
        l.length > columns && /\s\S+\s/.test(l.trim())
      );
      assert.deepEqual(long, [], `wider than ${columns}`);
    }
  });

  test("realms ctl --help has a plain usage line", async () => {
    const r = await runSteward(["realms", "ctl", "--help"], { via: "binary" });
    assert.match(r.stdout, /^Usage: steward realms ctl \[realmctl options\.\.\.\]$/m);
    assert.doesNotMatch(r.stdout, /\[options\] \[options\.\.\.\]/);
  });
});

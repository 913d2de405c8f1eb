/**
 * The npm package as a user gets it: `npm pack`, installed offline into a fresh project from
 * the local tarballs (steward's and its dependencies', packed from node_modules), type-checked
 * against the shipped declarations, and used from Node 24 and from Deno — a lock taken through
 * an on-demand lock manager started from the package, a lease looked up in the configured dhcp
 * store, a realms file parsed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { LockClient } from "../../lib/lockd/client.ts";
import { isDeno } from "../../lib/platform/runtime.ts";
import { ROOT, tempDir } from "../helpers.ts";

const run = promisify(execFile);
const BIN = path.join(ROOT, "node_modules", ".bin");
const NODE = fs.existsSync(path.join(BIN, "node")) ? fs.realpathSync(path.join(BIN, "node")) : "";
const DENO = path.join(BIN, "deno");
const BUILT = path.join(ROOT, "dist", "npm", "mod.js");

const CONSUMER = `import { LockClient, VERSION } from "steward/lockd";
import { DN_QCIP, DSVC_READ, ipToString, openConfiguredStore, parseIp, qeq, qinit } from "steward/dhcp";
import { RealmsFile } from "steward/realms";
import { conformanceSuite } from "steward/dhcp/testing";
import * as all from "steward";

const here = (p: string) => new URL(p, import.meta.url).pathname;
await using locks = new LockClient({ runDir: here("./run") });
let held = "";
{
  await using lock = await locks.acquire("pkg/test", { mode: "exclusive", timeoutMs: 10_000 });
  held = lock.name;
}
const daemon = locks.daemonPid > 0;
await locks.stopDaemon();

process.env.STEWARD_DHCPSVC_CONF = here("./dhcp/dhcpsvc.conf");
await using store = await openConfiguredStore();
await using net = await store.openNetwork("192.168.10.0", DSVC_READ);
const found = await net.lookup(qeq(qinit(), DN_QCIP), { cip: parseIp("192.168.10.20") as number });

console.log(JSON.stringify({
  version: VERSION,
  held,
  daemon,
  lease: found.records.map((r) => ipToString(r.cip) + " " + r.comment),
  realms: RealmsFile.parse('realm "a"\\n\\tmanager "m"\\n').names(),
  entries: [all.LockClient, all.openConfiguredStore, all.RealmManagerClient, conformanceSuite]
    .every((f) => typeof f === "function"),
}));
`;

const TSCONFIG = {
  compilerOptions: {
    target: "es2024",
    module: "nodenext",
    moduleResolution: "nodenext",
    lib: ["es2024", "esnext.disposable"],
    strict: true,
    noEmit: true,
    types: ["node"],
    typeRoots: [path.join(ROOT, "node_modules", "@types")],
  },
  files: ["use.ts"],
};

/**
 * The directories under node_modules of the package's runtime dependencies and theirs (optional
 * ones where installed), as npm resolves them: nested node_modules first, then the parents'.
 */
function runtimeDependencyDirs(): string[] {
  const found = new Set<string>();
  const visit = (pkgDir: string): void => {
    const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const name of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
      let dir = pkgDir;
      let at: string | undefined;
      for (;;) {
        const candidate = path.join(dir, "node_modules", name);
        if (fs.existsSync(path.join(candidate, "package.json"))) {
          at = candidate;
          break;
        }
        if (dir === ROOT) break;
        dir = path.dirname(dir);
      }
      if (at === undefined) {
        if (pkg.optionalDependencies?.[name] !== undefined) continue;
        throw new Error(`dependency ${name} of ${pkgDir} is not installed`);
      }
      if (found.has(at)) continue;
      found.add(at);
      visit(at);
    }
  };
  visit(ROOT);
  return [...found].sort();
}

test("the packed tarball installs offline into a fresh project and works from Node and Deno", {
  skip: isDeno()
    ? "the Node suite runs this test, and it runs the package under Node and under Deno"
    : !fs.existsSync(BUILT)
    ? "dist/npm is not built: run 'npm run build'"
    : false,
  timeout: 240_000,
}, async () => {
  using tmp = tempDir("tarball");
  const env = { ...process.env, npm_config_update_notifier: "false", NO_COLOR: "1" };
  const npm = async (args: string[], cwd: string) =>
    (await run("npm", [...args, "--no-audit", "--no-fund"], { cwd, env, timeout: 120_000 }))
      .stdout;
  await npm(["pack", "--pack-destination", tmp.path], ROOT);
  // Every runtime dependency, packed from node_modules: an offline install cannot fetch them.
  await npm(["pack", "--pack-destination", tmp.path, ...runtimeDependencyDirs()], ROOT);
  const tarballs = fs.readdirSync(tmp.path).filter((f) => f.endsWith(".tgz"));
  const steward = tarballs.find((f) => f.startsWith("steward-"));
  assert.ok(steward, `no steward tarball in ${tarballs.join(", ")}`);
  const listing = await run("tar", ["tzf", path.join(tmp.path, steward)]);
  assert.match(listing.stdout, /package\/dist\/npm\/lockd\.d\.ts/);
  assert.doesNotMatch(listing.stdout, /package\/(lib|tests)\//, "sources or tests in the tarball");

  const proj = path.join(tmp.path, "proj");
  fs.mkdirSync(path.join(proj, "run"), { recursive: true, mode: 0o700 });
  fs.writeFileSync(
    path.join(proj, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module" }),
  );
  await npm(["install", "--offline", ...tarballs.map((t) => path.join(tmp.path, t))], proj);
  fs.cpSync(path.join(ROOT, "examples", "dhcp"), path.join(proj, "dhcp"), { recursive: true });
  fs.writeFileSync(path.join(proj, "use.ts"), CONSUMER);
  fs.writeFileSync(path.join(proj, "tsconfig.json"), JSON.stringify(TSCONFIG));

  // The declarations type-check a user's program (tsc as a user's project runs it).
  await run(NODE, [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", proj], {
    cwd: proj,
    timeout: 120_000,
  }).catch((e: { stdout?: string }) => assert.fail(`tsc failed: ${e.stdout ?? String(e)}`));

  const expected = {
    version: JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).version,
    held: "pkg/test",
    daemon: true,
    lease: ["192.168.10.20 office printer"],
    realms: ["a"],
    entries: true,
  };
  // The dhcp store starts its own lock manager: in the project's run directory too.
  const runDir = path.join(proj, "run");
  const runEnv = { ...process.env, STEWARD_RUN_DIR: runDir };
  try {
    const viaNode = await run(NODE, ["use.ts"], { cwd: proj, env: runEnv, timeout: 60_000 });
    assert.deepEqual(JSON.parse(viaNode.stdout), expected, viaNode.stderr);
    const viaDeno = await run(DENO, ["run", "--quiet", "--allow-all", "use.ts"], {
      cwd: proj,
      env: runEnv,
      timeout: 60_000,
    });
    assert.deepEqual(JSON.parse(viaDeno.stdout), expected, viaDeno.stderr);
  } finally {
    const locks = new LockClient({ runDir, autoStart: false });
    await locks.stopDaemon().catch(() => {});
    locks.close();
  }

  // The package's command, also through a link named after an upstream tool.
  const main = path.join(proj, "node_modules", "steward", "dist", "npm", "cli", "main.js");
  const version = await run(NODE, [main, "--version"], { cwd: proj, timeout: 60_000 });
  assert.match(version.stdout, new RegExp(`^steward ${expected.version}\n`));
  fs.symlinkSync(main, path.join(proj, "lsrealm"));
  fs.writeFileSync(path.join(proj, "r.realm"), 'realm "a"\n\tstate "active"\n\tmanager "m"\n');
  const lsrealm = await run(NODE, [path.join(proj, "lsrealm"), "r.realm"], { cwd: proj });
  assert.match(lsrealm.stdout, /^a\s+active$/m);
});

/**
 * The `@module` example of every entry point, and the README's library example, as a user
 * copies them: extracted from the doc, the package's imports pointed at the local entry points,
 * type-checked with `deno check`, and run under Node and under Deno against a private lock manager, a copy of
 * examples/dhcp and a running realms daemon.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { LockClient } from "../lib/lockd/client.ts";
import { isDeno } from "../lib/platform/runtime.ts";
import { ROOT, tempDir } from "./helpers.ts";
import { startDaemon, writeFixture } from "./realms/daemon-helpers.ts";

const run = promisify(execFile);
const DENO = path.join(ROOT, "node_modules", ".bin", "deno");
const NODE = path.join(ROOT, "node_modules", ".bin", "node");
const ENTRIES: Record<string, string> = {
  "@steward/steward/dhcp/testing": "dhcp-testing.ts",
  "@steward/steward/lockd": "lockd.ts",
  "@steward/steward/dhcp": "dhcp.ts",
  "@steward/steward/realms": "realms.ts",
  "@steward/steward": "mod.ts",
};

/**
 * The ```ts blocks of the file's opening doc comment (of the whole file, for Markdown), imports
 * of the package (`@steward/steward…` as on JSR, `steward…` as on npm) pointed at `ROOT`.
 */
function examples(file: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), "utf8");
  const doc = file.endsWith(".md") ? text : (/^\/\*\*([\s\S]*?)\*\//.exec(text)?.[1] ?? "")
    .split("\n").map((l) => l.replace(/^\s*\* ?/, "")).join("\n");
  return [...doc.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) =>
    (m[1] as string).replace(/"((?:@steward\/)?steward(?:\/[a-z/]+)?)"/g, (_, spec: string) => {
      const target = ENTRIES[spec.replace(/^steward/, "@steward/steward")];
      assert.ok(target, `${file}: unknown import ${spec}`);
      return JSON.stringify(pathToFileURL(path.join(ROOT, target)).href);
    })
  );
}

test("every entry point's examples type-check, and the main tasks run on Node and Deno", {
  skip: isDeno() ? "the Node suite runs this test, and it runs the examples under both" : false,
  timeout: 180_000,
}, async () => {
  using tmp = tempDir("examples");
  const files: Record<string, string> = {};
  for (const entry of [...new Set(Object.values(ENTRIES)), "README.md"]) {
    const blocks = examples(entry);
    assert.ok(blocks.length > 0, `${entry} has no example`);
    blocks.forEach((code, i) => {
      const f = path.join(tmp.path, `${entry.replace(/\.(ts|md)$/, "")}-${i}.ts`);
      fs.writeFileSync(f, code);
      files[`${entry}#${i}`] = f;
    });
  }
  await run(DENO, [
    "check",
    "--quiet",
    `--config=${path.join(ROOT, "deno.json")}`,
    ...Object.values(files),
  ], {
    cwd: ROOT,
    timeout: 120_000,
  }).catch((e: { stderr?: string }) => assert.fail(`deno check failed: ${e.stderr ?? e}`));

  // What the examples run against: their own lock manager, dhcp store and realms daemon.
  const runDir = path.join(tmp.path, "run");
  fs.mkdirSync(runDir, { mode: 0o700 });
  fs.cpSync(path.join(ROOT, "examples", "dhcp"), path.join(tmp.path, "dhcp"), { recursive: true });
  fs.copyFileSync(
    path.join(ROOT, "examples", "realms", "example.realm"),
    path.join(tmp.path, "example.realm"),
  );
  writeFixture(tmp.path);
  const daemon = await startDaemon(tmp.path);
  const env = {
    ...process.env,
    STEWARD_RUN_DIR: runDir,
    STEWARD_DHCPSVC_CONF: path.join(tmp.path, "dhcp", "dhcpsvc.conf"),
    NO_COLOR: "1",
  };
  const runtimes: Array<[string, (f: string) => [string, string[]]]> = [
    ["node", (f) => [NODE, [f]]],
    ["deno", (f) => [DENO, ["run", "--quiet", "--allow-all", "--no-check", f]]],
  ];
  try {
    for (const [name, argv] of runtimes) {
      const out = async (key: string) => {
        const [cmd, args] = argv(files[key] as string);
        const r = await run(cmd, args, { cwd: tmp.path, env, timeout: 60_000 }).catch((
          e: { stderr?: string },
        ) => assert.fail(`${key} under ${name}: ${e.stderr ?? e}`));
        return r.stdout;
      };
      assert.match(
        await out("lockd.ts#0"),
        /holding backup\/nightly \(exclusive\)\nlock manager pid \d+, 0 lock\(s\) held/,
      );
      assert.match(await out("mod.ts#0"), /holding backup\/nightly/);
      assert.equal(await out("README.md#0"), "");
      assert.equal(
        await out("dhcp.ts#0"),
        "192.168.10.20 01080020ABCDEF dhcpsrv office printer\n".repeat(2),
      );
      const realms = await out("realms.ts#0");
      assert.match(realms, /^alpha: active in the file\nbeta: active in the file\n/);
      assert.match(realms, /alpha: \S+ in the daemon/);
    }
  } finally {
    await daemon.stop();
    const locks = new LockClient({ runDir, autoStart: false });
    await locks.stopDaemon().catch(() => {});
    locks.close();
  }
});

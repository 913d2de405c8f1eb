import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT } from "./helpers.ts";

/** The entry points, as package.json and deno.json export them. */
const ENTRIES: Record<string, string> = {
  ".": "mod.ts",
  "./lockd": "lockd.ts",
  "./dhcp": "dhcp.ts",
  "./realms": "realms.ts",
  "./dhcp/testing": "dhcp-testing.ts",
};

function json(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(ROOT, file), "utf8")) as Record<string, unknown>;
}

function statements(file: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), "utf8");
  const code = text.replace(/\/\*\*[\s\S]*?\*\//g, "").split("\n").map((l) => l.trim())
    .filter((l) => l && !l.startsWith("//"));
  return code.join(" ").split(";").map((s) => s.trim()).filter(Boolean);
}

/** Relative imports of a source file (static `import`/`export … from`, and `import("…")`). */
function relativeImports(file: string): string[] {
  const text = fs.readFileSync(file, "utf8");
  const found: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*"(\.\.?\/[^"]+\.ts)"/g)) {
    found.push(path.resolve(path.dirname(file), m[1] as string));
  }
  return found;
}

/** Every source file `entry` loads, following relative imports. */
function moduleGraph(entry: string): string[] {
  const seen = new Set<string>();
  const todo = [path.join(ROOT, entry)];
  for (let i = 0; i < todo.length && i < 5000; i++) {
    const f = todo[i] as string;
    // A path named in a doc comment (`import … from "./mod.ts"`) need not exist.
    if (seen.has(f) || !fs.existsSync(f)) continue;
    seen.add(f);
    todo.push(...relativeImports(f));
  }
  return [...seen].map((f) => path.relative(ROOT, f).split(path.sep).join("/")).sort();
}

test("each service entry point only re-exports from lib/, and mod.ts only from them", () => {
  for (const file of Object.values(ENTRIES)) {
    const from = file === "mod.ts" ? /"\.\/[a-z-]+\.ts"$/ : /"\.\/lib\/[^"]+\.ts"$/;
    for (const s of statements(file)) {
      assert.match(s, /^export (\*|\{[^}]*\}|type \{[^}]*\}) from "[^"]+"$/, `${file}: ${s}`);
      assert.match(s, from, `${file}: ${s}`);
    }
  }
  const mod = statements("mod.ts").join("\n");
  for (const file of ["lockd.ts", "dhcp.ts", "realms.ts"]) assert.match(mod, new RegExp(file));
});

test("package.json and deno.json export the same entry points", () => {
  const pkg = json("package.json");
  const deno = json("deno.json");
  assert.deepEqual(
    deno.exports,
    Object.fromEntries(
      Object.entries(ENTRIES).map(([k, v]) => [k, `./${v}`]),
    ),
  );
  const exportsMap = pkg.exports as Record<string, unknown>;
  for (const [key, file] of Object.entries(ENTRIES)) {
    const js = file.replace(/\.ts$/, "");
    assert.deepEqual(exportsMap[key], {
      types: `./dist/npm/${js}.d.ts`,
      default: `./dist/npm/${js}.js`,
    }, key);
  }
});

test("each entry point opens with a @module doc that has an example", () => {
  for (const file of Object.values(ENTRIES)) {
    const text = fs.readFileSync(path.join(ROOT, file), "utf8");
    const doc = /^\/\*\*([\s\S]*?)\*\//.exec(text)?.[1] ?? "";
    assert.match(doc, /@module/, file);
    assert.match(doc, /@example[^\n]*\n\s*\* ```ts/, file);
  }
});

test("the lockd entry point loads no dhcp or realms code, nor the lock manager's daemon side", () => {
  const graph = moduleGraph("lockd.ts");
  assert.ok(graph.includes("lib/lockd/client.ts"), graph.join(", "));
  const foreign = graph.filter((f) =>
    /^lib\/(dhcp|realms)\//.test(f) || /^lib\/lockd\/(daemon|service|hostlock)\.ts$/.test(f)
  );
  assert.deepEqual(foreign, [], `lockd.ts loads ${foreign.join(", ")}`);
});

test("the library version matches package.json and deno.json", async () => {
  const { VERSION } = await import("../mod.ts");
  assert.equal(VERSION, json("package.json").version);
  assert.equal(VERSION, json("deno.json").version);
});

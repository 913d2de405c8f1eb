import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT } from "./helpers.ts";

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith(".ts") ? [p] : [];
  });
}

test("every public file under lib/ is exported from mod.ts or marked internal", () => {
  const mod = fs.readFileSync(path.join(ROOT, "mod.ts"), "utf8");
  const missing: string[] = [];
  for (const file of tsFiles(path.join(ROOT, "lib"))) {
    const rel = `./${path.relative(ROOT, file).split(path.sep).join("/")}`;
    const head = fs.readFileSync(file, "utf8").slice(0, 600);
    const internal = /^\s*\/\*\*[\s\S]*?@internal[\s\S]*?\*\//.test(head);
    if (!internal && !mod.includes(`from "${rel}"`)) missing.push(rel);
  }
  assert.deepEqual(
    missing,
    [],
    `neither exported from mod.ts nor marked @internal: ${missing.join(", ")}`,
  );
});

test("mod.ts only re-exports", () => {
  const mod = fs.readFileSync(path.join(ROOT, "mod.ts"), "utf8");
  const code = mod.replace(/\/\*\*[\s\S]*?\*\//g, "").split("\n").map((l) => l.trim())
    .filter((l) => l && !l.startsWith("//"));
  const joined = code.join(" ");
  const statements = joined.split(";").map((s) => s.trim()).filter(Boolean);
  for (const s of statements) {
    assert.match(s, /^export (\*|\{[^}]*\}|type \{[^}]*\}) from "\.\/lib\/[^"]+\.ts"$/, s);
  }
});

test("the library version matches package.json", async () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
    version: string;
  };
  const { VERSION } = await import("../mod.ts");
  assert.equal(VERSION, pkg.version);
});

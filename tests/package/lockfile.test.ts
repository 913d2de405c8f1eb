/**
 * `npm ci` accepts the lock file only if it lists every dependency npm could install, on every
 * platform: each optional platform binary (Deno's, esbuild's) must have its entry, even though
 * npm installs only this machine's.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT } from "../helpers.ts";

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

test("the lock file has an entry for every dependency, optional platform binaries included", () => {
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as {
    packages: Record<string, LockEntry>;
  };
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as LockEntry;
  assert.deepEqual(lock.packages[""]?.dependencies, pkg.dependencies, "root dependencies");
  assert.deepEqual(lock.packages[""]?.devDependencies, pkg.devDependencies, "root devDependencies");
  const missing: string[] = [];
  for (const [where, entry] of Object.entries(lock.packages)) {
    const deps = { ...entry.dependencies, ...entry.optionalDependencies };
    for (const name of Object.keys(deps)) {
      // npm looks a dependency up in node_modules/ beside the package, then in each one further out.
      const candidates: string[] = [];
      let base = where;
      for (let depth = 0; depth < 64; depth++) {
        candidates.push(`${base}${base ? "/" : ""}node_modules/${name}`);
        const outer = base.replace(/\/?node_modules\/(@[^/]+\/)?[^/]+$/, "");
        if (base === "" || outer === base) break;
        base = outer;
      }
      if (!candidates.some((c) => lock.packages[c])) {
        missing.push(`${where || "(root)"} -> ${name}`);
      }
    }
  }
  assert.deepEqual(
    missing,
    [],
    "missing from package-lock.json (run npm install --package-lock-only)",
  );
});

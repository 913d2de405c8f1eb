/**
 * Path guard: every file a request can name is resolved (symlinks included) and must stay
 * inside one of the service's roots.
 * @module
 */
import fs from "node:fs";
import path from "node:path";

/** Raised when a path leaves the allowed roots. */
export class PathGuardError extends Error {
  override name = "PathGuardError";
  /** The path that was refused. */
  readonly path: string;
  constructor(p: string, why: string) {
    super(`Path refused: ${p}: ${why}`);
    this.path = p;
  }
}

function realpathOfExistingPrefix(p: string): string {
  // Resolve the deepest existing ancestor, then append the rest, so a file that does not exist
  // yet is judged by the real directory it would be created in.
  let current = p;
  const rest: string[] = [];
  for (;;) {
    try {
      const real = fs.realpathSync(current);
      return rest.length ? path.join(real, ...rest.reverse()) : real;
    } catch {
      const parent = path.dirname(current);
      if (parent === current) return p;
      rest.push(path.basename(current));
      current = parent;
    }
  }
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/** Refuses any path outside its roots, after resolving symlinks. */
export class PathGuard {
  readonly roots: readonly string[];

  constructor(roots: readonly string[]) {
    if (roots.length === 0) throw new Error("A path guard needs at least one root");
    this.roots = roots.map((r) => realpathOfExistingPrefix(path.resolve(r)));
  }

  /** The real absolute path of `p` (relative paths are taken from the first root); throws outside the roots. */
  resolve(p: string): string {
    if (p.includes("\0")) {
      throw new PathGuardError(p.replaceAll("\0", "\\0"), "contains a NUL byte");
    }
    const base = this.roots[0] as string;
    const abs = path.resolve(base, p);
    const real = realpathOfExistingPrefix(abs);
    if (!this.roots.some((r) => inside(r, real))) {
      throw new PathGuardError(p, `outside ${this.roots.join(", ")}`);
    }
    return real;
  }

  /** Whether `p` resolves inside the roots. */
  allows(p: string): boolean {
    try {
      this.resolve(p);
      return true;
    } catch {
      return false;
    }
  }
}

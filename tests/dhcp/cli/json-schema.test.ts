/**
 * Every `--json` command of `steward dhcp`, run from the built binary, against the schemas that
 * docs/dhcp.md "JSON output" documents: the tables are parsed from the document, so a field
 * renamed, removed or retyped in the code (or in the document) fails here. Each command is also
 * made to fail, and must then print the documented error object on standard output, with the
 * exit code it names and its message on standard error.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import fs from "node:fs";
import path from "node:path";
import { collect, exited, ROOT, spawnSteward, waitFor } from "../../helpers.ts";
import { type DhcpSandbox, dhcpSandbox } from "./helpers.ts";

// --- The schemas, from the document --------------------------------------------------------

interface Field {
  types: string[];
  optional: boolean;
}

interface SchemaNode {
  field?: Field;
  children: Map<string, SchemaNode>;
}

/** Each table of the "JSON output" section, under the commands named in bold before it. */
function documentedSchemas(markdown: string): Map<string, Map<string, Field>> {
  const start = markdown.indexOf("\n## JSON output\n");
  assert.ok(start >= 0, 'docs/dhcp.md has no "JSON output" section');
  const end = markdown.indexOf("\n## ", start + 1);
  const lines = markdown.slice(start, end < 0 ? undefined : end).split("\n");
  const schemas = new Map<string, Map<string, Field>>();
  let names: string[] = [];
  let table: Map<string, Field> | undefined;
  for (const line of lines) {
    if (line.startsWith("|")) {
      const cells = line.split("|").slice(1, -1).map((c) => c.trim());
      const m = /^`([^`]+)`$/.exec(cells[0] ?? "");
      if (!m) continue; // the header and its rule
      if (!table) {
        assert.ok(names.length > 0, `a JSON table without a command before it: ${line}`);
        table = new Map();
        for (const n of names) schemas.set(n, table);
      }
      let type = cells[1] ?? "";
      const optional = type.endsWith("?");
      if (optional) type = type.slice(0, -1);
      table.set(m[1] as string, { types: type.split(/\s+or\s+/), optional });
      continue;
    }
    table = undefined;
    if (line.trim() === "") continue;
    const bold = [...line.matchAll(/\*\*`([^`]+)`\*\*/g)].map((x) => x[1] as string);
    if (/^\*\*The error object\*\*/.test(line)) names = ["error"];
    else if (bold.length > 0) names = bold.map((b) => b.replace(/ --json$/, ""));
  }
  return schemas;
}

function tree(fields: Map<string, Field>, dropArray = false): SchemaNode {
  const root: SchemaNode = { children: new Map() };
  for (const [p, f] of fields) {
    const name = dropArray ? p.replace(/^\[\]\./, "") : p;
    const segs = name.replace(/\[\]/g, ".[]").replace(/^\./, "").split(".");
    let node = root;
    for (const s of segs) {
      let next = node.children.get(s);
      if (!next) node.children.set(s, next = { children: new Map() });
      node = next;
    }
    node.field = f;
  }
  return root;
}

function typeOk(type: string, v: unknown): boolean {
  if (type.endsWith("[]")) return Array.isArray(v) && v.every((e) => typeOk(type.slice(0, -2), e));
  switch (type) {
    case "string":
      return typeof v === "string";
    case "integer":
      return Number.isInteger(v);
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    case "boolean":
      return typeof v === "boolean";
    case "null":
      return v === null;
    default:
      throw new Error(`docs/dhcp.md uses an unknown JSON type: ${type}`);
  }
}

/** Every way `value` departs from the schema `node`, as messages. */
function check(value: unknown, node: SchemaNode, where: string): string[] {
  if (node.field) {
    const ok = node.field.types.some((t) => typeOk(t, value));
    return ok ? [] : [`${where}: ${JSON.stringify(value)} is not ${node.field.types.join(" or ")}`];
  }
  const each = node.children.get("[]");
  if (each) {
    if (!Array.isArray(value)) return [`${where}: not an array`];
    return value.flatMap((v, i) => check(v, each, `${where}[${i}]`));
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return [`${where}: not an object`];
  }
  const obj = value as Record<string, unknown>;
  const out: string[] = [];
  for (const [k, child] of node.children) {
    if (k === "*") continue;
    if (!(k in obj)) {
      if (!child.field?.optional) out.push(`${where}.${k}: missing`);
      continue;
    }
    out.push(...check(obj[k], child, `${where}.${k}`));
  }
  const any = node.children.get("*");
  for (const k of Object.keys(obj)) {
    if (node.children.has(k)) continue;
    if (any) out.push(...check(obj[k], any, `${where}.${k}`));
    else out.push(`${where}.${k}: not documented`);
  }
  return out;
}

const SCHEMAS = documentedSchemas(fs.readFileSync(path.join(ROOT, "docs", "dhcp.md"), "utf8"));

function schema(command: string, dropArray = false): SchemaNode {
  const fields = SCHEMAS.get(command);
  assert.ok(fields, `docs/dhcp.md documents no JSON output for ${command}`);
  return tree(fields, dropArray);
}

function assertSchema(value: unknown, node: SchemaNode, what: string): void {
  const problems = check(value, node, "$");
  assert.deepEqual(problems, [], `${what}: ${JSON.stringify(value, null, 2)}`);
}

// --- Running the commands -------------------------------------------------------------------

let sb: DhcpSandbox;

async function success(args: string[], env: Record<string, string> = {}, exit = 0) {
  const r = await sb.run(["dhcp", ...args], { env });
  assert.equal(r.code, exit, `steward dhcp ${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout) as unknown;
}

/** Run a failing command: the error object on stdout, its exit code, its message on stderr. */
async function failure(
  command: string,
  args: string[],
  want: { exitCode: number; dsvc?: string | null; error?: RegExp },
  env: Record<string, string> = {},
): Promise<void> {
  const r = await sb.run(["dhcp", ...args], { env });
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(r.stdout);
  } catch {
    assert.fail(`steward dhcp ${args.join(" ")} printed no JSON error object: ${r.stdout}`);
  }
  assertSchema(obj, schema("error"), `the error object of ${command}`);
  assert.equal(obj.ok, false);
  assert.equal(obj.command, command);
  assert.equal(r.code, want.exitCode, r.stderr);
  assert.equal(obj.exitCode, r.code, "the object names the exit code");
  if (want.dsvc !== undefined) assert.equal(obj.dsvc, want.dsvc);
  if (want.error) assert.match(String(obj.error), want.error);
  assert.ok(
    r.stderr.startsWith(`steward: ${obj.error as string}\n`),
    `the message is on stderr too: ${r.stderr}`,
  );
}

const NO_CONF = { STEWARD_DHCPSVC_CONF: "/nonexistent/dhcpsvc.conf" };

describe("steward dhcp --json output matches docs/dhcp.md", () => {
  before(() => {
    sb = dhcpSandbox("json-schema");
  });
  after(async () => {
    await sb.dispose();
  });

  test("the document has a schema for every --json command and for the error object", () => {
    for (
      const c of [
        "error",
        "module list",
        "module info NAME",
        "config show [KEY…]",
        "network list",
        "network show NET",
        "network check NET",
        "table show",
        "convert",
        "serve status",
      ]
    ) {
      assert.ok(SCHEMAS.has(c), `no schema for ${c}: ${[...SCHEMAS.keys()].join(", ")}`);
    }
  });

  test("module list and module info", async () => {
    const list = await success(["module", "list", "--json"]);
    assert.ok(Array.isArray(list) && list.length >= 2);
    assertSchema(list, schema("module list"), "module list");
    assertSchema(
      await success(["module", "info", "SUNWfiles", "--json"]),
      schema("module info NAME", true),
      "module info",
    );
    await failure("module info", ["module", "info", "Nope", "--json"], {
      exitCode: 1,
      dsvc: null,
      error: /No such module: Nope/,
    });
  });

  test("config show", async () => {
    const all = await success(["config", "show", "--json"]) as Record<string, unknown>;
    assert.equal(all.RESOURCE, "SUNWfiles");
    assertSchema(all, schema("config show [KEY…]"), "config show");
    assertSchema(
      await success(["config", "show", "path", "--json"]),
      schema("config show [KEY…]"),
      "",
    );
    await failure("config show", ["config", "show", "NOPE", "--json"], {
      exitCode: 1,
      error: /Not set in .*: NOPE/,
    });
    await failure("config show", ["config", "show", "--json"], { exitCode: 1 }, NO_CONF);
  });

  test("network list, show and check", async () => {
    const list = await success(["network", "list", "--json"]) as unknown[];
    assert.equal(list.length, 1);
    assertSchema(list, schema("network list"), "network list");
    const show = await success(["network", "show", "192.168.10.0", "--json"]) as unknown[];
    assert.ok(show.length > 0);
    assertSchema(show, schema("network show NET"), "network show");
    const check = await success(["network", "check", "192.168.10.0", "--json"]);
    assertSchema(check, schema("network check NET"), "network check");
    await failure("network list", ["network", "list", "--json"], { exitCode: 1 }, NO_CONF);
    await failure("network show", ["network", "show", "10.0.0.0", "--json"], {
      exitCode: 1,
      dsvc: "DSVC_NO_TABLE",
    });
    await failure("network show", ["network", "show", "10.9.9.0", "--json"], {
      exitCode: 2,
      dsvc: null,
      error: /host bits/,
    });
    await failure("network show", ["network", "show", "--json"], {
      exitCode: 2,
      dsvc: null,
      error: /missing required argument 'network'/,
    });
    await failure("network list", ["network", "list", "--json", "--bogus"], {
      exitCode: 2,
      error: /unknown option '--bogus'/,
    });
    await failure("network check", ["network", "check", "10.0.0.0", "--json"], {
      exitCode: 1,
      dsvc: "DSVC_NO_TABLE",
    });
  });

  test("table show", async () => {
    const t = await success(["table", "show", "--json"]) as { type: string }[];
    assert.ok(t.some((r) => r.type === "macro"));
    assertSchema(t, schema("table show"), "table show");
    await failure("table show", ["table", "show", "--json"], { exitCode: 1 }, NO_CONF);
  });

  test("serve status, of a running and of a stopped server", async () => {
    const port = await freeUdpPort();
    const conf = path.join(sb.dir, "serve.conf");
    const statusFile = path.join(sb.dir, "status.json");
    fs.writeFileSync(
      conf,
      `RESOURCE=SUNWfiles\nPATH=${sb.store}\nCONVER=1\nRUN_MODE=server\n` +
        `STEWARD_SERVE_ADDRESS=127.0.0.1\nSTEWARD_SERVE_PORT=${port}\n` +
        `STEWARD_SERVE_SERVER_ID=192.168.10.1\nSTEWARD_SERVE_NETWORKS=192.168.10.0/24\n` +
        `STEWARD_SERVE_LOG=${path.join(sb.dir, "serve.log")}\n`,
    );
    const env = { ...sb.env, STEWARD_DHCPSVC_CONF: conf };
    await failure("serve status", ["serve", "status", "--status-file", statusFile, "--json"], {
      exitCode: 1,
      error: /No server status in/,
    }, env);
    const server = spawnSteward([
      "dhcp",
      "serve",
      "--status-file",
      statusFile,
      "--pid-file",
      path.join(sb.dir, "dhcpd.pid"),
    ], { via: "binary", env });
    const out = collect(server);
    try {
      await waitFor(
        () => {
          try {
            return JSON.parse(fs.readFileSync(statusFile, "utf8")).state === "running";
          } catch {
            return false;
          }
        },
        20_000,
        `the server's status file (${out.stderr()})`,
      );
      const s = await success(["serve", "status", "--status-file", statusFile, "--json"], env);
      assert.equal((s as { running: boolean }).running, true);
      assertSchema(s, schema("serve status"), "serve status (running)");
    } finally {
      server.kill("SIGTERM");
      await exited(server);
    }
    const stopped = await success(
      ["serve", "status", "--status-file", statusFile, "--json"],
      env,
      1,
    ) as { running: boolean };
    assert.equal(stopped.running, false);
    assertSchema(stopped, schema("serve status"), "serve status (stopped)");
  });

  test("convert, then converting onto the same store", async () => {
    const to = path.join(sb.dir, "bin");
    const r = await success(["convert", "--resource", "SUNWbinfiles", "--path", to, "--json"]);
    assertSchema(r, schema("convert"), "convert");
    await failure("convert", ["convert", "--resource", "SUNWbinfiles", "--path", to, "--json"], {
      exitCode: 1,
      dsvc: "DSVC_INVAL",
      error: /already is SUNWbinfiles/,
    });
    await failure("convert", ["convert", "--json"], { exitCode: 2, error: /--resource/ });
  });
});

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket("udp4");
    s.once("error", reject);
    s.bind(0, "127.0.0.1", () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

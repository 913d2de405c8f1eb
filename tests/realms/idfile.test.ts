import { after, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { Buffer } from "node:buffer";
import { alive, tempDir, waitFor } from "../helpers.ts";
import {
  openRealmChannelServer,
  type RealmChannelServer,
  RealmCommandQueue,
} from "../../lib/realms/transport/server.ts";
import {
  claimRealmmgrId,
  haltRealmmgr,
  isRealmmgrRunning,
  readRealmmgrId,
  realmmgrCommandInterrupt,
  realmmgrLocation,
  removeRealmmgrId,
} from "../../lib/realms/idfile.ts";
import { REALM_RC } from "../../lib/realms/protocol/codes.ts";
import { REALM_REPLY } from "../../lib/realms/protocol/bodies.ts";
import { SocketInUseError } from "../../lib/ipc/socket.ts";

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) {
    if (c.pid && c.exitCode === null) {
      try {
        process.kill(c.pid, "SIGKILL");
      } catch { /* gone */ }
    }
  }
});

/** Send raw bytes, optionally half-close, and collect everything until the server closes. */
function exchange(
  socketPath: string,
  bytes: string,
  options: { end?: boolean; closeAfterWrite?: boolean } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    const chunks: Buffer[] = [];
    s.on("data", (d) => chunks.push(d));
    s.on("error", reject);
    s.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
    s.on("connect", () => {
      if (bytes) s.write(bytes);
      if (options.closeAfterWrite) s.destroy();
      else if (options.end) s.end();
    });
  });
}

async function echoServer(
  stateDir: string,
  extra: Partial<Parameters<typeof openRealmChannelServer>[0]> = {},
): Promise<RealmChannelServer> {
  return await openRealmChannelServer({
    stateDir,
    requestTimeoutMs: 300,
    handler: (req) => ({
      code: REALM_RC.OKAY,
      message: `${req.command}|${req.data}|${req.source}`,
    }),
    ...extra,
  });
}

test("the channel server answers the exact upstream bytes and closes", async () => {
  using tmp = tempDir("chan");
  const server = await echoServer(tmp.path);
  try {
    assert.equal(server.path, path.join(tmp.path, "dnssec-tools", "realmmgr.socket"));
    assert.equal(fs.statSync(server.path).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(server.path)).mode & 0o777, 0o700);
    assert.equal(
      await exchange(server.path, "realmcmd_stoprealm \r\nfoo \r\n"),
      "0 \r\nrealmcmd_stoprealm|foo|socket \r\n",
    );
    assert.equal(
      await exchange(server.path, "realmcmd_status \r\n \r\n"),
      "0 \r\nrealmcmd_status||socket \r\n",
    );
  } finally {
    await server.close();
  }
  assert.equal(fs.existsSync(server.path), false, "close removes the socket");
});

test("the channel server answers unknown commands and garbage with code 12", async () => {
  using tmp = tempDir("chan");
  const server = await echoServer(tmp.path);
  try {
    assert.equal(
      await exchange(server.path, "realmcmd_bogus \r\n \r\n"),
      '12 \r\nunknown command "realmcmd_bogus" \r\n',
    );
    assert.match(
      await exchange(server.path, "\0\x01\x02garbage\n\n"),
      /^12 \r\nmalformed request: /,
    );
    assert.match(
      await exchange(server.path, "x".repeat(20_000)),
      /^12 \r\nmalformed request: .*longer/,
    );
  } finally {
    await server.close();
  }
});

test("an idle client is answered and dropped while others are served", async () => {
  using tmp = tempDir("chan");
  const server = await echoServer(tmp.path, { requestTimeoutMs: 1500 });
  try {
    const idle = exchange(server.path, "");
    const started = Date.now();
    assert.equal(
      await exchange(server.path, "realmcmd_status \r\n \r\n"),
      "0 \r\nrealmcmd_status||socket \r\n",
    );
    assert.ok(Date.now() - started < 1000, "not blocked by the idle client");
    assert.match(await idle, /^12 \r\nmalformed request: no complete request within 1500 ms \r\n$/);
  } finally {
    await server.close();
  }
});

test("clients that vanish early do not disturb the server", async () => {
  using tmp = tempDir("chan");
  let handled = 0;
  const server = await openRealmChannelServer({
    stateDir: tmp.path,
    handler: async () => {
      handled++;
      await new Promise((r) => setTimeout(r, 30));
      return { code: 0, message: "x".repeat(200_000) };
    },
  });
  try {
    await Promise.all(
      Array.from(
        { length: 20 },
        () => exchange(server.path, "realmcmd_status \r\n \r\n", { closeAfterWrite: true }),
      ),
    );
    await waitFor(() => handled === 20 && server.connections === 0, 5000, "all handled");
    const reply = await exchange(server.path, "realmcmd_status \r\n \r\n");
    assert.equal(reply.length, 4 + 200_000 + 3);
  } finally {
    await server.close();
  }
});

test("a client that half-closes after the command line still gets its reply", async () => {
  using tmp = tempDir("chan");
  const server = await echoServer(tmp.path);
  try {
    assert.equal(
      await exchange(server.path, "realmcmd_realmstatus \r\n", { end: true }),
      "0 \r\nrealmcmd_realmstatus||socket \r\n",
    );
  } finally {
    await server.close();
  }
});

test("afterReply runs once the reply is sent; a throwing handler answers code 15", async () => {
  using tmp = tempDir("chan");
  let afterRan = false;
  const errors: unknown[] = [];
  const server = await openRealmChannelServer({
    stateDir: tmp.path,
    handler: (req) => {
      if (req.command === "realmcmd_logfile") throw new Error("disk on fire");
      return {
        reply: { code: 0, message: REALM_REPLY.shuttingDown },
        afterReply: () => {
          afterRan = true;
        },
      };
    },
    onHandlerError: (e) => errors.push(e),
  });
  try {
    assert.equal(
      await exchange(server.path, "realmcmd_shutdown \r\n \r\n"),
      "0 \r\ndtrealms shutting down \r\n",
    );
    await waitFor(() => afterRan, 2000, "afterReply");
    assert.equal(
      await exchange(server.path, "realmcmd_logfile \r\n/x \r\n"),
      "15 \r\ncommand failed: disk on fire \r\n",
    );
    assert.equal(errors.length, 1);
  } finally {
    await server.close();
  }
});

test("afterReply runs even when the client left before the reply", async () => {
  using tmp = tempDir("chan");
  let afterRuns = 0;
  const server = await openRealmChannelServer({
    stateDir: tmp.path,
    handler: async () => {
      await new Promise((r) => setTimeout(r, 100));
      return {
        reply: { code: 0, message: REALM_REPLY.shuttingDown },
        afterReply: () => {
          afterRuns++;
        },
      };
    },
  });
  try {
    await exchange(server.path, "realmcmd_shutdown \r\n \r\n", { closeAfterWrite: true });
    await waitFor(() => afterRuns === 1, 3000, "afterReply");
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(afterRuns, 1, "exactly once");
  } finally {
    await server.close();
  }
});

test("queued commands run before the next socket command", async () => {
  using tmp = tempDir("chan");
  const seen: string[] = [];
  const queue = new RealmCommandQueue();
  const server = await openRealmChannelServer({
    stateDir: tmp.path,
    queue,
    handler: (req) => {
      seen.push(`${req.source}:${req.command}:${req.data}`);
      return { code: 0, message: "" };
    },
  });
  try {
    queue.queue("realmcmd_startrealm", "a");
    queue.queue("realmcmd_stoprealm", "b");
    assert.equal(queue.all().length, 2);
    await exchange(server.path, "realmcmd_status \r\n \r\n");
    assert.deepEqual(seen, [
      "queue:realmcmd_startrealm:a",
      "queue:realmcmd_stoprealm:b",
      "socket:realmcmd_status:",
    ]);
    assert.equal(queue.size, 0);
  } finally {
    await server.close();
  }
});

test("the command queue returns its items before clearing them", () => {
  const q = new RealmCommandQueue();
  q.queue("realmcmd_status");
  q.queue("realmcmd_startrealm", "x");
  assert.deepEqual(q.all({ clear: true }), [
    { command: "realmcmd_status", data: "" },
    { command: "realmcmd_startrealm", data: "x" },
  ]);
  assert.equal(q.size, 0);
  assert.equal(q.next(), undefined);
});

test("a second server on the same state directory is refused and the first keeps serving", async () => {
  using tmp = tempDir("chan");
  const first = await echoServer(tmp.path);
  try {
    await assert.rejects(echoServer(tmp.path), SocketInUseError);
    assert.equal(
      await exchange(first.path, "realmcmd_status \r\n \r\n"),
      "0 \r\nrealmcmd_status||socket \r\n",
    );
  } finally {
    await first.close();
  }
});

test("a state directory too long for a socket path is refused with upstream's message", async () => {
  const long = `/tmp/${"d".repeat(80)}`;
  await assert.rejects(
    openRealmChannelServer({ stateDir: long, handler: () => ({ code: 0, message: "" }) }),
    { kind: "path", message: /^Communications socket name was longer than allowed/ },
  );
});

test("the id file is claimed, read and removed with upstream content", async () => {
  using tmp = tempDir("idfile");
  const o = { stateDir: tmp.path };
  assert.equal(readRealmmgrId(o), undefined);
  assert.equal(removeRealmmgrId(o), "absent");
  const claim = await claimRealmmgrId(o);
  assert.deepEqual(claim, { claimed: true, pid: process.pid, file: realmmgrLocation(o).idFile });
  assert.equal(
    fs.readFileSync(path.join(tmp.path, "run", "realmmgr.pid"), "latin1"),
    `${process.pid}\n`,
  );
  assert.equal(readRealmmgrId(o), process.pid);
  assert.equal(removeRealmmgrId({ ...o, pid: process.pid + 1 }), "not-ours");
  assert.equal(removeRealmmgrId(o), "removed");
  assert.equal(fs.existsSync(realmmgrLocation(o).idFile), false);
  fs.writeFileSync(realmmgrLocation(o).idFile, "pid=4242 extra\n");
  assert.equal(readRealmmgrId(o), 4242, "first run of digits, as upstream reads it");
});

test("claiming the id file is refused while another live daemon answers its socket", async () => {
  using tmp = tempDir("idfile");
  const holder = spawn("sh", ["-c", "exec sleep 30", "realms"], { stdio: "ignore" });
  children.push(holder);
  const server = await echoServer(tmp.path);
  try {
    fs.writeFileSync(realmmgrLocation({ stateDir: tmp.path }).idFile, `${holder.pid}\n`);
    assert.deepEqual(await claimRealmmgrId({ stateDir: tmp.path }), {
      claimed: false,
      holder: holder.pid,
      file: realmmgrLocation({ stateDir: tmp.path }).idFile,
    });
    assert.equal((await claimRealmmgrId({ stateDir: tmp.path, ownsSocket: true })).claimed, true);
  } finally {
    await server.close();
  }
});

test("the command interrupt sends SIGHUP and halt sends SIGINT to the daemon in the id file", async () => {
  using tmp = tempDir("signal");
  const o = { stateDir: tmp.path };
  assert.deepEqual(realmmgrCommandInterrupt(o), { sent: false, reason: "no-pid" });
  const daemon = spawn(
    "sh",
    [
      "-c",
      'trap "echo HUP" HUP; trap "echo INT; exit 0" INT; while :; do sleep 0.05; done',
      "realms",
    ],
  );
  children.push(daemon);
  let out = "";
  daemon.stdout?.on("data", (d) => (out += d));
  await new Promise((r) => setTimeout(r, 100));
  await claimRealmmgrId({ ...o, pid: daemon.pid!, ownsSocket: true });
  assert.deepEqual(realmmgrCommandInterrupt(o), { sent: true, pid: daemon.pid });
  await waitFor(() => out.includes("HUP"), 3000, "SIGHUP");
  assert.deepEqual(haltRealmmgr(o), { sent: true, pid: daemon.pid });
  await waitFor(() => out.includes("INT") && daemon.exitCode !== null, 3000, "SIGINT");
  assert.equal(realmmgrCommandInterrupt(o).sent, false);
});

function procReadable(): boolean {
  try {
    fs.readFileSync(`/proc/${process.pid}/cmdline`);
    return true;
  } catch {
    return false;
  }
}

// Under Deno's scoped test permissions /proc is unreadable, and the check then trusts the id file
// as upstream does.
test("the command interrupt never signals an unrelated process that reused the pid", {
  skip: !procReadable(),
}, async () => {
  using tmp = tempDir("signal");
  const other = spawn("sleep", ["30"], { stdio: "ignore" });
  children.push(other);
  await claimRealmmgrId({ stateDir: tmp.path, pid: other.pid!, ownsSocket: true });
  assert.deepEqual(realmmgrCommandInterrupt({ stateDir: tmp.path }), {
    sent: false,
    reason: "not-a-realm-manager",
    pid: other.pid,
  });
  assert.ok(alive(other.pid!));
  fs.writeFileSync(realmmgrLocation({ stateDir: tmp.path }).idFile, "1\n");
  assert.deepEqual(haltRealmmgr({ stateDir: tmp.path }), { sent: false, reason: "no-pid" });
});

test("isRealmmgrRunning connects to the socket instead of reading ps", async () => {
  using tmp = tempDir("running");
  const o = { stateDir: tmp.path };
  assert.deepEqual(await isRealmmgrRunning(o), { running: false, reason: "no-socket" });
  const server = await echoServer(tmp.path);
  await claimRealmmgrId({ ...o, ownsSocket: true });
  assert.deepEqual(await isRealmmgrRunning(o), { running: true, pid: process.pid });
  await server.close();
  fs.mkdirSync(path.dirname(server.path), { recursive: true });
  const stale = net.createServer();
  await new Promise<void>((r) => stale.listen(server.path, r));
  await new Promise<void>((r) => stale.close(() => r()));
  assert.equal((await isRealmmgrRunning(o)).running, false);
});

// realmmgr.pm's client steps (spec §5.1, §5.4) in Perl: connect, write both lines, SIGHUP the pid
// in the id file, read the code line, then everything up to EOF.
const PERL_CLIENT = String.raw`
use Socket;
my ($path, $pidfile, $cmd, $data) = @ARGV;
socket(SOCK, PF_UNIX, SOCK_STREAM, 0) || die "socket: $!";
connect(SOCK, sockaddr_un($path)) || die "connect: $!";
select((select(SOCK), $| = 1)[0]);
print SOCK "$cmd \r\n";
print SOCK "$data \r\n";
open(PID, "< $pidfile") || die "pid: $!";
my $pid = <PID>; $pid =~ /(\d+)/; kill('HUP', $1);
my $ret = <SOCK>; $ret =~ s/ \r\n$//;
my $resp = ''; while (<SOCK>) { $resp .= $_; } $resp =~ s/ \r\n$//;
print "[$ret][$resp]";
`;

function hasPerl(): boolean {
  try {
    return spawnSync("perl", ["-MSocket", "-e", "1"]).status === 0;
  } catch {
    return false;
  }
}

test("an upstream-style Perl client gets its reply, and its SIGHUP is harmless", {
  skip: !hasPerl(),
}, async () => {
  using tmp = tempDir("perl");
  let hups = 0;
  const onHup = () => hups++;
  process.on("SIGHUP", onHup);
  const server = await openRealmChannelServer({
    stateDir: tmp.path,
    handler: (req) => ({
      code: req.command === "realmcmd_status" ? 0 : 4,
      message: req.command === "realmcmd_status"
        ? 'dtrealms parameters:\n     logtz              "gmt"\n'
        : REALM_REPLY.realmNotStarted(req.data),
    }),
  });
  try {
    await claimRealmmgrId({ stateDir: tmp.path, ownsSocket: true });
    const run = (cmd: string, data: string) =>
      new Promise<string>((resolve) => {
        const p = spawn("perl", [
          "-e",
          PERL_CLIENT,
          server.path,
          realmmgrLocation({ stateDir: tmp.path }).idFile,
          cmd,
          data,
        ]);
        let out = "";
        p.stdout.on("data", (d) => (out += d));
        p.on("close", () => resolve(out));
      });
    assert.equal(
      await run("realmcmd_status", ""),
      '[0][dtrealms parameters:\n     logtz              "gmt"\n]',
    );
    assert.equal(await run("realmcmd_startrealm", "beta"), '[4][unable to start realm "beta"]');
    await waitFor(() => hups === 2, 2000, "two SIGHUPs");
  } finally {
    process.off("SIGHUP", onHup);
    await server.close();
  }
});

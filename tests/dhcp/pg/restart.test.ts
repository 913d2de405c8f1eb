/**
 * STEWpgsql reconnects by itself: a TCP relay in front of the local PostgreSQL stands for a
 * server that goes away and comes back (it drops every connection, then refuses new ones by
 * closing them at once, then forwards again). Calls made while it is down keep trying with
 * backoff and succeed once it is back; past connect_timeout they fail with DSVC_UNAVAILABLE.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { endAllClients } from "../../../lib/dhcp/modules/pg/client.ts";
import { parsePgConfig } from "../../../lib/dhcp/modules/pg/config.ts";
import { makeDnRec } from "../../../lib/dhcp/records.ts";
import {
  DN_QCIP,
  DSVC,
  DSVC_CREATE,
  DSVC_READ,
  DSVC_WRITE,
  qeq,
  qinit,
} from "../../../lib/dhcp/spi.ts";
import { openStore } from "../../../lib/dhcp/store.ts";
import { rejectsWith } from "../conformance/suite.ts";
import { dropSchemas, PG_TEST_CONFIG, pgSkipReason, runTag } from "./helpers.ts";

const skip = await pgSkipReason();
const tag = runTag("restart");

/** A relay to the test server that can be taken down and brought back. */
async function relay(): Promise<{
  port: number;
  down(): void;
  up(): void;
  /** Resolves once `n` connection attempts were turned away while down. */
  refused(n: number): Promise<void>;
  close(): Promise<void>;
}> {
  const target = parsePgConfig(PG_TEST_CONFIG);
  let isUp = true;
  let turnedAway = 0;
  let waiter: { n: number; resolve: () => void } | undefined;
  const open = new Set<net.Socket>();
  const server = net.createServer((c) => {
    if (!isUp) {
      c.destroy();
      turnedAway++;
      if (waiter && turnedAway >= waiter.n) {
        waiter.resolve();
        waiter = undefined;
      }
      return;
    }
    const s = net.connect(target.port ?? 5432, target.host ?? "127.0.0.1");
    open.add(c).add(s);
    const drop = () => {
      c.destroy();
      s.destroy();
      open.delete(c);
      open.delete(s);
    };
    c.on("error", drop).on("close", drop);
    s.on("error", drop).on("close", drop);
    c.pipe(s).pipe(c);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    down() {
      isUp = false;
      turnedAway = 0;
      for (const s of open) s.destroy();
    },
    up() {
      isUp = true;
    },
    refused(n) {
      return new Promise((resolve) => {
        if (turnedAway >= n) resolve();
        else waiter = { n, resolve };
      });
    },
    close() {
      for (const s of open) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

describe("STEWpgsql when the server goes away", { skip }, () => {
  after(async () => {
    await dropSchemas(tag);
    await endAllClients();
  });

  it("reconnects with backoff and finishes the calls made while the server was down", async () => {
    const r = await relay();
    try {
      const base = PG_TEST_CONFIG.replace(/\b(host|port|connect_timeout)=\S+/g, "");
      const config =
        `${base} host=127.0.0.1 port=${r.port} connect_timeout=20 application_name=${tag}`;
      const store = await openStore({ resource: "STEWpgsql", location: tag, config });
      await store.mklocation();
      const dn = await store.openNetwork("10.22.0.0", DSVC_CREATE | DSVC_READ | DSVC_WRITE, {
        netmask: 16,
      });
      const rec = await dn.add(makeDnRec({ cip: "10.22.0.5", sip: "10.22.0.1" }));
      for (let round = 0; round < 3; round++) {
        r.down();
        const lookup = dn.lookup(qeq(qinit(), DN_QCIP), { cip: rec.cip });
        // Handshake: the module has been turned away at least twice (so it backs off and retries).
        await r.refused(2);
        r.up();
        assert.equal((await lookup).count, 1);
      }
      const got = (await dn.lookup(qeq(qinit(), DN_QCIP), { cip: rec.cip })).records[0];
      assert.ok(got);
      await dn.modify(got, { ...got, lease: 42 });
      assert.equal(
        (await dn.lookup(qeq(qinit(), DN_QCIP), { cip: rec.cip })).records[0]?.lease,
        42,
      );
      await dn.close();
      await store.close();
    } finally {
      await r.close();
    }
  });

  it("gives up after connect_timeout with DSVC_UNAVAILABLE naming the server", async () => {
    const r = await relay();
    try {
      const base = PG_TEST_CONFIG.replace(/\b(host|port|connect_timeout)=\S+/g, "");
      const config = `${base} host=127.0.0.1 port=${r.port} connect_timeout=1`;
      const store = await openStore({ resource: "STEWpgsql", location: `${tag}_x`, config });
      r.down();
      const e = await rejectsWith(store.status(), DSVC.UNAVAILABLE);
      assert.match(
        e.message,
        new RegExp(`cannot connect to PostgreSQL at .*127\\.0\\.0\\.1:${r.port}`),
      );
      r.up();
      await store.mklocation();
      await store.status();
      await store.close();
    } finally {
      await r.close();
    }
  });
});

/**
 * One "DHCP server" of the two-server allocation test: CALLERS concurrent tasks each take a
 * free address (client ID 00) of the network as a server would — look up a few free records,
 * pick one, modify it to the new client with the signature read — retrying on COLLISION, until
 * the process has bound TOTAL clients. Each acknowledged binding is written to OUT as
 * "<cip> <cid>" lines; a summary JSON line goes to stdout.
 * Usage: alloc-worker.ts '<json options>'
 */
import fs from "node:fs";
import { endAllClients } from "../../../lib/dhcp/modules/pg/client.ts";
import { cidFromHex } from "../../../lib/dhcp/records.ts";
import {
  DN_QCID,
  type DnRec,
  DSVC,
  DSVC_READ,
  DSVC_WRITE,
  DsvcError,
  qeq,
  qinit,
} from "../../../lib/dhcp/spi.ts";
import { openStore } from "../../../lib/dhcp/store.ts";

const o = JSON.parse(process.argv[2] as string) as {
  config: string;
  location: string;
  network: string;
  netmask: number;
  server: number;
  total: number;
  callers: number;
  out: string;
  deadlineMs: number;
};

const store = await openStore({ resource: "STEWpgsql", location: o.location, config: o.config });
const dn = await store.openNetwork(o.network, DSVC_READ | DSVC_WRITE, { netmask: o.netmask });
const free = cidFromHex("00") as Uint8Array;
const acks: string[] = [];
let next = 0;
let collisions = 0;
const deadline = Date.now() + o.deadlineMs;

async function caller(): Promise<void> {
  while (next < o.total) {
    if (Date.now() > deadline) throw new Error(`deadline passed after ${acks.length} bindings`);
    const n = next++;
    const cid = cidFromHex(
      `01${o.server.toString(16).padStart(2, "0")}${n.toString(16).padStart(8, "0")}`,
    ) as Uint8Array;
    for (let attempt = 0;; attempt++) {
      if (attempt > 1000) throw new Error(`client ${n}: no free address after 1000 attempts`);
      const { records } = await dn.lookup(qeq(qinit(), DN_QCID), { cid: free }, { count: 32 });
      if (records.length === 0) throw new Error("the network ran out of free addresses");
      const r = records[Math.floor(Math.random() * records.length)] as DnRec;
      try {
        await dn.modify(r, { ...r, cid, lease: 2_000_000_000 });
        acks.push(`${r.cip} ${Buffer.from(cid).toString("hex").toUpperCase()}`);
        break;
      } catch (e) {
        if (!(e instanceof DsvcError && e.code === DSVC.COLLISION)) throw e;
        collisions++;
      }
    }
  }
}

try {
  await Promise.all(Array.from({ length: o.callers }, () => caller()));
} finally {
  fs.writeFileSync(o.out, acks.join("\n") + "\n");
  await dn.close();
  await store.close();
  await endAllClients();
}
process.stdout.write(JSON.stringify({ bound: acks.length, collisions }) + "\n");

/**
 * A writer of the kill -9 test: renews leases, binds free addresses to client IDs of its own
 * and frees them again, on a SUNWbinfiles network through the framework and the lock manager,
 * printing one line per acknowledged update ("renew HOST LEASE", "bind CIP CID", "free CIP
 * CID") and "try-free CIP CID" before a free, until it is killed (or after a bounded number of
 * rounds). Usage: renew-worker.ts '<json options>'
 */
import { cidToHex, makeDnRec } from "../../../lib/dhcp/records.ts";
import {
  DN_QCID,
  DN_QCIP,
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
  location: string;
  runDir: string;
  writer: number;
  renewHosts: number;
  config: string;
};
const NET = 0x0a000000;
const out = (line: string) => void process.stdout.write(`${line}\n`);

const store = await openStore(
  { resource: "SUNWbinfiles", location: o.location, config: o.config },
  { lockd: { runDir: o.runDir } },
);
const dn = await store.openNetwork("10.0.0.0", DSVC_READ | DSVC_WRITE, { netmask: 26 });
let seed = o.writer * 7919 + 1;
const rnd = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 4294967296;
};
const mine: DnRec[] = [];
let made = 0;
out("ready");
for (let round = 0; round < 20_000; round++) {
  try {
    const x = rnd();
    if (x < 0.6 || (x >= 0.8 && mine.length === 0)) {
      const host = 1 + Math.floor(rnd() * o.renewHosts);
      const r = (await dn.lookup(qeq(qinit(), DN_QCIP), { cip: NET + host })).records[0];
      if (!r) throw new Error(`renewal record ${host} is missing`);
      const n = await dn.modify(r, { ...r, lease: r.lease + 1 });
      out(`renew ${host} ${n.lease}`);
    } else if (x < 0.8) {
      const free = (await dn.lookup(qeq(qinit(), DN_QCID), { cid: Uint8Array.of(0) }, {
        count: 1,
      })).records[0];
      if (!free) continue;
      const cid = Uint8Array.of(
        1,
        (o.writer >> 8) & 255,
        o.writer & 255,
        (made >> 8) & 255,
        made & 255,
      );
      made++;
      const n = await dn.modify(free, { ...free, cid, lease: 2_000_000_000 });
      mine.push(n);
      out(`bind ${n.cip} ${cidToHex(cid)}`);
    } else {
      const r = mine.shift() as DnRec;
      out(`try-free ${r.cip} ${cidToHex(r.cid)}`);
      await dn.modify(r, { ...makeDnRec({ cip: r.cip, cid: "00" }), sig: 0n });
      out(`free ${r.cip} ${cidToHex(r.cid)}`);
    }
  } catch (e) {
    // Another writer changed the record first: that is the point of signatures.
    if (e instanceof DsvcError && e.code === DSVC.COLLISION) continue;
    throw e;
  }
}
await store.close();

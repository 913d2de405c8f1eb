/**
 * Another process on a SUNWbinfiles store, for tests/dhcp/binfiles/cache.test.ts, with the
 * framework's default lock settings (caching on):
 * `modify LOCATION RUNDIR CIP LEASE` sets the lease of the record at CIP and exits;
 * `hold LOCATION RUNDIR CIP` renews that record once, prints "held" and then waits (keeping its
 * cached grant) until it is killed or its stdin closes.
 */
import { DN_QCIP, DSVC_READ, DSVC_WRITE, qeq, qinit } from "../../../lib/dhcp/spi.ts";
import { parseIp } from "../../../lib/dhcp/records.ts";
import { openStore } from "../../../lib/dhcp/store.ts";

const [mode, location, runDir, cipText, leaseText] = process.argv.slice(2);
if (!mode || !location || !runDir || !cipText) throw new Error("Usage: MODE LOCATION RUNDIR CIP");
const store = await openStore({ resource: "SUNWbinfiles", location }, { lockd: { runDir } });
const dn = await store.openNetwork("10.9.0.0", DSVC_READ | DSVC_WRITE, { netmask: 24 });
const cip = parseIp(cipText);
if (cip === undefined) throw new Error(`Bad address: ${cipText}`);
const rec = (await dn.lookup(qeq(qinit(), DN_QCIP), { cip })).records[0];
if (!rec) throw new Error(`No record for ${cipText}`);
const lease = mode === "modify" ? Number(leaseText) : rec.lease + 1;
await dn.modify(rec, { ...rec, lease });
if (mode === "modify") {
  await store.close();
  process.stdout.write("ok\n");
} else {
  process.stdout.write("held\n");
  for await (const _ of process.stdin) break;
  await store.close();
}

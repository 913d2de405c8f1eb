/**
 * Crash-test writer: applies the model's updates from op START on to a SUNWfiles container —
 * the network table (`dn`) or the dhcptab (`dt`, one macro per model address, its value
 * holding the lease) — and prints "ack <j>" after each one is acknowledged, until it is killed.
 * Usage: writer.ts <location> <start> <dn|dt>
 */
import { makeDnRec, makeDtRec } from "../../../lib/dhcp/records.ts";
import { DN_QCIP, DSVC_READ, DSVC_WRITE, DT_QKEY, qeq, qinit } from "../../../lib/dhcp/spi.ts";
import { openStore } from "../../../lib/dhcp/store.ts";
import { crashModel, macroOf } from "./model.ts";

const [location, startText, kind] = process.argv.slice(2) as [string, string, string];
const start = Number(startText);
const { ops } = crashModel(start + 20_000);
const store = await openStore({ resource: "SUNWfiles", location }, { synchronizer: null });
const net = await store.openNetwork("10.0.0.0", DSVC_READ | DSVC_WRITE, { netmask: 16 });
const dt = await store.openDhcptab(DSVC_READ | DSVC_WRITE);
process.stdout.write("ready\n");
for (let j = start;; j++) {
  const op = ops[j];
  if (!op) break;
  if (kind === "dt") {
    const key = macroOf(op.ip);
    if (op.kind === "add") await dt.add(makeDtRec(key, "m", ":v=0:"));
    else {
      const cur = (await dt.lookup(qeq(qinit(), DT_QKEY), { key })).records[0];
      if (!cur) throw new Error(`op ${j}: macro ${key} missing`);
      if (op.kind === "modify") await dt.modify(cur, { ...cur, value: `:v=${op.lease}:` });
      else await dt.delete(cur);
    }
  } else if (op.kind === "add") {
    await net.add(makeDnRec({ cip: op.ip, sip: "10.0.0.1", macro: "crash" }));
  } else {
    const cur = (await net.lookup(qeq(qinit(), DN_QCIP), { cip: op.ip })).records[0];
    if (!cur) throw new Error(`op ${j}: record ${op.ip} missing`);
    if (op.kind === "modify") await net.modify(cur, { ...cur, lease: op.lease });
    else await net.delete(cur);
  }
  process.stdout.write(`ack ${j}\n`);
}

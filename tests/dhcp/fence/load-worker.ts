/**
 * One writer of the lock-manager kill test: opens the SUNWfiles store at LOCATION through the
 * lock manager of RUNDIR (which the test starts again after each kill) and, until its standard
 * input closes, adds the addresses 10.0.<BLOCK>.1… one by one and modifies the lease of one it
 * added every other step. Prints `add IP` / `mod IP LEASE` after each acknowledged update and
 * `fail CODE` after each refused one.
 * Usage: load-worker.ts LOCATION RUNDIR BLOCK
 */
import { LockClient } from "../../../lib/lockd/client.ts";
import { ipToString, makeDnRec } from "../../../lib/dhcp/records.ts";
import { setTimeout as sleep } from "node:timers/promises";
import {
  DN_QCIP,
  DSVC,
  DSVC_READ,
  DSVC_WRITE,
  DsvcError,
  qeq,
  qinit,
} from "../../../lib/dhcp/spi.ts";
import { openStore } from "../../../lib/dhcp/store.ts";

const [location, runDir, blockText] = process.argv.slice(2) as [string, string, string];
const block = Number(blockText);
const base = ((10 << 24) | (block << 8)) >>> 0;
const lock = new LockClient({ runDir, autoStart: false });
const store = await openStore({ resource: "SUNWfiles", location }, { synchronizer: lock });
const dn = await store.openNetwork("10.0.0.0", DSVC_READ | DSVC_WRITE, { netmask: 16 });
let stop = false;
process.stdin.on("data", () => {});
process.stdin.on("end", () => (stop = true));
process.stdin.on("close", () => (stop = true));
const out = (line: string) => process.stdout.write(`${line}\n`);
let next = 1;
const added: number[] = [];
out("ready");
for (let step = 0; !stop && next < 255; step++) {
  try {
    if (step % 2 === 1 && added.length > 0) {
      const ip = added[step % added.length] as number;
      const cur = (await dn.lookup(qeq(qinit(), DN_QCIP), { cip: ip })).records[0];
      if (!cur) throw new Error(`record ${ipToString(ip)} missing`);
      await dn.modify(cur, { ...cur, lease: step });
      out(`mod ${ipToString(ip)} ${step}`);
    } else {
      const ip = (base + next) >>> 0;
      await dn.add(makeDnRec({ cip: ip, sip: "10.0.0.1", macro: `w${block}` }));
      next++;
      added.push(ip);
      out(`add ${ipToString(ip)}`);
    }
  } catch (e) {
    if (!(e instanceof DsvcError)) throw e;
    // An add refused after its record landed would be retried and duplicated; none may land.
    out(`fail ${e.code} ${e.message.replace(/\s+/g, " ").slice(0, 200)}`);
    // No lock manager until the test starts the next one: back off a little.
    if (e.code === DSVC.NO_LOCKMGR) await sleep(10);
  }
}
await dn.close();
await store.close();
lock.close();
out("done");

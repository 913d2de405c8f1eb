/**
 * One process of conformance case 20 (multi-access stress): THREADS concurrent tasks each run
 * 20.1 (dhcptab) and 20.2 (network) — open (CREATE, then without on EXISTS), add the test
 * records (skipping EXISTS), then ROUNDS of lookup + modify with up to three retries on
 * COLLISION, and a delete; prints its counts as one JSON line for the parent's consistency check.
 * Usage: stress-worker.ts '<json options>'
 * @internal
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { LockClient } from "../../lockd/client.ts";
import { cidFromHex, cidToHex, makeDnRec, makeDtRec, parseIp } from "../records.ts";
import {
  DN_QCIP,
  type DnRec,
  DSVC,
  DSVC_CREATE,
  DSVC_READ,
  DSVC_WRITE,
  DsvcError,
  DT_QKEY,
  DT_QTYPE,
  type DtRec,
  qeq,
  qinit,
} from "../spi.ts";
import { openStore } from "../store.ts";
import type { DhcpStore, DnContainer, DtContainer } from "../store-api.ts";
import { netPlus, TSPEC_NETWORK, TSPEC_SERVER, tspecDhcptab, tspecNetwork } from "./tspec.ts";

const opts = JSON.parse(process.argv[2] as string) as {
  resource: string;
  conver: number;
  config?: string;
  moduleDirs?: string[];
  location: string;
  runDir: string;
  cache?: boolean;
  threads: number;
  rounds: number;
  barrier: string;
  parties: number;
};

const counts = {
  dtMods: 0,
  dnMods: 0,
  dtDeletes: 0,
  dnDeletes: 0,
  raceWins: 0,
  collisionsGivenUp: 0,
};
const dtData = tspecDhcptab();
const atlanticOrig = (dtData.find((r) => r.key === "atlantic") as DtRec).value;
const NEW_ATLANTIC =
  ':Timeserv=129.148.174.28:LeaseTim=86400:Hostname:DNSdmain="east.sun.com":DNSserv=172.23.3.3:';

function code(e: unknown): number | undefined {
  return e instanceof DsvcError ? e.code : undefined;
}

/** Wait until every task of every process has reached this point. */
async function barrier(name: string): Promise<void> {
  const dir = path.join(opts.barrier, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${process.pid}-${Math.random().toString(36).slice(2)}`), "");
  while (fs.readdirSync(dir).length < opts.parties) await sleep(10);
}

async function openOrJoin<T>(open: (flags: number) => Promise<T>): Promise<T> {
  try {
    return await open(DSVC_CREATE | DSVC_READ | DSVC_WRITE);
  } catch (e) {
    if (code(e) !== DSVC.TABLE_EXISTS && code(e) !== DSVC.EXISTS) throw e;
    return await open(DSVC_READ | DSVC_WRITE);
  }
}

async function addSkippingExists<R>(add: () => Promise<R>): Promise<boolean> {
  try {
    await add();
    return true;
  } catch (e) {
    if (code(e) !== DSVC.EXISTS) throw e;
    return false;
  }
}

async function withRetry(attempt: () => Promise<void>): Promise<boolean> {
  for (let i = 0; i < 3; i++) {
    try {
      await attempt();
      return true;
    } catch (e) {
      if (code(e) !== DSVC.COLLISION) throw e;
    }
  }
  counts.collisionsGivenUp++;
  return false;
}

function isOriginalDn(r: DnRec): boolean {
  return cidToHex(r.cid) === "00" && r.flags === 0 && r.lease === 0 && r.macro === "atlantic" &&
    r.sip === parseIp(TSPEC_SERVER);
}

async function task(store: DhcpStore): Promise<void> {
  const dt: DtContainer = await openOrJoin((f) => store.openDhcptab(f));
  const dn: DnContainer = await openOrJoin((f) => store.openNetwork(TSPEC_NETWORK, f));
  for (const r of dtData) await addSkippingExists(() => dt.add({ ...r }));
  const sample = [
    ...tspecNetwork().slice(0, 20),
    ...tspecNetwork().filter((r) => r.cip === netPlus(102) || r.cip === netPlus(1001)),
  ];
  for (const r of sample) await addSkippingExists(() => dn.add(r));
  if (await addSkippingExists(() => dt.add(makeDtRec("RaceMacro", "m", ":x:")))) counts.raceWins++;
  if (await addSkippingExists(() => dn.add(makeDnRec({ cip: netPlus(2000), sip: TSPEC_SERVER })))) {
    counts.raceWins++;
  }
  await barrier("added");
  for (let round = 0; round < opts.rounds; round++) {
    // 20.1.3 / 20.1.4
    if (
      await withRetry(async () => {
        const found = await dt.lookup(qeq(qeq(qinit(), DT_QKEY), DT_QTYPE), {
          key: "atlantic",
          type: "m",
        });
        const cur = found.records[0];
        if (found.count !== 1 || !cur) throw new Error(`atlantic found ${found.count} times`);
        const value = cur.value === atlanticOrig
          ? NEW_ATLANTIC
          : cur.value.replace(/LeaseTim=(\d+)/, (_, n: string) => `LeaseTim=${Number(n) + 1}`);
        await dt.modify(cur, { ...cur, value });
      })
    ) counts.dtMods++;
    // 20.2.3 / 20.2.4
    if (
      await withRetry(async () => {
        const found = await dn.lookup(qeq(qinit(), DN_QCIP), { cip: netPlus(102) });
        const cur = found.records[0];
        if (found.count !== 1 || !cur) throw new Error(`+102 found ${found.count} times`);
        const next: DnRec = isOriginalDn(cur)
          ? {
            ...cur,
            cid: cidFromHex("01DEADBEEF") as Uint8Array,
            flags: 3,
            sip: parseIp("172.23.3.3") as number,
            lease: 941619403,
            macro: "Solaris",
          }
          : { ...cur, lease: cur.lease + 1 };
        await dn.modify(cur, next);
      })
    ) counts.dnMods++;
  }
  // 20.1.5 / 20.2.5
  const sj = await dt.lookup(qeq(qeq(qinit(), DT_QKEY), DT_QTYPE), { key: "SjumpsCF", type: "s" });
  for (const r of sj.records) {
    try {
      await dt.delete(r);
      counts.dtDeletes++;
    } catch (e) {
      if (code(e) !== DSVC.NOENT) throw e;
    }
  }
  const gone = await dn.lookup(qeq(qinit(), DN_QCIP), { cip: netPlus(1001) });
  for (const r of gone.records) {
    try {
      await dn.delete(r);
      counts.dnDeletes++;
    } catch (e) {
      if (code(e) !== DSVC.NOENT) throw e;
    }
  }
  await dt.close();
  await dn.close();
}

const lock = new LockClient({ runDir: opts.runDir, cache: opts.cache === true });
const store = await openStore(
  {
    resource: opts.resource,
    location: opts.location,
    conver: opts.conver,
    ...(opts.config !== undefined ? { config: opts.config } : {}),
  },
  { synchronizer: lock, ...(opts.moduleDirs ? { moduleDirs: opts.moduleDirs } : {}) },
);
try {
  await Promise.all(Array.from({ length: opts.threads }, () => task(store)));
} finally {
  await store.close();
  lock.close();
}
process.stdout.write(`${JSON.stringify(counts)}\n`);

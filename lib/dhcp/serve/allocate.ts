/**
 * Allocation over the store SPI, as upstream in.dhcpd does it (dhcp.c select_offer,
 * dhcp_req_ack, dhcp_dec_rel): the client's own record first, then a free record (DN_QCID of
 * 00) owned by this server, then the longest-expired dynamic lease; offers reserved in memory
 * for OFFER_CACHE_TIMEOUT seconds; every write a signature-guarded modify, so that another
 * server or an administrator changing the record meets DSVC_COLLISION and nothing is bound
 * twice. MANUAL and PERMANENT records are never reassigned or expired, UNUSABLE ones never
 * offered.
 * @module
 */
import type { DnContainer } from "../store-api.ts";
import {
  DHCP_PERM,
  DN_FAUTOMATIC,
  DN_FBOOTP_ONLY,
  DN_FMANUAL,
  DN_FUNUSABLE,
  DN_QCID,
  DN_QCIP,
  DN_QFBOOTP_ONLY,
  DN_QFMANUAL,
  DN_QFUNUSABLE,
  DN_QSIP,
  type DnRec,
  DSVC,
  isDsvcError,
  qeq,
  qinit,
  qneq,
} from "../spi.ts";
import { cidEqual, copyDnRec } from "../records.ts";
import { cidHex } from "./clientid.ts";

/** How many free records one lookup fetches into the free cache (upstream DHCP_MIN_RECORDS). */
export const FREE_BATCH = 256;
/** At most this many offered addresses are fetched beyond FREE_BATCH to be skipped. */
export const MAX_RESERVED_SKIP = 65536;
/** Free lookups one select makes at most (when concurrent callers use up the batches). */
const MAX_REFRESHES = 4;
/** How many times a write is retried after DSVC_COLLISION. */
export const COLLISION_RETRIES = 3;

const FREE_CID = Uint8Array.of(0);

/** An offer held for a client. */
export interface Offer {
  rec: DnRec;
  /** Relative lease offered, seconds (DHCP_PERM for a permanent one). */
  lease: number;
  /** Absolute time (s) the reservation ends. */
  expires: number;
}

/** What a network knows about one server: its owner addresses and timing. */
export interface PoolOptions {
  /** Record server addresses this server owns (upstream owner_ip). */
  owners: ReadonlySet<number>;
  /** Seconds an offer stays reserved (OFFER_CACHE_TIMEOUT). */
  offerTimeout: number;
  /** Seconds the free and expired caches are trusted (CACHE_TIMEOUT). */
  cacheTimeout: number;
}

/** A batch of free records and what is known about it. */
interface FreeCache {
  records: DnRec[];
  /** When it was fetched (s). */
  stamp: number;
  /** Whether the last lookup found no address to offer. */
  empty: boolean;
  /** The lookup under way, which concurrent callers wait for. */
  refreshing: Promise<void> | undefined;
}

function newFreeCache(): FreeCache {
  return { records: [], stamp: 0, empty: false, refreshing: undefined };
}

/** Whether a record is the client's (same client ID). */
function owns(rec: DnRec, cid: Uint8Array): boolean {
  return cidEqual(rec.cid, cid);
}

/** Whether the record is free for dynamic allocation. */
export function isFree(rec: DnRec): boolean {
  return rec.cid.length === 1 && rec.cid[0] === 0;
}

/** Whether an unowned or expired record may be given to a new client (never MANUAL/UNUSABLE). */
export function reassignable(rec: DnRec, now: number, bootp: boolean): boolean {
  if (rec.flags & (DN_FMANUAL | DN_FUNUSABLE)) return false;
  if (((rec.flags & DN_FBOOTP_ONLY) !== 0) !== bootp) return false;
  if (isFree(rec)) return true;
  if (rec.flags & DN_FAUTOMATIC || rec.lease === DHCP_PERM) return false;
  return rec.lease < now;
}

/** The allocation state of one network container. */
export class Pool {
  readonly container: DnContainer;
  readonly #o: PoolOptions;
  /** Offers by client ID hex. */
  readonly #offers = new Map<string, Offer>();
  /** Client ID hex by reserved address. */
  readonly #reserved = new Map<number, string>();
  /** Free candidates, for DHCP [0] and BOOTP [1] clients (BOOTP-only records are apart). */
  readonly #freeCaches: [FreeCache, FreeCache] = [newFreeCache(), newFreeCache()];
  /** Addresses written since each free lookup under way began. */
  readonly #writtenDuring = new Set<Set<number>>();
  #expired: DnRec[] | undefined;
  #expiredStamp = 0;

  constructor(container: DnContainer, options: PoolOptions) {
    this.container = container;
    this.#o = options;
  }

  /** Number of offers held. */
  get offers(): number {
    return this.#offers.size;
  }

  /**
   * Drop expired offers. Offers are kept in the order they were made (a renewed one moves to
   * the end), all with the same timeout, so only the expired ones at the front are visited.
   */
  purge(now: number): void {
    for (const [k, o] of this.#offers) {
      if (o.expires > now) break;
      this.#offers.delete(k);
      if (this.#reserved.get(o.rec.cip) === k) this.#reserved.delete(o.rec.cip);
    }
  }

  // `key` is cidHex(cid), when the caller has it already.

  /** The client's current offer, if still reserved. */
  offer(cid: Uint8Array, now: number, key: string = cidHex(cid)): Offer | undefined {
    const o = this.#offers.get(key);
    if (o && o.expires > now) return o;
    if (o) this.dropOffer(cid, key);
    return undefined;
  }

  /** Reserve `rec` for the client until now + offerTimeout. */
  reserve(cid: Uint8Array, rec: DnRec, lease: number, now: number, key = cidHex(cid)): void {
    this.dropOffer(cid, key);
    this.#offers.set(key, { rec, lease, expires: now + this.#o.offerTimeout });
    this.#reserved.set(rec.cip, key);
  }

  /** Forget the client's offer. */
  dropOffer(cid: Uint8Array, key: string = cidHex(cid)): void {
    const k = key;
    const o = this.#offers.get(k);
    if (!o) return;
    this.#offers.delete(k);
    if (this.#reserved.get(o.rec.cip) === k) this.#reserved.delete(o.rec.cip);
  }

  #reservedForOther(cip: number, key: string): boolean {
    const k = this.#reserved.get(cip);
    return k !== undefined && k !== key;
  }

  /** Forget cached candidates (after a dhtadm/pntadm change or SIGHUP). */
  invalidate(): void {
    for (const f of this.#freeCaches) {
      f.records = [];
      f.empty = false;
    }
    this.#expired = undefined;
  }

  /**
   * The client's own usable record: not BOOTP-only (unless `bootp`), owned by this server.
   * `undefined` when there is none; `null` when the client has a MANUAL record that cannot be
   * used (unusable or another server's), in which case no other address may be given.
   */
  async existing(cid: Uint8Array, bootp: boolean, cip?: number): Promise<DnRec | null | undefined> {
    let q = qeq(qinit(), DN_QCID);
    q = bootp ? qeq(q, DN_QFBOOTP_ONLY) : qneq(q, DN_QFBOOTP_ONLY);
    if (cip !== undefined) q = qeq(q, DN_QCIP);
    const { records } = await this.container.lookup(q, {
      cid,
      flags: DN_FBOOTP_ONLY,
      ...(cip !== undefined ? { cip } : {}),
    });
    for (const r of records) {
      const mine = this.#o.owners.has(r.sip);
      const manual = (r.flags & DN_FMANUAL) !== 0;
      if (!mine) {
        if (manual) return null;
        continue;
      }
      if (r.flags & DN_FUNUSABLE) {
        if (manual) return null;
        continue;
      }
      return r;
    }
    return undefined;
  }

  /** The record of address `cip`, if any. */
  async byAddress(cip: number): Promise<DnRec | undefined> {
    const { records } = await this.container.lookup(qeq(qinit(), DN_QCIP), { cip }, { count: 1 });
    return records[0];
  }

  /**
   * A record to offer a new client: the requested address when it is free here, else the
   * first free record, else the longest-expired dynamic lease. Undefined: pool exhausted.
   * The record comes reserved for the client (an offer of lease 0 until {@link reserve}), so
   * that no concurrent caller is handed it before the caller reserves it.
   */
  async select(
    cid: Uint8Array,
    now: number,
    options: { requested?: number; bootp: boolean; key?: string },
  ): Promise<DnRec | undefined> {
    return await this.#select(cid, now, { ...options, key: options.key ?? cidHex(cid) });
  }

  /** `r`, reserved for the client now (in the same turn as it was chosen). */
  #hand(cid: Uint8Array, r: DnRec, now: number, key: string): DnRec {
    this.reserve(cid, r, 0, now, key);
    return r;
  }

  async #select(
    cid: Uint8Array,
    now: number,
    options: { requested?: number; bootp: boolean; key?: string },
  ): Promise<DnRec | undefined> {
    const { requested, bootp } = options;
    const key = options.key ?? cidHex(cid);
    const c = this.container;
    if (
      requested !== undefined && requested >= 0 && ((requested & c.netmask) >>> 0) === c.network
    ) {
      const r = await this.byAddress(requested);
      if (
        r && this.#o.owners.has(r.sip) && reassignable(r, now, bootp) &&
        !this.#reservedForOther(r.cip, key)
      ) return this.#hand(cid, r, now, key);
    }
    const f = this.#freeCaches[bootp ? 1 : 0];
    let refreshes = 0;
    const refresh = async () => {
      refreshes++;
      // Concurrent DISCOVERs share one lookup and take records from the one batch it makes:
      // each their own lookup would hand the same first free address to several clients.
      if (f.refreshing === undefined) {
        f.refreshing = (async () => {
          // Records written while the lookup is under way may be in its batch as they were
          // before: leave them out, or a client would be offered an address just bound.
          const written = new Set<number>();
          this.#writtenDuring.add(written);
          try {
            f.records = (await this.#lookupFree(bootp)).filter((r) => !written.has(r.cip));
            f.stamp = now;
            // Nothing free (or only addresses offered to others): an exhausted pool is scanned
            // again at most once a second, not on every DISCOVER; a used-up batch is refilled.
            f.empty = f.records.every((r) => this.#reserved.has(r.cip));
          } finally {
            this.#writtenDuring.delete(written);
            f.refreshing = undefined;
          }
        })();
      }
      await f.refreshing;
    };
    if (f.records.length === 0 || now - f.stamp > this.#o.cacheTimeout) {
      if (f.records.length > 0 || !f.empty || now - f.stamp >= 1) await refresh();
    }
    for (;;) {
      while (f.records.length > 0) {
        const r = f.records.shift()!;
        if (!this.#reservedForOther(r.cip, key)) return this.#hand(cid, r, now, key);
      }
      // A batch that others took before this caller is fetched again (a few times at most);
      // one that found nothing free ends the search.
      if ((f.empty && now - f.stamp < 1) || refreshes >= MAX_REFRESHES) break;
      await refresh();
    }
    if (this.#expired === undefined || now - this.#expiredStamp > this.#o.cacheTimeout) {
      this.#expired = await this.#lookupExpired(now, bootp);
      this.#expiredStamp = now;
    }
    while (this.#expired.length > 0) {
      const r = this.#expired.shift()!;
      if (!this.#reservedForOther(r.cip, key) && reassignable(r, now, bootp)) {
        return this.#hand(cid, r, now, key);
      }
    }
    return undefined;
  }

  async #lookupFree(bootp: boolean): Promise<DnRec[]> {
    const out: DnRec[] = [];
    for (const sip of this.#o.owners) {
      const q = qeq(qinit(), DN_QCID | DN_QSIP | DN_QFBOOTP_ONLY | DN_QFUNUSABLE | DN_QFMANUAL);
      // Free records offered to other clients stay free in the store until their REQUEST: ask
      // for that many more, or a batch of them only would look like an exhausted pool.
      const { records } = await this.container.lookup(q, {
        cid: FREE_CID,
        sip,
        flags: bootp ? DN_FBOOTP_ONLY : 0,
      }, { count: FREE_BATCH + Math.min(this.#reserved.size, MAX_RESERVED_SKIP), partial: true });
      out.push(...records);
      if (out.length >= FREE_BATCH) break;
    }
    // Lowest address first: "first free", whatever order the module returns.
    return out.sort((a, b) => a.cip - b.cip);
  }

  async #lookupExpired(now: number, bootp: boolean): Promise<DnRec[]> {
    const out: DnRec[] = [];
    for (const sip of this.#o.owners) {
      const q = qeq(qinit(), DN_QSIP | DN_QFBOOTP_ONLY | DN_QFUNUSABLE | DN_QFMANUAL);
      const { records } = await this.container.lookup(q, {
        sip,
        flags: bootp ? DN_FBOOTP_ONLY : 0,
      });
      for (const r of records) if (reassignable(r, now, bootp) && !isFree(r)) out.push(r);
    }
    return out.sort((a, b) => a.lease - b.lease);
  }

  /**
   * Write `next` over `orig` under its signature. On DSVC_COLLISION the record is read again
   * and `decide` says what to write now (or undefined to give up). Returns the stored record,
   * or undefined when it gave up.
   */
  async write(
    orig: DnRec,
    next: DnRec,
    decide: (current: DnRec) => DnRec | undefined,
  ): Promise<DnRec | undefined> {
    let o = orig;
    let n = next;
    for (let attempt = 0;; attempt++) {
      try {
        const stored = await this.container.modify(o, n);
        this.#forget(stored.cip);
        return stored;
      } catch (e) {
        if (!isDsvcError(e, DSVC.COLLISION) && !isDsvcError(e, DSVC.NOENT)) throw e;
        if (attempt >= COLLISION_RETRIES || isDsvcError(e, DSVC.NOENT)) return undefined;
        const cur = await this.byAddress(o.cip);
        if (!cur) return undefined;
        const again = decide(cur);
        if (!again) return undefined;
        o = cur;
        n = again;
      }
    }
  }

  // A record just written is no longer what the candidate caches hold: drop it from them, or a
  // later client would be offered an address bound since the cache was filled.
  #forget(cip: number): void {
    for (const w of this.#writtenDuring) w.add(cip);
    for (const f of this.#freeCaches) {
      const i = f.records.findIndex((r) => r.cip === cip);
      if (i >= 0) f.records.splice(i, 1);
    }
    if (this.#expired) {
      const j = this.#expired.findIndex((r) => r.cip === cip);
      if (j >= 0) this.#expired.splice(j, 1);
    }
  }

  /** A copy of `rec` bound to `cid` until `leaseEnd`. */
  static bind(rec: DnRec, cid: Uint8Array, leaseEnd: number): DnRec {
    const r = copyDnRec(rec);
    r.cid = cid.slice();
    r.lease = leaseEnd;
    return r;
  }

  /** Whether `cur` may still be bound to `cid` (it is the client's, or still reassignable). */
  bindable(cur: DnRec, cid: Uint8Array, now: number, bootp: boolean): boolean {
    if (!this.#o.owners.has(cur.sip) || (cur.flags & DN_FUNUSABLE)) return false;
    if (owns(cur, cid)) return true;
    return reassignable(cur, now, bootp);
  }
}

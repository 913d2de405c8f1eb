/**
 * The in-memory copy of a network container's active image, compact enough for a million
 * addresses: chain pointers per slot in typed arrays (8 bytes per address), each in-use
 * record's 280 stored bytes in a pool (decoded only when returned), the hash heads, and an
 * index from client ID to record for the IDs that are not the free marker `00`.
 * @internal
 * @module
 */
import type { DnRec } from "../../spi.ts";
import { cidHash, decodeDnData, DN_CIDHASHSZ, DN_REC_SIZE, encodeDnData, R } from "./format.ts";

const INITIAL_POOL = 1024;

/** FNV-1a over a client ID's bytes: the key of the client-ID index. */
function cidKey(buf: Uint8Array, at: number, len: number): number {
  let h = 0x811c9dc5 ^ len;
  for (let i = 0; i < len; i++) h = Math.imul(h ^ (buf[at + i] as number), 16777619);
  return h >>> 0;
}

function isFreeCid(buf: Uint8Array, at: number, len: number): boolean {
  return len === 1 && buf[at] === 0;
}

/** Records of the active image, by record id (1..slots). */
export class RecordTable {
  readonly slots: number;
  readonly next: Uint32Array;
  /** 0: the slot is not in use. */
  readonly prev: Uint32Array;
  readonly heads = new Uint32Array(DN_CIDHASHSZ);
  /** Pool index + 1 of each slot's bytes (0: none). */
  readonly #where: Uint32Array;
  #pool = Buffer.alloc(INITIAL_POOL * DN_REC_SIZE);
  #used = 0;
  readonly #free: number[] = [];
  /** Client-ID key → one record id, or several (same key: duplicates or a key collision). */
  readonly #byCid = new Map<number, number | number[]>();
  count = 0;

  constructor(slots: number) {
    this.slots = slots;
    this.next = new Uint32Array(slots + 1);
    this.prev = new Uint32Array(slots + 1);
    this.#where = new Uint32Array(slots + 1);
  }

  has(id: number): boolean {
    return id >= 1 && id <= this.slots && this.prev[id] !== 0;
  }

  #at(id: number): number {
    return ((this.#where[id] as number) - 1) * DN_REC_SIZE;
  }

  /** A fresh copy of record `id`. */
  rec(id: number): DnRec {
    return decodeDnData(this.#pool, this.#at(id));
  }

  /** Whether record `id` has client ID `cid`. */
  cidIs(id: number, cid: Uint8Array): boolean {
    const at = this.#at(id);
    const len = this.#pool[at + R.cidLen] as number;
    if (len !== cid.length) return false;
    for (let i = 0; i < len; i++) if (this.#pool[at + R.cid + i] !== cid[i]) return false;
    return true;
  }

  /** The chain (hash bucket) record `id` belongs on. */
  hashOf(id: number): number {
    const at = this.#at(id);
    const len = Math.min(this.#pool[at + R.cidLen] as number, 64);
    return cidHash(this.#pool.subarray(at + R.cid, at + R.cid + len));
  }

  #alloc(): number {
    const free = this.#free.pop();
    if (free !== undefined) return free;
    if ((this.#used + 1) * DN_REC_SIZE > this.#pool.length) {
      const bigger = Buffer.alloc(this.#pool.length * 2);
      this.#pool.copy(bigger, 0, 0, this.#used * DN_REC_SIZE);
      this.#pool = bigger;
    }
    return this.#used++;
  }

  /** Reserve room for `n` records (a load knows how many to expect). */
  reserve(n: number): void {
    if (n * DN_REC_SIZE <= this.#pool.length) return;
    const bigger = Buffer.alloc(n * DN_REC_SIZE);
    this.#pool.copy(bigger, 0, 0, this.#used * DN_REC_SIZE);
    this.#pool = bigger;
  }

  #index(id: number, add: boolean): void {
    const at = this.#at(id);
    const len = Math.min(this.#pool[at + R.cidLen] as number, 64);
    if (isFreeCid(this.#pool, at + R.cid, len)) return;
    const key = cidKey(this.#pool, at + R.cid, len);
    const cur = this.#byCid.get(key);
    if (add) {
      if (cur === undefined) this.#byCid.set(key, id);
      else if (typeof cur === "number") this.#byCid.set(key, [cur, id]);
      else cur.push(id);
      return;
    }
    if (cur === id) this.#byCid.delete(key);
    else if (Array.isArray(cur)) {
      const rest = cur.filter((x) => x !== id);
      this.#byCid.set(key, rest.length === 1 ? rest[0] as number : rest);
    }
  }

  /**
   * Where to look for client ID `cid`: the one record that may have it, "walk" when its chain
   * must be walked (the free marker 00, or several candidates), undefined when none has it.
   */
  candidates(cid: Uint8Array): number | "walk" | undefined {
    if (isFreeCid(cid, 0, cid.length)) return "walk";
    const cur = this.#byCid.get(cidKey(cid, 0, cid.length));
    if (cur === undefined || typeof cur === "number") return cur;
    return "walk";
  }

  /** Store record `id` from 280 slot bytes at `buf[at]` with active pointers next/prev. */
  setRaw(id: number, buf: Buffer, at: number, next: number, prev: number): void {
    if (this.#where[id]) this.#index(id, false);
    else {
      this.#where[id] = this.#alloc() + 1;
      this.count++;
    }
    buf.copy(this.#pool, this.#at(id), at, at + DN_REC_SIZE);
    this.next[id] = next;
    this.prev[id] = prev;
    this.#index(id, true);
  }

  /** Store record `id` from a record object. */
  setRec(id: number, rec: DnRec, next: number, prev: number): void {
    if (this.#where[id]) this.#index(id, false);
    else {
      this.#where[id] = this.#alloc() + 1;
      this.count++;
    }
    encodeDnData(rec, this.#pool, this.#at(id));
    this.next[id] = next;
    this.prev[id] = prev;
    this.#index(id, true);
  }

  /** The slot is no longer in use. */
  remove(id: number): void {
    if (!this.#where[id]) return;
    this.#index(id, false);
    this.#free.push((this.#where[id] as number) - 1);
    this.#where[id] = 0;
    this.next[id] = 0;
    this.prev[id] = 0;
    this.count--;
  }

  /** Ids of the records in use, ascending. */
  *ids(): Generator<number> {
    for (let id = 1; id <= this.slots; id++) if (this.prev[id] !== 0) yield id;
  }
}

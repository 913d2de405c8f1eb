/**
 * A SUNWbinfiles network container, opened: the file protocol of upstream `dhcp_network.c`
 * (two pointer images, the one-byte commit, the dirty flag, the temporary record, the recovery
 * pass) behind an in-memory copy of the active image (records by id, chain pointers, hash
 * heads, client IDs) so that lookups read nothing but the header's first bytes. Other
 * processes' updates are noticed through a change counter in the header and a small change
 * log beside the container (see {@link ChangeLog}).
 * @internal
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import { matchDnRec } from "../../match.ts";
import { copyDnRec, ipToString, newSignature, nextSignature } from "../../records.ts";
import { RecordTable } from "./table.ts";
import {
  DN_QCID,
  DN_QCIP,
  type DnRec,
  DSVC,
  DsvcError,
  type LookupResult,
  type ModuleLookup,
  qiseq,
} from "../../spi.ts";
import { syserrToDsvc } from "../util.ts";
import {
  BINFILES_CONVER,
  cidHash,
  containerSize,
  decodeDnData,
  DN_CIDHASHSZ,
  DN_HASHHEAD,
  DN_HEADER_SIZE,
  DN_MAGIC,
  DN_NOIMAGE,
  DN_REC_SIZE,
  DN_TEMPREC,
  encodeDnData,
  FieldTooLong,
  H,
  headOffset,
  newNetworkHeader,
  R,
  recId,
  recOffset,
  recordDamage,
  slotCount,
} from "./format.ts";

/** Smallest prefix accepted for a new container (a /8 is a 4.7 GB sparse file already). */
export const MIN_PREFIX = 8;

const CHUNK_SLOTS = 14_980; // 4 MiB of records per read
/**
 * Containers up to this many slots (a /12) are read whole when opened, which also finds records
 * no chain reaches and images that differ; larger ones are read chain by chain (the records in
 * use only), as `network check` still reads them whole.
 */
const FULL_SCAN_SLOTS = 2 ** 20;

/** What a scan of the file found (also used by `network check`). */
export interface ScanReport {
  /** Damage that makes the active image unusable as it is. */
  damage: string[];
  /** In-use records reached by no chain. */
  orphans: number[];
  /** Slots whose inactive pointers differ from the active ones. */
  imageDiffs: number;
  /** Hash heads whose inactive value differs from the active one. */
  headDiffs: number;
}

/**
 * The change log: `.<container>.changes` beside the container, a ring of 64 entries of 48
 * bytes (counter, number of ids or 0xffffffff for "everything", up to 8 record ids, check
 * word). A writer fills the entry of the counter value it is about to store in the header; a
 * reader that finds the header's counter moved on re-reads just those records. Anything odd
 * (missing file, wrong counter, bad check word, too many changes) means a full reload. Only
 * steward writes it; upstream neither reads nor needs it.
 */
class ChangeLog {
  static readonly ENTRIES = 64;
  static readonly SIZE = 48;
  static readonly ALL = 0xffffffff;
  readonly file: string;
  #fd: number | undefined;
  #failed = false;
  readonly #buf = Buffer.alloc(ChangeLog.SIZE);

  constructor(container: string) {
    this.file = path.join(path.dirname(container), `.${path.basename(container)}.changes`);
  }

  static check(counter: number, n: number, ids: ArrayLike<number>): number {
    let c = (counter ^ 0x5bd1e995 ^ Math.imul(n, 0x9e3779b1)) >>> 0;
    for (let i = 0; i < ids.length; i++) c = (Math.imul(c ^ (ids[i] as number), 16777619)) >>> 0;
    return c;
  }

  write(counter: number, ids: readonly number[] | "all"): void {
    if (this.#failed) return;
    try {
      if (this.#fd === undefined) {
        try {
          this.#fd = fs.openSync(this.file, "r+");
        } catch {
          this.#fd = fs.openSync(this.file, "w+", 0o644);
        }
      }
      const b = this.#buf;
      b.fill(0);
      const list = ids === "all" || ids.length > 8 ? [] : ids;
      const n = ids === "all" || ids.length > 8 ? ChangeLog.ALL : ids.length;
      b.writeUInt32BE(counter, 0);
      b.writeUInt32BE(n, 4);
      list.forEach((id, i) => b.writeUInt32BE(id, 8 + 4 * i));
      b.writeUInt32BE(ChangeLog.check(counter, n, list), 40);
      fs.writeSync(this.#fd, b, 0, ChangeLog.SIZE, (counter % ChangeLog.ENTRIES) * ChangeLog.SIZE);
    } catch {
      // Readers then see a counter the log does not explain and reload in full.
      this.#failed = true;
    }
  }

  /** The ids changed by counters from+1..to, or undefined when a full reload is needed. */
  read(from: number, to: number): Set<number> | undefined {
    const span = (to - from) >>> 0;
    if (span === 0 || span > ChangeLog.ENTRIES) return undefined;
    let fd: number;
    try {
      fd = this.#fd ?? fs.openSync(this.file, "r");
    } catch {
      return undefined;
    }
    try {
      const all = Buffer.alloc(ChangeLog.ENTRIES * ChangeLog.SIZE);
      if (fs.readSync(fd, all, 0, all.length, 0) < all.length) return undefined;
      const ids = new Set<number>();
      for (let k = 1; k <= span; k++) {
        const c = (from + k) >>> 0;
        const at = (c % ChangeLog.ENTRIES) * ChangeLog.SIZE;
        if (all.readUInt32BE(at) !== c) return undefined;
        const n = all.readUInt32BE(at + 4);
        if (n === ChangeLog.ALL || n > 8) return undefined;
        const list: number[] = [];
        for (let i = 0; i < n; i++) list.push(all.readUInt32BE(at + 8 + 4 * i));
        if (all.readUInt32BE(at + 40) !== ChangeLog.check(c, n, list)) return undefined;
        for (const id of list) ids.add(id);
      }
      return ids;
    } finally {
      if (this.#fd === undefined) fs.closeSync(fd);
    }
  }

  close(): void {
    if (this.#fd !== undefined) fs.closeSync(this.#fd);
    this.#fd = undefined;
  }

  remove(): void {
    try {
      fs.unlinkSync(this.file);
    } catch { /* never written */ }
  }
}

/** The change-log file of a container file. */
export function changeLogFile(container: string): string {
  return new ChangeLog(container).file;
}

/**
 * Group commit: a flush requested while one runs waits for the next one, which then covers
 * every update made meanwhile; `mark()` numbers the updates a flush starts after.
 */
class GroupFlush {
  #current: Promise<void> | undefined;
  #next: Promise<void> | undefined;
  readonly #fd: number;
  readonly #mark: () => number;
  /** Updates up to this mark are on stable storage. */
  synced = 0;
  constructor(fd: number, mark: () => number) {
    this.#fd = fd;
    this.#mark = mark;
  }

  /** A flush that starts after the caller's updates. */
  flush(): Promise<void> {
    if (this.#next) return this.#next;
    if (!this.#current) return (this.#current = this.#start());
    const next = this.#current.then(noop, noop).then(() => {
      this.#next = undefined;
      return (this.#current = this.#start());
    });
    this.#next = next;
    return next;
  }

  #start(): Promise<void> {
    const mark = this.#mark();
    const p: Promise<void> = new Promise<void>((resolve, reject) => {
      fs.fdatasync(this.#fd, (e) => (e ? reject(e) : resolve()));
    }).then(() => {
      if (mark > this.synced) this.synced = mark;
    }).finally(() => {
      if (this.#current === p) this.#current = undefined;
    });
    return p;
  }

  /** Wait for flushes in progress. */
  async idle(): Promise<void> {
    await this.#next?.catch(noop);
    await this.#current?.catch(noop);
  }
}

function noop(): void {}

/** Pointer state of a slot in a transaction. */
interface SlotChange {
  next: number;
  prev: number;
  /** New record data, when the slot's record changes. */
  rec?: DnRec;
}

/** Options of {@link NetworkFile.open}. */
export interface NetworkOpenOptions {
  writable: boolean;
  create: boolean;
  /** fdatasync before an update is acknowledged (default true). */
  durable: boolean;
  /** Only for `network check`: open a damaged container without throwing. */
  forCheck?: boolean;
}

/** An opened network container. */
export class NetworkFile {
  readonly file: string;
  readonly network: number;
  readonly writable: boolean;
  readonly durable: boolean;
  mask = 0;
  #fd: number;
  #log: ChangeLog;
  #flusher: GroupFlush;
  #closed = false;

  // The header bytes the cache was built from.
  #dirty = 0;
  #image = 0;
  #tempimage = DN_NOIMAGE;
  #changes = 0;
  /** Rebuild from the file before the next use (after a failed update). */
  #stale = true;
  /** The inactive image differs from the active one in a clean container: recover first. */
  #needsRecovery = false;
  /** Number of updates made through this handle. */
  #written = 0;

  #t = new RecordTable(0);
  readonly #small = Buffer.alloc(H.changes + 4);
  readonly #slotBuf = Buffer.alloc(DN_REC_SIZE);
  /** Last scan's findings. */
  report: ScanReport = { damage: [], orphans: [], imageDiffs: 0, headDiffs: 0 };

  private constructor(file: string, network: number, fd: number, o: NetworkOpenOptions) {
    this.file = file;
    this.network = network;
    this.writable = o.writable;
    this.durable = o.durable;
    this.#fd = fd;
    this.#log = new ChangeLog(file);
    this.#flusher = new GroupFlush(fd, () => this.#written);
  }

  /** Open (or create) the container `file` of network `net` (mask used only on creation). */
  static open(file: string, net: number, mask: number, o: NetworkOpenOptions): NetworkFile {
    if (o.create) createContainer(file, net, mask);
    let fd: number;
    try {
      fd = fs.openSync(file, o.writable ? "r+" : "r");
    } catch (e) {
      throw syserrToDsvc(e, file);
    }
    const nf = new NetworkFile(file, net, fd, o);
    try {
      nf.#checkHead(true);
      // A container's size is fixed by its netmask: no update changes it.
      const size = fs.fstatSync(fd).size;
      if (size < containerSize(nf.mask)) nf.#truncated(size);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    try {
      nf.#load(o.forCheck ?? false);
    } catch (e) {
      // The open holds no lock (upstream's open does not wait for a busy container), so another
      // process's update may be half done under it: records that look damaged now may be whole
      // once that update ends. The table stays stale and the first call, under the container's
      // lock, loads it again and reports what damage is really there.
      if (!(e instanceof DsvcError) || e.code !== DSVC.INTERNAL) {
        fs.closeSync(fd);
        throw e;
      }
    }
    return nf;
  }

  #fail(why: string): DsvcError {
    return new DsvcError(DSVC.INTERNAL, `${this.file}: ${why}`);
  }

  #pread(buf: Buffer, len: number, pos: number): number {
    try {
      return fs.readSync(this.#fd, buf, 0, len, pos);
    } catch (e) {
      throw syserrToDsvc(e, this.file);
    }
  }

  #pwrite(buf: Buffer, len: number, pos: number): void {
    const n = fs.writeSync(this.#fd, buf, 0, len, pos);
    if (n !== len) throw Object.assign(new Error("short write"), { code: "ENOSPC" });
  }

  #setByte(pos: number, v: number): void {
    this.#small[0] = v;
    this.#pwrite(this.#small, 1, pos);
  }

  #write32(pos: number, v: number): void {
    this.#small.writeUInt32BE(v >>> 0, 0);
    this.#pwrite(this.#small, 4, pos);
  }

  /** Read and check the first header bytes; with `first`, also take the stored netmask. */
  #checkHead(first: boolean): Buffer {
    const b = this.#small;
    const n = this.#pread(b, b.length, 0);
    if (n < b.length) this.#truncated(n);
    const magic = b.readUInt32BE(H.magic);
    if (magic !== DN_MAGIC) {
      throw this.#fail(
        `not a SUNWbinfiles network container: magic is 0x${magic.toString(16)}, not 0x${
          DN_MAGIC.toString(16)
        }`,
      );
    }
    if (b[H.version] !== BINFILES_CONVER) {
      throw this.#fail(
        `container version is ${b[H.version]}, not ${BINFILES_CONVER}${
          b[H.version] === 0 ? " (its creation was interrupted)" : ""
        }`,
      );
    }
    const net = b.readUInt32BE(H.network);
    if (net !== this.network) {
      throw this.#fail(`holds network ${ipToString(net)}, not ${ipToString(this.network)}`);
    }
    if (first) {
      const mask = b.readUInt32BE(H.netmask);
      const inv = (~mask) >>> 0;
      if ((inv & (inv + 1)) !== 0 || slotCount(mask) > 2 ** (32 - MIN_PREFIX)) {
        throw this.#fail(
          `stored netmask ${ipToString(mask)} is not usable (contiguous, /${MIN_PREFIX} or longer)`,
        );
      }
      this.mask = mask;
    }
    if ((b[H.image] as number) > 1) throw this.#fail(`active image byte is ${b[H.image]}`);
    return b;
  }

  #truncated(size: number): never {
    throw this.#fail(
      `truncated: ${size} bytes, a container of this netmask has ${containerSize(this.mask)}`,
    );
  }

  /** Rebuild the cache from the file (the active image, as a lookup would see it). */
  #load(tolerant: boolean): void {
    const size = fs.fstatSync(this.#fd).size;
    if (size < containerSize(this.mask)) this.#truncated(size);
    const header = Buffer.alloc(DN_HEADER_SIZE);
    this.#pread(header, DN_HEADER_SIZE, 0);
    const image = header[H.image] as number;
    const dirty = header[H.dirty] as number;
    const tempimage = header[H.tempimage] as number;
    const report: ScanReport = { damage: [], orphans: [], imageDiffs: 0, headDiffs: 0 };
    const nslots = slotCount(this.mask);
    const t = new RecordTable(nslots);
    t.reserve(Math.max(1024, this.#t.count + 64));
    const pOff = image ? R.prev1 : R.prev0;
    const nOff = image ? R.next1 : R.next0;
    if (!tolerant && nslots > FULL_SCAN_SLOTS) {
      this.#loadByChains(header, t, report);
      return this.#loaded(header, t, report, tolerant);
    }
    const chunk = Buffer.alloc(CHUNK_SLOTS * DN_REC_SIZE);
    const qOff = image ? R.prev0 : R.prev1;
    const mOff = image ? R.next0 : R.next1;
    for (let first = 1; first <= nslots; first += CHUNK_SLOTS) {
      const count = Math.min(CHUNK_SLOTS, nslots - first + 1);
      this.#pread(chunk, count * DN_REC_SIZE, recOffset(first));
      for (let k = 0; k < count; k++) {
        const at = k * DN_REC_SIZE;
        const prev = chunk.readUInt32BE(at + pOff);
        const next = chunk.readUInt32BE(at + nOff);
        if (
          prev !== chunk.readUInt32BE(at + qOff) || next !== chunk.readUInt32BE(at + mOff)
        ) report.imageDiffs++;
        if (prev === 0) continue;
        const id = first + k;
        const bad = recordDamage(chunk, at);
        if (bad) report.damage.push(`record ${id}: ${bad}`);
        const cip = chunk.readUInt32BE(at + R.cip);
        if (recId(cip, this.mask) !== id || ((cip & this.mask) >>> 0) !== this.network) {
          report.damage.push(`record ${id} holds client IP ${ipToString(cip)}, not its own`);
        }
        t.setRaw(id, chunk, at, next, prev);
      }
    }
    // A modify that died after its commit: the temporary record is the slot's true content.
    if (dirty && tempimage === image) {
      const id = recId(header.readUInt32BE(H.temp + R.cip), this.mask);
      const prev = header.readUInt32BE(H.temp + pOff);
      if (id >= 1 && id <= nslots && prev !== 0) {
        t.setRaw(id, header, H.temp, header.readUInt32BE(H.temp + nOff), prev);
      }
    }
    for (let h = 0; h < DN_CIDHASHSZ; h++) {
      t.heads[h] = header.readUInt32BE(headOffset(h, image));
      if (t.heads[h] !== header.readUInt32BE(headOffset(h, 1 - image))) report.headDiffs++;
    }
    this.#verifyChains(t, report);
    this.#loaded(header, t, report, tolerant);
  }

  /** Read the records in use by walking the active image's chains (with their checks). */
  #loadByChains(header: Buffer, t: RecordTable, report: ScanReport): void {
    const image = header[H.image] as number;
    const pOff = image ? R.prev1 : R.prev0;
    const nOff = image ? R.next1 : R.next0;
    const tempId = header[H.dirty] && header[H.tempimage] === image
      ? recId(header.readUInt32BE(H.temp + R.cip), this.mask)
      : 0;
    const buf = Buffer.alloc(DN_REC_SIZE);
    for (let h = 0; h < DN_CIDHASHSZ; h++) {
      t.heads[h] = header.readUInt32BE(headOffset(h, image));
      if (t.heads[h] !== header.readUInt32BE(headOffset(h, 1 - image))) report.headDiffs++;
      let expect = DN_HASHHEAD;
      let id = t.heads[h] as number;
      while (id !== 0) {
        if (id < 1 || id > t.slots) {
          report.damage.push(`chain ${h} leads to record ${id}, outside the network`);
          break;
        }
        if (t.has(id)) {
          report.damage.push(`chain ${h} reaches record ${id} twice`);
          break;
        }
        // Where a modify died after its commit, the temporary record stands for the slot.
        const src = id === tempId ? header : buf;
        const at = id === tempId ? H.temp : 0;
        if (src === buf) this.#pread(buf, DN_REC_SIZE, recOffset(id));
        const prev = src.readUInt32BE(at + pOff);
        const next = src.readUInt32BE(at + nOff);
        if (prev === 0) {
          report.damage.push(`chain ${h} leads to record ${id}, which is not in use`);
          break;
        }
        if (prev !== expect) {
          report.damage.push(`record ${id} points back to ${prev}, not ${expect}`);
        }
        const bad = recordDamage(src, at);
        if (bad) report.damage.push(`record ${id}: ${bad}`);
        const cip = src.readUInt32BE(at + R.cip);
        if (recId(cip, this.mask) !== id || ((cip & this.mask) >>> 0) !== this.network) {
          report.damage.push(`record ${id} holds client IP ${ipToString(cip)}, not its own`);
        }
        t.setRaw(id, src, at, next, prev);
        if (t.hashOf(id) !== h) {
          report.damage.push(`record ${id} is on chain ${h}, its client ID hashes to another`);
        }
        expect = id;
        id = next;
      }
    }
  }

  /** Take a loaded table as the cache (or refuse a damaged container). */
  #loaded(header: Buffer, t: RecordTable, report: ScanReport, tolerant: boolean): void {
    const image = header[H.image] as number;
    const dirty = header[H.dirty] as number;
    const tempimage = header[H.tempimage] as number;
    if (report.damage.length && !tolerant) {
      const more = report.damage.length > 3 ? ` and ${report.damage.length - 3} more` : "";
      throw this.#fail(
        `damaged: ${report.damage.slice(0, 3).join("; ")}${more}; ` +
          "steward dhcp network check can repair what is repairable",
      );
    }
    this.#t = t;
    this.#dirty = dirty;
    this.#image = image;
    this.#tempimage = tempimage;
    this.#changes = header.readUInt32BE(H.changes);
    this.#needsRecovery = !dirty && (report.imageDiffs > 0 || report.headDiffs > 0);
    this.#stale = false;
    this.report = report;
  }

  /** Every chain well linked, every in-use record on the chain of its client ID's hash. */
  #verifyChains(t: RecordTable, report: ScanReport): void {
    const seen = new Uint8Array(t.slots + 1);
    let reached = 0;
    for (let h = 0; h < DN_CIDHASHSZ; h++) {
      let prev = DN_HASHHEAD;
      let id = t.heads[h] as number;
      while (id !== 0) {
        if (!t.has(id)) {
          report.damage.push(`chain ${h} leads to record ${id}, which is not in use`);
          break;
        }
        if (seen[id]) {
          report.damage.push(`chain ${h} reaches record ${id} twice`);
          break;
        }
        seen[id] = 1;
        reached++;
        if (t.prev[id] !== prev) {
          report.damage.push(`record ${id} points back to ${t.prev[id]}, not ${prev}`);
        }
        if (t.hashOf(id) !== h) {
          report.damage.push(`record ${id} is on chain ${h}, its client ID hashes to another`);
        }
        prev = id;
        id = t.next[id] as number;
      }
    }
    if (reached !== t.count) {
      for (const id of t.ids()) if (!seen[id]) report.orphans.push(id);
      report.damage.push(
        `${report.orphans.length} record(s) in use but on no chain (first: ${report.orphans[0]})`,
      );
    }
  }

  /** Bring the cache up to date with the file (call under the container's lock). */
  #refresh(): void {
    if (this.#closed) throw new DsvcError(DSVC.INVAL, `${this.file} is closed`);
    if (this.#stale) return this.#load(false);
    const b = this.#checkHead(false);
    const changes = b.readUInt32BE(H.changes);
    const dirty = b[H.dirty] as number;
    if (
      changes === this.#changes && dirty === this.#dirty && b[H.image] === this.#image &&
      b[H.tempimage] === this.#tempimage
    ) return;
    if (dirty || this.#dirty) return this.#load(false);
    const ids = this.#log.read(this.#changes, changes);
    if (!ids) return this.#load(false);
    this.#apply(ids, b[H.image] as number);
    this.#image = b[H.image] as number;
    this.#tempimage = b[H.tempimage] as number;
    this.#changes = changes;
  }

  /** Re-read records `ids` and the hash heads of `image`. */
  #apply(ids: Set<number>, image: number): void {
    const t = this.#t;
    const buf = this.#slotBuf;
    const pOff = image ? R.prev1 : R.prev0;
    const nOff = image ? R.next1 : R.next0;
    // The chains a change can touch: those of the old and the new client IDs of its records.
    const buckets = new Set<number>();
    for (const id of ids) {
      if (id < 1 || id > t.slots) return this.#load(false);
      this.#pread(buf, DN_REC_SIZE, recOffset(id));
      if (t.has(id)) buckets.add(t.hashOf(id));
      const prev = buf.readUInt32BE(pOff);
      if (prev === 0) {
        t.remove(id);
        continue;
      }
      t.setRaw(id, buf, 0, buf.readUInt32BE(nOff), prev);
      buckets.add(t.hashOf(id));
    }
    const head = this.#slotBuf;
    for (const h of buckets) {
      this.#pread(head, 4, headOffset(h, image));
      t.heads[h] = head.readUInt32BE(0);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Lookups

  /** Records matching the request, in upstream's order (reverse walk order). */
  lookup(req: ModuleLookup<DnRec>): LookupResult<DnRec> {
    this.#refresh();
    const t = this.#t;
    const limit = req.count < 0 ? Infinity : req.count;
    const out: DnRec[] = [];
    let n = 0;
    const visit = (id: number): boolean => {
      const rec = t.rec(id);
      if (!matchDnRec(rec, req.query, req.target)) return true;
      n++;
      if (!req.countOnly) out.push(rec);
      return n < limit;
    };
    if (qiseq(req.query, DN_QCIP)) {
      const id = recId(req.target.cip, this.mask);
      if (t.has(id)) visit(id);
    } else if (qiseq(req.query, DN_QCID)) {
      const cid = req.target.cid;
      const where = t.candidates(cid);
      if (typeof where === "number") {
        if (t.cidIs(where, cid)) visit(where);
      } else if (where === "walk") {
        // Compare the stored bytes before decoding a record.
        this.#walk(cidHash(cid), (id) => !t.cidIs(id, cid) || visit(id));
      }
    } else {
      for (let h = 0; h < DN_CIDHASHSZ; h++) if (!this.#walk(h, visit)) break;
    }
    return { records: req.countOnly ? [] : out.reverse(), count: n };
  }

  /** Visit chain `h` head first; false when `visit` asked to stop. */
  #walk(h: number, visit: (id: number) => boolean): boolean {
    const t = this.#t;
    let id = t.heads[h] as number;
    for (let steps = 0; id !== 0 && steps <= t.count; steps++) {
      if (!t.has(id)) break;
      if (!visit(id)) return false;
      const next = t.next[id] as number;
      if (next === id) break;
      id = next;
    }
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Updates

  #needWrite(): void {
    if (!this.writable) {
      throw new DsvcError(DSVC.ACCESS, `${path.basename(this.file)} was opened without DSVC_WRITE`);
    }
  }

  #prepareUpdate(): void {
    this.#needWrite();
    this.#refresh();
    if (this.#dirty || this.#needsRecovery) this.recover();
  }

  /** Add `newp` (sets its signature). */
  add(newp: DnRec): void {
    this.#prepareUpdate();
    const id = recId(newp.cip, this.mask);
    if (this.#t.has(id)) {
      throw new DsvcError(DSVC.EXISTS, `client IP ${ipToString(newp.cip)}`);
    }
    const rec = { ...copyDnRec(newp), sig: newSignature() };
    const tx = new Map<number, SlotChange>();
    const heads = new Map<number, number>();
    this.#linkHead(tx, heads, id, cidHash(rec.cid), rec);
    this.#commit(tx, heads);
    newp.sig = rec.sig;
  }

  /** Delete the record with `dnp`'s client IP (signature checked unless 0). */
  delete(dnp: DnRec): void {
    this.#prepareUpdate();
    const id = recId(dnp.cip, this.mask);
    const e = this.#t.has(id) ? this.#t.rec(id) : undefined;
    if (!e || e.cip !== dnp.cip) {
      throw new DsvcError(DSVC.NOENT, `client IP ${ipToString(dnp.cip)}`);
    }
    if (dnp.sig !== 0n && dnp.sig !== e.sig) {
      throw new DsvcError(
        DSVC.COLLISION,
        `record ${ipToString(dnp.cip)} changed since it was read`,
      );
    }
    const tx = new Map<number, SlotChange>();
    const heads = new Map<number, number>();
    this.#unlink(tx, heads, id);
    this.#commit(tx, heads);
  }

  /** Replace `origp` (same signature) by `newp` (sets its signature). */
  modify(origp: DnRec, newp: DnRec): void {
    this.#prepareUpdate();
    const id = recId(origp.cip, this.mask);
    const e = this.#t.has(id) ? this.#t.rec(id) : undefined;
    if (!e || e.cip !== origp.cip) {
      throw new DsvcError(DSVC.NOENT, `client IP ${ipToString(origp.cip)}`);
    }
    if (e.sig !== origp.sig) {
      throw new DsvcError(
        DSVC.COLLISION,
        `record ${ipToString(origp.cip)} changed since it was read`,
      );
    }
    const newId = recId(newp.cip, this.mask);
    if (newId !== id && this.#t.has(newId)) {
      throw new DsvcError(DSVC.EXISTS, `client IP ${ipToString(newp.cip)}`);
    }
    const rec = { ...copyDnRec(newp), sig: nextSignature(origp.sig) };
    const hash = cidHash(e.cid);
    const newHash = cidHash(rec.cid);
    const tx = new Map<number, SlotChange>();
    const heads = new Map<number, number>();
    if (hash !== newHash) {
      this.#unlink(tx, heads, id);
      this.#linkHead(tx, heads, newId, newHash, rec);
    } else if (newId !== id) {
      // The new slot takes the old one's place in the chain.
      const cur = this.#ptr(tx, id);
      tx.set(newId, { next: cur.next, prev: cur.prev, rec });
      if (cur.prev === DN_HASHHEAD) heads.set(hash, newId);
      else this.#set(tx, cur.prev, { next: newId });
      if (cur.next !== 0) this.#set(tx, cur.next, { prev: newId });
      this.#set(tx, id, { next: 0, prev: 0 });
    } else {
      const cur = this.#ptr(tx, id);
      tx.set(id, { next: cur.next, prev: cur.prev, rec });
    }
    this.#commit(tx, heads);
    newp.sig = rec.sig;
  }

  #ptr(tx: Map<number, SlotChange>, id: number): { next: number; prev: number } {
    const c = tx.get(id);
    if (c) return c;
    return { next: this.#t.next[id] as number, prev: this.#t.prev[id] as number };
  }

  #set(tx: Map<number, SlotChange>, id: number, p: { next?: number; prev?: number }): void {
    const cur = this.#ptr(tx, id);
    const c = tx.get(id);
    tx.set(id, { ...(c ?? {}), next: p.next ?? cur.next, prev: p.prev ?? cur.prev });
  }

  #headOf(heads: Map<number, number>, h: number): number {
    return heads.get(h) ?? (this.#t.heads[h] as number);
  }

  #linkHead(
    tx: Map<number, SlotChange>,
    heads: Map<number, number>,
    id: number,
    h: number,
    rec: DnRec,
  ): void {
    const old = this.#headOf(heads, h);
    tx.set(id, { next: old, prev: DN_HASHHEAD, rec });
    if (old !== 0) this.#set(tx, old, { prev: id });
    heads.set(h, id);
  }

  #unlink(tx: Map<number, SlotChange>, heads: Map<number, number>, id: number): void {
    const cur = this.#ptr(tx, id);
    if (cur.prev === DN_HASHHEAD) heads.set(this.#t.hashOf(id), cur.next);
    else this.#set(tx, cur.prev, { next: cur.next });
    if (cur.next !== 0) this.#set(tx, cur.next, { prev: cur.prev });
    this.#set(tx, id, { next: 0, prev: 0 });
  }

  /** Write slot `id`'s pointers: image `a` gets `pa`, the other `pb`. */
  #writePointers(
    id: number,
    a: number,
    pa: { next: number; prev: number },
    pb: { next: number; prev: number },
    rec?: DnRec,
    at?: number,
  ): void {
    const b = this.#slotBuf;
    const p0 = a === 0 ? pa : pb;
    const p1 = a === 0 ? pb : pa;
    b.writeUInt32BE(p0.next, R.next0);
    b.writeUInt32BE(p1.next, R.next1);
    b.writeUInt32BE(p0.prev, R.prev0);
    b.writeUInt32BE(p1.prev, R.prev1);
    if (rec) {
      encodeDnData(rec, b);
      this.#pwrite(b, DN_REC_SIZE, at ?? recOffset(id));
    } else {
      this.#pwrite(b, 16, recOffset(id));
    }
  }

  /**
   * Apply a transaction with upstream's protocol: dirty; the inactive image (a changed in-use
   * record goes to the temporary record); commit by flipping the image byte; the temporary
   * record to its slot; the old image; the change counter; clean.
   */
  #commit(tx: Map<number, SlotChange>, heads: Map<number, number>): void {
    for (const c of tx.values()) {
      if (c.rec) checkFields(c.rec);
    }
    const img = this.#image;
    const ni = 1 - img;
    const before = new Map<number, { next: number; prev: number }>();
    for (const id of tx.keys()) {
      before.set(id, { next: this.#t.next[id] as number, prev: this.#t.prev[id] as number });
    }
    let tempFor = 0;
    let committed = false;
    const wrote = new Set<number>();
    const wroteHeads = new Set<number>();
    try {
      // Dirty before anything else (upstream's modify writes first: flaw F1).
      this.#setByte(H.dirty, 1);
      this.#dirty = 1;
      for (const [id, c] of tx) {
        const old = before.get(id) as { next: number; prev: number };
        if (c.rec && this.#t.has(id)) {
          tempFor = id;
          this.#writePointers(id, img, old, c, c.rec, recOffset(DN_TEMPREC));
        } else {
          // Marked first: a write cut short is undone too.
          wrote.add(id);
          this.#writePointers(id, img, old, c, c.rec);
        }
      }
      for (const [h, v] of heads) {
        wroteHeads.add(h);
        this.#write32(headOffset(h, ni), v);
      }
      if (tempFor) this.#setByte(H.tempimage, ni);
      this.#setByte(H.image, ni);
      committed = true;
      this.#image = ni;
      if (tempFor) {
        const c = tx.get(tempFor) as SlotChange;
        this.#writePointers(tempFor, ni, c, c, c.rec);
        this.#setByte(H.tempimage, DN_NOIMAGE);
      }
      for (const [id, c] of tx) if (id !== tempFor) this.#writePointers(id, ni, c, c);
      for (const [h, v] of heads) this.#write32(headOffset(h, img), v);
      const changes = (this.#changes + 1) >>> 0;
      this.#log.write(changes, [...tx.keys()]);
      this.#write32(H.changes, changes);
      this.#changes = changes;
      this.#setByte(H.dirty, 0);
      this.#dirty = 0;
      this.#tempimage = DN_NOIMAGE;
    } catch (e) {
      if (!committed) this.#rollback(wrote, wroteHeads, before, img);
      // After the commit the change holds; the next update's recovery finishes the old image.
      else this.#stale = true;
      if (!committed) throw syserrToDsvc(e, this.file);
    }
    // The cache follows the new active image.
    const t = this.#t;
    for (const [id, c] of tx) {
      if (c.prev === 0) t.remove(id);
      else if (c.rec) t.setRec(id, c.rec, c.next, c.prev);
      else {
        t.next[id] = c.next;
        t.prev[id] = c.prev;
      }
    }
    for (const [h, v] of heads) t.heads[h] = v;
    this.#written++;
  }

  /** Undo the inactive-image writes of a transaction that failed before its commit. */
  #rollback(
    wrote: Set<number>,
    heads: Set<number>,
    before: Map<number, { next: number; prev: number }>,
    img: number,
  ): void {
    try {
      for (const id of wrote) {
        const old = before.get(id) as { next: number; prev: number };
        try {
          this.#writePointers(id, img, old, old);
        } catch (e) {
          // No room for its page now: then the forward write could not reach it either.
          if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
        }
      }
      for (const h of heads) this.#write32(headOffset(h, 1 - img), this.#t.heads[h] as number);
      this.#setByte(H.tempimage, DN_NOIMAGE);
      this.#setByte(H.dirty, 0);
      this.#dirty = 0;
      this.#tempimage = DN_NOIMAGE;
    } catch {
      // Still dirty on disk: the next update runs the recovery pass.
      this.#stale = true;
    }
  }

  /**
   * Upstream's check_dn: finish a modify that died after its commit (temporary record to its
   * slot), make the inactive image equal the active one, count, clean. Unlike upstream, a
   * temporary record left by a modify that died before its commit is retired as well, so that a
   * later commit cannot make it look authoritative again.
   * Returns the number of pointer pairs repaired.
   */
  recover(tolerant = false): { tempApplied: boolean; repaired: number; heads: number } {
    this.#needWrite();
    const header = Buffer.alloc(DN_HEADER_SIZE);
    this.#pread(header, DN_HEADER_SIZE, 0);
    const image = header[H.image] as number;
    let tempApplied = false;
    let repaired = 0;
    let headFixes = 0;
    try {
      if (!header[H.dirty]) this.#setByte(H.dirty, 1);
      if (header[H.tempimage] === image) {
        const t = decodeDnData(header, H.temp);
        const id = recId(t.cip, this.mask);
        if (id >= 1 && id <= slotCount(this.mask)) {
          this.#pwrite(
            header.subarray(H.temp, H.temp + DN_REC_SIZE) as Buffer,
            DN_REC_SIZE,
            recOffset(id),
          );
          tempApplied = true;
        }
      }
      header[H.tempimage] = DN_NOIMAGE;
      for (let h = 0; h < DN_CIDHASHSZ; h++) {
        const v = header.readUInt32BE(headOffset(h, image));
        if (header.readUInt32BE(headOffset(h, 1 - image)) !== v) {
          header.writeUInt32BE(v, headOffset(h, 1 - image));
          headFixes++;
        }
      }
      const nslots = slotCount(this.mask);
      const chunk = Buffer.alloc(CHUNK_SLOTS * DN_REC_SIZE);
      const fix = Buffer.alloc(16);
      for (let first = 1; first <= nslots; first += CHUNK_SLOTS) {
        const count = Math.min(CHUNK_SLOTS, nslots - first + 1);
        this.#pread(chunk, count * DN_REC_SIZE, recOffset(first));
        for (let k = 0; k < count; k++) {
          const at = k * DN_REC_SIZE;
          const n0 = chunk.readUInt32BE(at + R.next0);
          const n1 = chunk.readUInt32BE(at + R.next1);
          const p0 = chunk.readUInt32BE(at + R.prev0);
          const p1 = chunk.readUInt32BE(at + R.prev1);
          if (n0 === n1 && p0 === p1) continue;
          const n = image ? n1 : n0;
          const p = image ? p1 : p0;
          fix.writeUInt32BE(n, 0);
          fix.writeUInt32BE(n, 4);
          fix.writeUInt32BE(p, 8);
          fix.writeUInt32BE(p, 12);
          this.#pwrite(fix, 16, recOffset(first + k));
          repaired++;
        }
      }
      // The counters are in the writer's native order upstream (little-endian on x86).
      header.writeUInt32LE((header.readUInt32LE(H.checks) + 1) >>> 0, H.checks);
      header.writeUInt32LE((header.readUInt32LE(H.errors) + repaired) >>> 0, H.errors);
      const changes = (header.readUInt32BE(H.changes) + 1) >>> 0;
      header.writeUInt32BE(changes, H.changes);
      header[H.dirty] = 1;
      this.#log.write(changes, "all");
      this.#pwrite(header, DN_HEADER_SIZE, 0);
      this.#setByte(H.dirty, 0);
    } catch (e) {
      this.#stale = true;
      throw syserrToDsvc(e, this.file);
    }
    this.#load(tolerant);
    this.#written++;
    return { tempApplied, repaired, heads: headFixes };
  }

  /**
   * `network check` repair of damaged chains: every in-use record is put back on the chain of
   * its client ID's hash, in the order the intact part of the chain had, records no chain
   * reached after them; both images and every hash head are rewritten under the dirty flag.
   * Returns how many records moved or were relinked.
   */
  rebuildChains(): number {
    this.#needWrite();
    const t = this.#t;
    const order: number[][] = Array.from({ length: DN_CIDHASHSZ }, () => []);
    const placed = new Uint8Array(t.slots + 1);
    for (let h = 0; h < DN_CIDHASHSZ; h++) {
      let id = t.heads[h] as number;
      while (id !== 0 && t.has(id) && !placed[id] && t.hashOf(id) === h) {
        placed[id] = 1;
        (order[h] as number[]).push(id);
        id = t.next[id] as number;
      }
    }
    let moved = 0;
    for (const id of t.ids()) {
      if (placed[id]) continue;
      (order[t.hashOf(id)] as number[]).push(id);
      moved++;
    }
    const header = Buffer.alloc(DN_HEADER_SIZE - H.cidhash);
    try {
      this.#setByte(H.dirty, 1);
      for (let h = 0; h < DN_CIDHASHSZ; h++) {
        const ids = order[h] as number[];
        const head = ids[0] ?? 0;
        header.writeUInt32BE(head, 8 * h);
        header.writeUInt32BE(head, 8 * h + 4);
        ids.forEach((id, i) => {
          const p = { next: ids[i + 1] ?? 0, prev: i === 0 ? DN_HASHHEAD : (ids[i - 1] as number) };
          if (p.next !== t.next[id] || p.prev !== t.prev[id]) this.#writePointers(id, 0, p, p);
        });
      }
      this.#pwrite(header, header.length, H.cidhash);
      const changes = (this.#changes + 1) >>> 0;
      this.#log.write(changes, "all");
      this.#write32(H.changes, changes);
      this.#setByte(H.dirty, 0);
    } catch (e) {
      this.#stale = true;
      throw syserrToDsvc(e, this.file);
    }
    this.#written++;
    this.#load(true);
    return moved;
  }

  /** Whether the last load found the container clean and consistent. */
  get clean(): boolean {
    return this.#dirty === 0 && !this.#needsRecovery && this.report.damage.length === 0;
  }

  /** Header state, for `network check`. */
  get state(): { dirty: boolean; image: number; tempimage: number; records: number } {
    return {
      dirty: this.#dirty !== 0,
      image: this.#image,
      tempimage: this.#tempimage,
      records: this.#t.count,
    };
  }

  /** Make acknowledged updates durable (shared by concurrent callers). */
  async flush(): Promise<void> {
    if (!this.durable || this.#closed) return;
    const want = this.#written;
    try {
      while (this.#flusher.synced < want) await this.#flusher.flush();
    } catch (e) {
      throw syserrToDsvc(e, this.file);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#flusher.idle();
    this.#closed = true;
    this.#log.close();
    fs.closeSync(this.#fd);
  }

  /** Remove the change log beside a removed container. */
  static removeLog(file: string): void {
    new ChangeLog(file).remove();
  }
}

function checkFields(r: DnRec): void {
  try {
    encodeDnData(r, Buffer.alloc(DN_REC_SIZE));
  } catch (e) {
    if (e instanceof FieldTooLong) throw new DsvcError(DSVC.INVAL, e.message);
    throw e;
  }
}

/**
 * Create a container: header and full (sparse) size written to a private name, then linked
 * into place, so that a crash never leaves the version-0 file upstream can leave behind.
 */
function createContainer(file: string, net: number, mask: number): void {
  const prefix = 32 - Math.log2(slotCount(mask));
  if (prefix < MIN_PREFIX) {
    throw new DsvcError(
      DSVC.INVAL,
      `a SUNWbinfiles network must be /${MIN_PREFIX} or smaller, not /${prefix}`,
    );
  }
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.create`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, "wx", 0o644);
    const h = newNetworkHeader(net, mask);
    h[H.version] = BINFILES_CONVER;
    fs.writeSync(fd, h, 0, h.length, 0);
    fs.ftruncateSync(fd, containerSize(mask));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.chmodSync(tmp, 0o644);
    fs.linkSync(tmp, file);
    syncDirSync(path.dirname(file));
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    throw syserrToDsvc(e, file);
  } finally {
    try {
      fs.unlinkSync(tmp);
    } catch { /* gone */ }
  }
}

function syncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch {
    // Some file systems cannot fsync a directory.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

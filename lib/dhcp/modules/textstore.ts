/**
 * The engine behind the text-file modules (SUNWfiles versions 1 and 0): one file per container,
 * lookups by scanning (with the "\n<cip>|" fast path where the format allows it), updates by
 * copy-and-rename with the new or modified record appended at the end, results in reverse
 * file order as upstream prepends them.
 * @internal
 * @module
 */
import path from "node:path";
import { matchDnRec, matchDtRec } from "../match.ts";
import { ipToString, newSignature, nextSignature } from "../records.ts";
import {
  DN_QCIP,
  type DnRec,
  DSVC,
  DSVC_CREATE,
  DSVC_READ,
  DSVC_WRITE,
  DsvcError,
  type DsvcModule,
  type DtRec,
  type LookupResult,
  type ModuleDescription,
  type ModuleHandle,
  type ModuleLookup,
  qiseq,
  type WriteOptions,
} from "../spi.ts";
import {
  canonicalLocation,
  checkLocation,
  type ContainerContent,
  createFileExclusive,
  fileMode,
  lines,
  type LineSpan,
  listLocation,
  locationStatus,
  makeLocation,
  readContainerVersion,
  readHead,
  removeContainer,
  replaceContainer,
  spliceParts,
} from "./util.ts";

/** Where a record line is, for messages. */
export interface Place {
  file: string;
  readonly lineNo: number;
}

/** What differs between the text formats. */
export interface TextFormat {
  name: string;
  conver: number;
  synchtype: number;
  description: ModuleDescription;
  /** Whether records carry signatures (v1) or not (v0: reported as 1, never checked). */
  signatures: boolean;
  dtFile(location: string): string;
  dnFile(location: string, net: number): string;
  /** Header written on create ("" for none). */
  dtHeader(): string;
  dnHeader(net: number): string;
  /** undefined when the head is acceptable, else why not. */
  checkDtHead(head: Buffer): string | undefined;
  checkDnHead(head: Buffer, net: number): string | undefined;
  dtContinuation: boolean;
  dnContinuation: boolean;
  /** Parse one line; undefined for lines to skip (comments, blank lines). */
  decodeDt(text: string, at: Place): DtRec | undefined;
  decodeDn(text: string, at: Place): DnRec | undefined;
  encodeDt(r: DtRec): string;
  encodeDn(r: DnRec): string;
  /** The bytes that start the line of client IP `cip` right after a newline, if the format allows a substring search. */
  cipNeedle?(cip: number): string;
  /**
   * A cheap test on a record line before it is parsed: false when the line cannot match
   * (e.g. its client ID field differs from a DN_QCID-EQ target). Optional.
   */
  dnPrefilter?(text: string, query: number, target: DnRec): boolean;
  /** Names of network containers in a directory listing → dotted networks. */
  networkOf(fileName: string): string | undefined;
  dtFileName: string;
}

interface DtHandle {
  kind: "dt";
  file: string;
  flags: number;
}

interface DnHandle {
  kind: "dn";
  file: string;
  flags: number;
  net: number;
  mask: number;
}

function countLines(buf: Buffer, upto: number): number {
  let n = 1;
  for (let i = buf.indexOf(0x0a); i >= 0 && i < upto; i = buf.indexOf(0x0a, i + 1)) n++;
  return n;
}

function dtHandle(h: ModuleHandle): DtHandle {
  const d = h as Partial<DtHandle>;
  if (d.kind !== "dt") throw new DsvcError(DSVC.INVAL, "not a dhcptab handle");
  return d as DtHandle;
}

function dnHandle(h: ModuleHandle): DnHandle {
  const d = h as Partial<DnHandle>;
  if (d.kind !== "dn") throw new DsvcError(DSVC.INVAL, "not a network handle");
  return d as DnHandle;
}

function need(h: { flags: number; file: string }, flag: number): void {
  if (!(h.flags & flag)) {
    throw new DsvcError(
      DSVC.ACCESS,
      `${path.basename(h.file)} was opened ${
        flag === DSVC_READ ? "without DSVC_READ" : "without DSVC_WRITE"
      }`,
    );
  }
}

interface Found<R> {
  rec: R;
  span: { start: number; end: number };
}

/** Make a module from a text format. */
export function textModule(fmt: TextFormat): DsvcModule {
  const headError = (file: string, why: string) =>
    new DsvcError(
      DSVC.INTERNAL,
      `${file}: not a ${fmt.name} version ${fmt.conver} container: ${why}`,
    );

  async function readDt(h: DtHandle): Promise<ContainerContent> {
    const c = await readContainerVersion(h.file);
    const bad = fmt.checkDtHead(c.buf);
    if (bad) throw headError(h.file, bad);
    return c;
  }

  async function readDn(h: DnHandle): Promise<ContainerContent> {
    const c = await readContainerVersion(h.file);
    const bad = fmt.checkDnHead(c.buf, h.net);
    if (bad) throw headError(h.file, bad);
    return c;
  }

  /** Commit a rewrite of `h.file` made from `read`, only while the fence holds. */
  async function commit(
    h: { file: string },
    read: ContainerContent,
    parts: Uint8Array[],
    w: WriteOptions | undefined,
  ): Promise<void> {
    await replaceContainer(h.file, parts, {
      mode: await fileMode(h.file),
      fence: w?.fence,
      expect: read.version,
    });
  }

  function* dtRecords(buf: Buffer, file: string): Generator<Found<DtRec>> {
    for (const l of lines(buf, fmt.dtContinuation)) {
      const rec = fmt.decodeDt(l.text, { file, lineNo: l.lineNo });
      if (rec) yield { rec, span: l };
    }
  }

  function* dnRecords(
    buf: Buffer,
    file: string,
    filter?: (text: string) => boolean,
  ): Generator<Found<DnRec>> {
    for (const l of lines(buf, fmt.dnContinuation)) {
      if (filter && !filter(l.text)) continue;
      const rec = fmt.decodeDn(l.text, { file, lineNo: l.lineNo });
      if (rec) yield { rec, span: l };
    }
  }

  function findDn(buf: Buffer, file: string, cip: number): Found<DnRec> | undefined {
    if (fmt.cipNeedle) {
      // Upstream's fast path: the first "\n<ip>|" whose line parses (an invisible line, e.g.
      // one with a bad client ID, is passed over).
      const needle = `\n${fmt.cipNeedle(cip)}`;
      for (let at = buf.indexOf(needle); at >= 0; at = buf.indexOf(needle, at + 1)) {
        const start = at + 1;
        const nl = buf.indexOf(0x0a, start);
        const end = nl < 0 ? buf.length : nl + 1;
        const place = {
          file,
          get lineNo() {
            return countLines(buf, start);
          },
        };
        const text = buf.toString("utf8", start, nl < 0 ? buf.length : nl);
        const rec = fmt.decodeDn(text, place);
        if (rec && rec.cip === cip) {
          const span: LineSpan = {
            start,
            end,
            get lineNo() {
              return countLines(buf, start);
            },
            text,
          };
          return { rec, span };
        }
      }
      return undefined;
    }
    for (const f of dnRecords(buf, file)) if (f.rec.cip === cip) return f;
    return undefined;
  }

  function findDt(buf: Buffer, file: string, key: string, type: string): Found<DtRec> | undefined {
    for (const f of dtRecords(buf, file)) if (f.rec.key === key && f.rec.type === type) return f;
    return undefined;
  }

  function limitOf(count: number): number {
    return count < 0 ? Infinity : count;
  }

  function finish<R>(found: R[], n: number, countOnly: boolean): LookupResult<R> {
    // Upstream prepends each match to its result list: reverse file order.
    return { records: countOnly ? [] : found.reverse(), count: n };
  }

  /** The records of `scan` that match the request, up to its count, as a lookup result. */
  function collect<R>(
    scan: Iterable<{ rec: R }>,
    matches: (rec: R) => boolean,
    req: ModuleLookup<R>,
  ): LookupResult<R> {
    const found: R[] = [];
    let n = 0;
    const limit = limitOf(req.count);
    for (const f of scan) {
      if (n >= limit) break;
      if (!matches(f.rec)) continue;
      n++;
      if (!req.countOnly) found.push(f.rec);
    }
    return finish(found, n, req.countOnly);
  }

  function checkSig(stored: bigint, given: bigint, always: boolean, what: string): void {
    if (!fmt.signatures) return;
    if ((always || given !== 0n) && stored !== given) {
      throw new DsvcError(DSVC.COLLISION, `${what} changed since it was read`);
    }
  }

  function newSig(): bigint {
    return fmt.signatures ? newSignature() : 1n;
  }

  function bumpSig(old: bigint): bigint {
    return fmt.signatures ? nextSignature(old) : 1n;
  }

  async function openFile(
    location: string,
    flags: number,
    file: string,
    header: string,
    check: (head: Buffer) => string | undefined,
  ): Promise<void> {
    await checkLocation(location);
    if (flags & DSVC_CREATE) {
      await createFileExclusive(file, header);
      return;
    }
    const head = await readHead(file);
    const bad = check(head);
    if (bad) throw headError(file, bad);
  }

  return {
    name: fmt.name,
    conver: fmt.conver,
    synchtype: fmt.synchtype,
    description: fmt.description,

    mkloctoken: (location) => canonicalLocation(location),
    status: (location) => locationStatus(location),
    version: () => 1,
    mklocation: (location) => makeLocation(location),

    async listDt(location) {
      const names = await listLocation(location);
      return names.includes(fmt.dtFileName) ? ["dhcptab"] : [];
    },

    async openDt(location, flags) {
      const file = fmt.dtFile(location);
      await openFile(location, flags, file, fmt.dtHeader(), (head) => fmt.checkDtHead(head));
      const h: DtHandle = { kind: "dt", file, flags };
      return h;
    },

    closeDt(handle) {
      dtHandle(handle);
      return Promise.resolve();
    },

    async removeDt(location, w) {
      await checkLocation(location);
      await removeContainer(fmt.dtFile(location), w?.fence);
    },

    async lookupDt(handle, req: ModuleLookup<DtRec>) {
      const h = dtHandle(handle);
      need(h, DSVC_READ);
      const { buf } = await readDt(h);
      return collect(dtRecords(buf, h.file), (r) => matchDtRec(r, req.query, req.target), req);
    },

    async addDt(handle, newp, w) {
      const h = dtHandle(handle);
      need(h, DSVC_WRITE);
      const read = await readDt(h);
      const { buf } = read;
      if (findDt(buf, h.file, newp.key, newp.type)) {
        throw new DsvcError(DSVC.EXISTS, `${newp.type === "m" ? "macro" : "symbol"} ${newp.key}`);
      }
      const stored = { ...newp, sig: newSig() };
      const line = fmt.encodeDt(stored);
      await commit(h, read, spliceParts(buf, undefined, line), w);
      newp.sig = stored.sig;
    },

    async modifyDt(handle, origp, newp, w) {
      const h = dtHandle(handle);
      need(h, DSVC_WRITE);
      const read = await readDt(h);
      const { buf } = read;
      if (
        (origp.key !== newp.key || origp.type !== newp.type) &&
        findDt(buf, h.file, newp.key, newp.type)
      ) throw new DsvcError(DSVC.EXISTS, `${newp.type === "m" ? "macro" : "symbol"} ${newp.key}`);
      const old = findDt(buf, h.file, origp.key, origp.type);
      if (!old) {
        throw new DsvcError(DSVC.NOENT, `${origp.type === "m" ? "macro" : "symbol"} ${origp.key}`);
      }
      checkSig(old.rec.sig, origp.sig, true, `${origp.key}`);
      const stored = { ...newp, sig: bumpSig(old.rec.sig) };
      const line = fmt.encodeDt(stored);
      await commit(h, read, spliceParts(buf, old.span, line), w);
      newp.sig = stored.sig;
    },

    async deleteDt(handle, dtp, w) {
      const h = dtHandle(handle);
      need(h, DSVC_WRITE);
      const read = await readDt(h);
      const { buf } = read;
      const old = findDt(buf, h.file, dtp.key, dtp.type);
      if (!old) {
        throw new DsvcError(DSVC.NOENT, `${dtp.type === "m" ? "macro" : "symbol"} ${dtp.key}`);
      }
      checkSig(old.rec.sig, dtp.sig, false, dtp.key);
      await commit(h, read, spliceParts(buf, old.span), w);
    },

    async listDn(location) {
      const names = await listLocation(location);
      const nets = names.map((n) => fmt.networkOf(n)).filter((n): n is string => n !== undefined);
      return nets.sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
    },

    async openDn(location, flags, net, mask) {
      const file = fmt.dnFile(location, net);
      await openFile(
        location,
        flags,
        file,
        fmt.dnHeader(net),
        (head) => fmt.checkDnHead(head, net),
      );
      const h: DnHandle = { kind: "dn", file, flags, net, mask };
      return h;
    },

    closeDn(handle) {
      dnHandle(handle);
      return Promise.resolve();
    },

    async removeDn(location, net, w) {
      await checkLocation(location);
      await removeContainer(fmt.dnFile(location, net), w?.fence);
    },

    async lookupDn(handle, req: ModuleLookup<DnRec>) {
      const h = dnHandle(handle);
      need(h, DSVC_READ);
      const { buf } = await readDn(h);
      const matches = (r: DnRec) => matchDnRec(r, req.query, req.target);
      if (qiseq(req.query, DN_QCIP) && fmt.cipNeedle) {
        // Indexed path: at most one record per client IP.
        const f = findDn(buf, h.file, req.target.cip);
        return collect(f ? [f] : [], matches, req);
      }
      const pre = fmt.dnPrefilter;
      const filter = pre ? (text: string) => pre(text, req.query, req.target) : undefined;
      return collect(dnRecords(buf, h.file, filter), matches, req);
    },

    async addDn(handle, newp, w) {
      const h = dnHandle(handle);
      need(h, DSVC_WRITE);
      const read = await readDn(h);
      const { buf } = read;
      if (findDn(buf, h.file, newp.cip)) {
        throw new DsvcError(DSVC.EXISTS, `client IP ${ipToString(newp.cip)}`);
      }
      const stored = { ...newp, sig: newSig() };
      const line = fmt.encodeDn(stored);
      await commit(h, read, spliceParts(buf, undefined, line), w);
      newp.sig = stored.sig;
    },

    async modifyDn(handle, origp, newp, w) {
      const h = dnHandle(handle);
      need(h, DSVC_WRITE);
      const read = await readDn(h);
      const { buf } = read;
      if (origp.cip !== newp.cip && findDn(buf, h.file, newp.cip)) {
        throw new DsvcError(DSVC.EXISTS, `client IP ${ipToString(newp.cip)}`);
      }
      const old = findDn(buf, h.file, origp.cip);
      if (!old) throw new DsvcError(DSVC.NOENT, `client IP ${ipToString(origp.cip)}`);
      checkSig(old.rec.sig, origp.sig, true, `record ${ipToString(origp.cip)}`);
      const stored = { ...newp, sig: bumpSig(old.rec.sig) };
      const line = fmt.encodeDn(stored);
      await commit(h, read, spliceParts(buf, old.span, line), w);
      newp.sig = stored.sig;
    },

    async deleteDn(handle, dnp, w) {
      const h = dnHandle(handle);
      need(h, DSVC_WRITE);
      const read = await readDn(h);
      const { buf } = read;
      const old = findDn(buf, h.file, dnp.cip);
      if (!old) throw new DsvcError(DSVC.NOENT, `client IP ${ipToString(dnp.cip)}`);
      checkSig(old.rec.sig, dnp.sig, false, `record ${ipToString(dnp.cip)}`);
      await commit(h, read, spliceParts(buf, old.span), w);
    },
  };
}

/**
 * `network check` for SUNWbinfiles: open a container tolerantly, report what is wrong
 * (interrupted update, images that differ, damaged chains, damaged records) and repair what
 * the upstream recovery pass repairs — plus chains broken by damage, which upstream cannot
 * repair: every in-use record is put back on its chain, so no record is lost.
 * @internal
 * @module
 */
import { DN_NOIMAGE } from "./format.ts";
import { NetworkFile } from "./network.ts";
import { DsvcError } from "../../spi.ts";

/** What a check found and did. */
export interface ContainerCheck {
  records: number;
  problems: string[];
  repairs: string[];
  /** Problems still there after the repairs (or not repaired because repair was off). */
  unrepaired: string[];
}

/** Check (and with `repair`, repair) the container `file` of network `net`. */
export function checkBinfilesNetwork(
  file: string,
  net: number,
  mask: number,
  repair: boolean,
): ContainerCheck {
  const out: ContainerCheck = { records: 0, problems: [], repairs: [], unrepaired: [] };
  let nf: NetworkFile;
  try {
    nf = NetworkFile.open(file, net, mask, {
      writable: repair,
      create: false,
      durable: true,
      forCheck: true,
    });
  } catch (e) {
    const msg = e instanceof DsvcError ? (e.detail ?? e.message) : String(e);
    out.problems.push(msg);
    out.unrepaired.push(msg);
    return out;
  }
  try {
    const st = nf.state;
    const r = nf.report;
    const needsRecovery = st.dirty || r.imageDiffs > 0 || r.headDiffs > 0;
    if (st.dirty) {
      out.problems.push(
        st.tempimage === st.image
          ? "an update was interrupted after its commit (dirty flag set, temporary record authoritative)"
          : "an update was interrupted (dirty flag set)",
      );
    }
    if (r.imageDiffs > 0 || r.headDiffs > 0) {
      out.problems.push(
        `the inactive image differs from the active one: ${r.imageDiffs} record pointer pair(s), ${r.headDiffs} hash head(s)`,
      );
    }
    if (!st.dirty && st.tempimage !== DN_NOIMAGE) {
      out.problems.push(`a stale temporary-record marker (image ${st.tempimage})`);
    }
    const chainDamage = r.damage.filter((d) =>
      !/^record \d+: /.test(d) && !/holds client IP/.test(d)
    );
    out.problems.push(...r.damage);
    if (!repair) {
      out.unrepaired.push(...out.problems);
      out.records = st.records;
      return out;
    }
    if (needsRecovery || (!st.dirty && st.tempimage !== DN_NOIMAGE)) {
      const rec = nf.recover(true);
      out.repairs.push(
        `recovery pass: ${
          rec.tempApplied ? "temporary record copied to its slot, " : ""
        }${rec.repaired} record pointer pair(s) and ${rec.heads} hash head(s) of the inactive image rewritten`,
      );
    }
    if (chainDamage.length > 0) {
      const moved = nf.rebuildChains();
      out.repairs.push(`chains rebuilt from the records in use: ${moved} record(s) relinked`);
    }
    // Damaged record fields cannot be guessed back; they are reported, not changed.
    out.unrepaired.push(...nf.report.damage);
    out.records = nf.state.records;
    return out;
  } finally {
    void nf.close();
  }
}

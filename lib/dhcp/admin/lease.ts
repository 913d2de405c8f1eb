/**
 * Lease input and output of steward's own `network` commands: besides pntadm's forms, ISO 8601
 * dates and times and durations from now; times shown in the local zone, or in UTC.
 * @internal
 * @module
 */
import { DHCP_PERM } from "../spi.ts";
import { ADMIN_EXIT, AdminError, parseLeaseDate } from "./format.ts";

const UNIT_SECONDS: Readonly<Record<string, number>> = {
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
  w: 604800,
};

function bad(text: string): AdminError {
  return new AdminError(
    `Invalid lease expiration: ${text} (use 0, -1, mm/dd/yyyy, an ISO 8601 date such as 2026-12-31 or 2026-12-31T18:00Z, or a duration such as +7d, +12h)`,
    ADMIN_EXIT.WARNING,
  );
}

/**
 * A `--lease` value as the stored lease (seconds since the epoch, 0 none, DHCP_PERM permanent):
 * `0`, `-1`, pntadm's `mm/dd/yyyy`, an ISO 8601 date (`2026-12-31`, local midnight) or date and
 * time (`2026-12-31T18:00`, local, or with `Z` / `+01:00`), or `+N` with a unit s, m, h, d or w
 * from `now`.
 */
export function parseLeaseInput(text: string, now: number = Date.now()): number {
  const t = text.trim();
  if (t === "0" || t === "-1" || /^\d{1,9}\/\d{1,9}\/\d{1,9}/.test(t)) return parseLeaseDate(t);
  let ms: number;
  const dur = /^\+(\d{1,9})([smhdw])$/.exec(t);
  const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(t);
  if (dur) ms = now + Number(dur[1]) * (UNIT_SECONDS[dur[2] as string] as number) * 1000;
  else if (date) {
    const [y, m, d] = [Number(date[1]), Number(date[2]), Number(date[3])];
    const local = new Date(y, m - 1, d);
    if (local.getFullYear() !== y || local.getMonth() !== m - 1 || local.getDate() !== d) {
      throw bad(text);
    }
    ms = local.getTime();
  } else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?$/.test(t)) {
    // Without a zone, an ISO date-time is local time (ECMAScript Date), as the admin expects.
    ms = new Date(t).getTime();
  } else throw bad(text);
  const secs = Math.floor(ms / 1000);
  if (!Number.isFinite(secs) || secs < 1 || secs >= DHCP_PERM) throw bad(text);
  return secs;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, "0");
}

/**
 * A lease for `network show`: `none`, `permanent`, or the time in the local zone with its
 * offset (`2026-12-31 18:00:00 +0100`), or in UTC with `utc` (`2026-12-31 17:00:00 UTC`).
 */
export function formatLeaseTime(lease: number, utc: boolean): string {
  if (lease === 0) return "none";
  if (lease === DHCP_PERM) return "permanent";
  const d = new Date(lease * 1000);
  if (utc) {
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${
      pad(d.getUTCHours())
    }:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
  }
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? "-" : "+";
  const abs = Math.abs(off);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${
    pad(d.getMinutes())
  }:${pad(d.getSeconds())} ${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
}

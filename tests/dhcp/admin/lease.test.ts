/** Lease input of steward's own commands (ISO 8601, durations) and times in the local zone or UTC. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { formatLeaseTime, parseLeaseInput } from "../../../lib/dhcp/admin/lease.ts";
import { DHCP_PERM } from "../../../lib/dhcp/spi.ts";

describe("--lease", () => {
  test("takes ISO 8601 dates and times, durations from now and pntadm's forms", () => {
    const now = Date.UTC(2026, 11, 2, 12, 0, 0);
    assert.equal(parseLeaseInput("0"), 0);
    assert.equal(parseLeaseInput("-1"), DHCP_PERM);
    assert.equal(
      parseLeaseInput("2026-12-31"),
      new Date(2026, 11, 31).getTime() / 1000,
      "local midnight",
    );
    assert.equal(parseLeaseInput("12/31/2026"), new Date(2026, 11, 31).getTime() / 1000);
    assert.equal(parseLeaseInput("2026-12-31T18:00Z"), Date.UTC(2026, 11, 31, 18) / 1000);
    assert.equal(
      parseLeaseInput("2026-12-31T18:00:30+01:00"),
      Date.UTC(2026, 11, 31, 17, 0, 30) / 1000,
    );
    assert.equal(parseLeaseInput("+7d", now), now / 1000 + 7 * 86400);
    assert.equal(parseLeaseInput("+12h", now), now / 1000 + 12 * 3600);
    assert.equal(parseLeaseInput("+90s", now), now / 1000 + 90);
    for (
      const bad of ["2026-02-30", "+7y", "tomorrow", "2026-12-31T25:00", "+", "1969-12-31T00:00Z"]
    ) {
      assert.throws(() => parseLeaseInput(bad, now), /Invalid lease expiration/, bad);
    }
  });

  test("times show in the local zone with its offset, or in UTC", () => {
    const t = Date.UTC(2026, 11, 31, 17, 0, 0) / 1000;
    assert.equal(formatLeaseTime(t, true), "2026-12-31 17:00:00 UTC");
    const local = formatLeaseTime(t, false);
    assert.match(local, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4}$/);
    const d = new Date(t * 1000);
    assert.ok(
      local.startsWith(`${d.getFullYear()}-`) &&
        local.includes(`${String(d.getHours()).padStart(2, "0")}:00:00`),
    );
    assert.equal(formatLeaseTime(0, false), "none");
    assert.equal(formatLeaseTime(DHCP_PERM, true), "permanent");
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DhcpsvcConf } from "../../../lib/dhcp/conf.ts";
import { isDsvcError } from "../../../lib/dhcp/spi.ts";
import { serveConfig } from "../../../lib/dhcp/serve/config.ts";

const conf = (text: string) =>
  serveConfig(DhcpsvcConf.parse(`RESOURCE=SUNWfiles\nPATH=/var/dhcp\n${text}`));

describe("dhcp serve configuration", () => {
  it("serveConfig reads upstream's keys and steward's, with upstream's defaults", () => {
    const d = conf("");
    assert.equal(d.offerTimeout, 10);
    assert.equal(d.relayHops, 4);
    assert.equal(d.port, 67);
    assert.equal(d.broadcast, "directed");
    assert.deepEqual(d.interfaces, []);
    assert.equal(d.networks, undefined);
    const c = conf(
      "INTERFACES=eth1, eth2\nOFFER_CACHE_TIMEOUT=30\nRESCAN_INTERVAL=5\nBOOTP_COMPAT=automatic\n" +
        "OWNER_IP=10.0.0.1,10.0.0.2\nSTEWARD_SERVE_NETWORKS=10.9.0.0/24,10.8.0.0/255.255.0.0\n" +
        "STEWARD_SERVE_METRICS=127.0.0.1:9167\nSTEWARD_SERVE_LOG=-\nVERBOSE=TRUE\n",
    );
    assert.deepEqual(c.interfaces, ["eth1", "eth2"]);
    assert.equal(c.offerTimeout, 30);
    assert.equal(c.rescanMinutes, 5);
    assert.equal(c.bootpAutomatic, true);
    assert.deepEqual(c.ownerIps, [0x0a000001, 0x0a000002]);
    assert.deepEqual(c.networks, [
      { network: 0x0a090000, netmask: 0xffffff00 },
      { network: 0x0a080000, netmask: 0xffff0000 },
    ]);
    assert.deepEqual(c.metrics, { host: "127.0.0.1", port: 9167 });
    assert.equal(c.logFile, undefined);
    assert.equal(c.verbose, true);
  });

  it("serveConfig refuses a bad value with a message naming the key", () => {
    for (
      const [line, key] of [
        ["OFFER_CACHE_TIMEOUT=soon", "OFFER_CACHE_TIMEOUT"],
        ["RELAY_HOPS=99", "RELAY_HOPS"],
        ["RUN_MODE=relay", "RUN_MODE"],
        ["BOOTP_COMPAT=sometimes", "BOOTP_COMPAT"],
        ["STEWARD_SERVE_NETWORKS=10.9.0.1/24", "STEWARD_SERVE_NETWORKS"],
        ["STEWARD_SERVE_METRICS=everywhere", "STEWARD_SERVE_METRICS"],
        ["STEWARD_SERVE_BROADCAST=loud", "STEWARD_SERVE_BROADCAST"],
        ["OWNER_IP=server", "OWNER_IP"],
        ["VERBOSE=yes", "VERBOSE"],
      ]
    ) {
      assert.throws(() => conf(line!), (e) => isDsvcError(e) && e.message.includes(key!), line);
    }
  });
});

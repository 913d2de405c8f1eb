import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { cidToHex } from "../../../lib/dhcp/records.ts";
import { DHCP_PERM, DN_FBOOTP_ONLY, DN_FMANUAL, DN_FUNUSABLE } from "../../../lib/dhcp/spi.ts";
import { FREE_BATCH } from "../../../lib/dhcp/serve/allocate.ts";
import type { Engine, Outgoing } from "../../../lib/dhcp/serve/engine.ts";
import { DHCP, OPT } from "../../../lib/dhcp/serve/packet.ts";
import { tempDir } from "../../helpers.ts";
import { cid, ip, ipb, mac, replyOf, request, type RequestSpec, testServer } from "./helpers.ts";

const NET = {
  name: "10.0.0.0",
  mask: "255.255.255.0",
  serverId: "10.0.0.1",
  direct: true,
  addresses: ["10.0.0.10", "10.0.0.11", "10.0.0.12"],
};
const DHCPTAB: [string, "m" | "s", string][] = [
  ["10.0.0.0", "m", ':Router=10.0.0.1:LeaseTim=600:LeaseNeg:DNSdmain="lan.test":'],
];

async function send(e: Engine, spec: RequestSpec): Promise<Outgoing | undefined> {
  return await e.handle({ data: request(spec), address: "0.0.0.0", port: 68 });
}

async function dora(e: Engine, m: Uint8Array, extra: RequestSpec = {}) {
  const offer = await send(e, { type: DHCP.DISCOVER, mac: m, ...extra });
  assert.ok(offer, "an OFFER");
  const o = replyOf(offer.data);
  assert.equal(o.messageType, DHCP.OFFER);
  const ack = await send(e, {
    type: DHCP.REQUEST,
    mac: m,
    ...extra,
    options: [[OPT.SERVER_ID, o.options.get(OPT.SERVER_ID)!], [OPT.REQUESTED_IP, ipb4(o.yiaddr)]],
  });
  return { offer, o, ack, a: ack ? replyOf(ack.data) : undefined };
}

function ipb4(n: number): number[] {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}

describe("dhcp serve engine", () => {
  it("Engine binds the first free address on DISCOVER/REQUEST and stores the lease", async () => {
    using tmp = tempDir("serve-eng");
    await using s = await testServer(tmp.path, { dhcptab: DHCPTAB, networks: [NET] });
    const { o, ack, a } = await dora(s.engine, mac(1));
    assert.equal(o.yiaddr, ip("10.0.0.10"));
    assert.ok(ack && a);
    assert.equal(a.messageType, DHCP.ACK);
    assert.equal(a.yiaddr, ip("10.0.0.10"));
    assert.deepEqual([...a.options.get(OPT.LEASE_TIME)!], [0, 0, 2, 88]);
    assert.deepEqual([...a.options.get(OPT.ROUTER)!], [10, 0, 0, 1]);
    assert.deepEqual([...a.options.get(OPT.SUBNET_MASK)!], [255, 255, 255, 0]);
    assert.equal(new TextDecoder().decode(a.options.get(15)), "lan.test");
    assert.equal(ack.address, "255.255.255.255");
    assert.equal(ack.broadcast, true);
    const rec = (await s.records("10.0.0.0")).find((r) => r.cip === ip("10.0.0.10"))!;
    assert.equal(cidToHex(rec.cid), "01020000000001");
    assert.equal(rec.lease, s.clock.now + 600);
    assert.equal(s.engine.stats.leases, 1);
  });

  it("Engine gives a client its own record again and honours a free requested address", async () => {
    using tmp = tempDir("serve-eng");
    await using s = await testServer(tmp.path, { dhcptab: DHCPTAB, networks: [NET] });
    await dora(s.engine, mac(1));
    const again = await dora(s.engine, mac(1));
    assert.equal(again.a?.yiaddr, ip("10.0.0.10"));
    const asked = await dora(s.engine, mac(2), { options: [[OPT.REQUESTED_IP, ipb("10.0.0.12")]] });
    assert.equal(asked.o.yiaddr, ip("10.0.0.12"));
    // an address bound to another client is not given even when requested
    const taken = await dora(s.engine, mac(3), { options: [[OPT.REQUESTED_IP, ipb("10.0.0.10")]] });
    assert.equal(taken.o.yiaddr, ip("10.0.0.11"));
  });

  it("Engine never offers UNUSABLE or others' MANUAL records and offers a client its MANUAL one", async () => {
    using tmp = tempDir("serve-eng");
    await using s = await testServer(tmp.path, {
      dhcptab: DHCPTAB,
      networks: [NET],
      records: [
        {
          net: "10.0.0.0",
          rec: { cip: ip("10.0.0.10"), flags: DN_FUNUSABLE, sip: ip("10.0.0.1") },
        },
        {
          net: "10.0.0.0",
          rec: {
            cip: ip("10.0.0.11"),
            flags: DN_FMANUAL,
            cid: cid("01020000000009"),
            sip: ip("10.0.0.1"),
          },
        },
      ],
    });
    const first = await dora(s.engine, mac(1));
    assert.equal(first.o.yiaddr, ip("10.0.0.12"));
    const manual = await dora(s.engine, mac(9));
    assert.equal(manual.a?.yiaddr, ip("10.0.0.11"));
    const rec = (await s.records("10.0.0.0")).find((r) => r.cip === ip("10.0.0.11"))!;
    assert.equal(rec.flags, DN_FMANUAL);
    // pool now exhausted: silence and a log line naming the network
    assert.equal(await send(s.engine, { type: DHCP.DISCOVER, mac: mac(4) }), undefined);
    assert.equal(s.engine.stats.exhausted, 1);
    assert.ok(s.logs.some((l) => l.includes("No more IP addresses on 10.0.0.0 network")));
  });

  it("Engine marks a DECLINEd address UNUSABLE and frees a RELEASEd one", async () => {
    using tmp = tempDir("serve-eng");
    await using s = await testServer(tmp.path, { dhcptab: DHCPTAB, networks: [NET] });
    await dora(s.engine, mac(1));
    await send(s.engine, {
      type: DHCP.DECLINE,
      mac: mac(1),
      options: [[OPT.REQUESTED_IP, ipb("10.0.0.10")], [OPT.SERVER_ID, ipb("10.0.0.1")]],
    });
    let rec = (await s.records("10.0.0.0")).find((r) => r.cip === ip("10.0.0.10"))!;
    assert.equal(rec.flags & DN_FUNUSABLE, DN_FUNUSABLE);
    assert.equal(cidToHex(rec.cid), "00");
    const next = await dora(s.engine, mac(1));
    assert.equal(next.a?.yiaddr, ip("10.0.0.11"));
    await send(s.engine, { type: DHCP.RELEASE, mac: mac(1), ciaddr: ip("10.0.0.11") });
    rec = (await s.records("10.0.0.0")).find((r) => r.cip === ip("10.0.0.11"))!;
    assert.equal(cidToHex(rec.cid), "00");
    assert.equal(rec.lease, 0);
    assert.equal(s.engine.stats.declines, 1);
    assert.equal(s.engine.stats.releases, 1);
  });

  it("Engine renews with LeaseNeg, NAKs a wrong address and expired lease, and keeps silent for unknown ones", async () => {
    using tmp = tempDir("serve-eng");
    await using s = await testServer(tmp.path, { dhcptab: DHCPTAB, networks: [NET] });
    await dora(s.engine, mac(1));
    s.clock.now += 300;
    const renew = await send(s.engine, {
      type: DHCP.REQUEST,
      mac: mac(1),
      ciaddr: ip("10.0.0.10"),
    });
    assert.ok(renew);
    assert.equal(renew.address, "10.0.0.10");
    assert.equal(renew.broadcast, false);
    assert.equal(replyOf(renew.data).messageType, DHCP.ACK);
    let rec = (await s.records("10.0.0.0")).find((r) => r.cip === ip("10.0.0.10"))!;
    assert.equal(rec.lease, s.clock.now + 600);
    const wrong = await send(s.engine, {
      type: DHCP.REQUEST,
      mac: mac(1),
      options: [[OPT.REQUESTED_IP, ipb("10.0.0.12")]],
    });
    assert.equal(replyOf(wrong!.data).messageType, DHCP.NAK);
    assert.equal(
      new TextDecoder().decode(replyOf(wrong!.data).options.get(OPT.MESSAGE)),
      "Incorrect IP address.",
    );
    assert.equal(
      await send(s.engine, { type: DHCP.REQUEST, mac: mac(5), ciaddr: ip("10.0.0.11") }),
      undefined,
    );
    s.clock.now += 10_000;
    const expired = await send(s.engine, {
      type: DHCP.REQUEST,
      mac: mac(1),
      ciaddr: ip("10.0.0.10"),
    });
    assert.equal(replyOf(expired!.data).messageType, DHCP.NAK);
    rec = (await s.records("10.0.0.0")).find((r) => r.cip === ip("10.0.0.10"))!;
    assert.ok(rec.lease < s.clock.now);
    // an expired lease is given to a new client once no free address is left
    await dora(s.engine, mac(6));
    await dora(s.engine, mac(7));
    const reused = await dora(s.engine, mac(8));
    assert.equal(reused.a?.yiaddr, ip("10.0.0.10"));
  });

  it("Engine without LeaseNeg does not extend a lease on renewal, as upstream", async () => {
    using tmp = tempDir("serve-eng");
    await using s = await testServer(tmp.path, {
      dhcptab: [["10.0.0.0", "m", ":LeaseTim=600:"]],
      networks: [NET],
    });
    await dora(s.engine, mac(1));
    const end = s.clock.now + 600;
    s.clock.now += 100;
    const renew = await send(s.engine, {
      type: DHCP.REQUEST,
      mac: mac(1),
      ciaddr: ip("10.0.0.10"),
    });
    assert.deepEqual([...replyOf(renew!.data).options.get(OPT.LEASE_TIME)!], ipb4(500));
    const rec = (await s.records("10.0.0.0")).find((r) => r.cip === ip("10.0.0.10"))!;
    assert.equal(rec.lease, end);
  });

  it("Engine sees an administrator's change between OFFER and REQUEST and never binds twice", async () => {
    using tmp = tempDir("serve-eng");
    await using s = await testServer(tmp.path, { dhcptab: DHCPTAB, networks: [NET] });
    const offer = await send(s.engine, { type: DHCP.DISCOVER, mac: mac(1) });
    const o = replyOf(offer!.data);
    // the admin gives the offered address to another client (pntadm -M)
    const c = s.container("10.0.0.0");
    const cur = (await c.lookup(0x00020002, { cip: o.yiaddr })).records[0]!;
    await c.modify(cur, { ...cur, cid: cid("01AABBCCDDEEFF"), flags: DN_FMANUAL });
    const ack = await send(s.engine, {
      type: DHCP.REQUEST,
      mac: mac(1),
      options: [[OPT.SERVER_ID, ipb("10.0.0.1")], [OPT.REQUESTED_IP, ipb4(o.yiaddr)]],
    });
    assert.equal(ack, undefined);
    const rec = (await s.records("10.0.0.0")).find((r) => r.cip === o.yiaddr)!;
    assert.equal(cidToHex(rec.cid), "01AABBCCDDEEFF");
    // a harmless change (comment) only collides, and the retry binds
    const offer2 = replyOf((await send(s.engine, { type: DHCP.DISCOVER, mac: mac(2) }))!.data);
    const cur2 = (await c.lookup(0x00020002, { cip: offer2.yiaddr })).records[0]!;
    await c.modify(cur2, { ...cur2, comment: "checked" });
    const ack2 = await send(s.engine, {
      type: DHCP.REQUEST,
      mac: mac(2),
      options: [[OPT.SERVER_ID, ipb("10.0.0.1")], [OPT.REQUESTED_IP, ipb4(offer2.yiaddr)]],
    });
    assert.equal(replyOf(ack2!.data).messageType, DHCP.ACK);
    assert.equal(s.engine.stats.collisions, 2);
  });

  it("Engine does not offer an address bound after its free cache was filled", async () => {
    using tmp = tempDir("serve-eng");
    await using s = await testServer(tmp.path, {
      dhcptab: DHCPTAB,
      networks: [{
        ...NET,
        addresses: ["10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14"],
      }],
    });
    const offer = async (n: number, extra: RequestSpec = {}) =>
      replyOf((await send(s.engine, { type: DHCP.DISCOVER, mac: mac(n), ...extra }))!.data).yiaddr;
    assert.equal(
      await offer(1, { options: [[OPT.REQUESTED_IP, ipb("10.0.0.12")]] }),
      ip("10.0.0.12"),
    );
    assert.equal(await offer(2), ip("10.0.0.10")); // fills the cache with .11-.14, .12 among them
    const ack = await send(s.engine, {
      type: DHCP.REQUEST,
      mac: mac(1),
      options: [[OPT.SERVER_ID, ipb("10.0.0.1")], [OPT.REQUESTED_IP, ipb("10.0.0.12")]],
    });
    assert.equal(replyOf(ack!.data).messageType, DHCP.ACK);
    assert.equal(await offer(3), ip("10.0.0.11"));
    assert.equal(await offer(4), ip("10.0.0.13"), "10.0.0.12 is bound: not offered again");
  });

  it("Engine offers more addresses than one free batch within a second, each once", async () => {
    // A batch used up within the second it was fetched is refilled at once (a pool is "exhausted"
    // only when a lookup finds nothing), and addresses offered to others, still free in the
    // store until their REQUEST, are skipped without hiding the free ones after them.
    using tmp = tempDir("serve-eng");
    const n = FREE_BATCH + 40;
    const addresses: string[] = [];
    for (let i = 0; i < n + 2; i++) addresses.push(`10.0.${1 + (i >> 8)}.${i & 255}`);
    await using s = await testServer(tmp.path, {
      dhcptab: [["10.0.0.0", "m", ":LeaseTim=600:"]],
      networks: [{ ...NET, mask: "255.255.252.0", addresses }],
    });
    const seen = new Set<number>();
    for (let i = 0; i < n; i++) {
      const offer = await send(s.engine, { type: DHCP.DISCOVER, mac: mac(1000 + i) });
      assert.ok(offer, `an OFFER for client ${i}`);
      seen.add(replyOf(offer.data).yiaddr);
    }
    assert.equal(seen.size, n, "every client offered an address of its own");
    assert.equal(s.engine.stats.exhausted, 0);
  });

  it("Engine gives concurrent DISCOVERs distinct addresses from one free lookup", async () => {
    using tmp = tempDir("serve-eng");
    const addresses = Array.from({ length: 12 }, (_, i) => `10.0.0.${10 + i}`);
    // SUNWbinfiles answers from memory: the lookups of all eight end in one turn of the loop.
    await using s = await testServer(tmp.path, {
      dhcptab: DHCPTAB,
      networks: [{ ...NET, addresses }],
      resource: "SUNWbinfiles",
    });
    const offers = await Promise.all(
      Array.from(
        { length: 8 },
        (_, i) => send(s.engine, { type: DHCP.DISCOVER, mac: mac(50 + i) }),
      ),
    );
    const yi = offers.map((o) => (assert.ok(o), replyOf(o.data).yiaddr));
    assert.equal(new Set(yi).size, 8, `distinct offers: ${yi.map((x) => x & 255).join(" ")}`);
  });

  it("Engine gives more concurrent DISCOVERs than one free batch holds an address each", async () => {
    using tmp = tempDir("serve-eng");
    const n = FREE_BATCH + 20;
    const addresses: string[] = [];
    for (let i = 0; i < n + 4; i++) addresses.push(`10.0.${1 + (i >> 8)}.${i & 255}`);
    await using s = await testServer(tmp.path, {
      dhcptab: [["10.0.0.0", "m", ":LeaseTim=600:"]],
      networks: [{ ...NET, mask: "255.255.252.0", addresses }],
      resource: "SUNWbinfiles",
    });
    const offers = await Promise.all(
      Array.from(
        { length: n },
        (_, i) => send(s.engine, { type: DHCP.DISCOVER, mac: mac(2000 + i) }),
      ),
    );
    const st = JSON.stringify(s.engine.stats.toJSON());
    const yi = new Set(
      offers.map((o) => (assert.ok(o, `an OFFER: ${st}`), replyOf(o.data).yiaddr)),
    );
    assert.equal(yi.size, n);
    assert.equal(s.engine.stats.exhausted, 0);
  });

  it("Engine does not offer an address bound while its free lookup was under way", async () => {
    using tmp = tempDir("serve-eng");
    await using s = await testServer(tmp.path, {
      dhcptab: DHCPTAB,
      networks: [NET],
      offerTimeout: 60,
    });
    const c = s.container("10.0.0.0");
    const lookup = c.lookup.bind(c);
    const hold: { gate?: Promise<void> } = {};
    let looked: () => void = () => {};
    const lookedUp = new Promise<void>((r) => (looked = r));
    // The free lookup reads the store, then its answer is held until the gate opens.
    c.lookup = async (q, t, o) => {
      const r = await lookup(q, t, o);
      if (hold.gate && t.cid?.length === 1 && t.cid[0] === 0) {
        looked();
        await hold.gate;
      }
      return r;
    };
    const offer1 = await send(s.engine, { type: DHCP.DISCOVER, mac: mac(1) });
    const o1 = replyOf(offer1!.data);
    assert.equal(o1.yiaddr, ip("10.0.0.10"));
    s.clock.now += 11; // past CACHE_TIMEOUT: the next DISCOVER fetches free records again
    let open: () => void = () => {};
    hold.gate = new Promise<void>((r) => (open = r));
    const offer2 = send(s.engine, { type: DHCP.DISCOVER, mac: mac(2) });
    await lookedUp; // its lookup saw 10.0.0.10 still free
    const ack1 = await send(s.engine, {
      type: DHCP.REQUEST,
      mac: mac(1),
      options: [[OPT.SERVER_ID, ipb("10.0.0.1")], [OPT.REQUESTED_IP, ipb("10.0.0.10")]],
    });
    assert.equal(replyOf(ack1!.data).messageType, DHCP.ACK);
    open();
    const o2 = replyOf((await offer2)!.data);
    assert.equal(o2.yiaddr, ip("10.0.0.11"), "not the address bound meanwhile");
  });

  it("Engine answers a relayed request on the giaddr's network to the relay and drops unknown relays", async () => {
    using tmp = tempDir("serve-eng");
    await using s = await testServer(tmp.path, {
      dhcptab: [...DHCPTAB, ["10.9.0.0", "m", ":Router=10.9.0.1:"]],
      networks: [NET, { ...NET, name: "10.9.0.0", direct: false, addresses: ["10.9.0.50"] }],
    });
    const r = await dora(s.engine, mac(1), { giaddr: ip("10.9.0.1"), flags: 0x8000 });
    assert.equal(r.o.yiaddr, ip("10.9.0.50"));
    assert.equal(r.offer.address, "10.9.0.1");
    assert.equal(r.offer.port, 67);
    assert.equal(r.a?.giaddr, ip("10.9.0.1"));
    assert.equal(r.a?.flags, 0x8000);
    assert.deepEqual([...r.a!.options.get(OPT.ROUTER)!], [10, 9, 0, 1]);
    assert.equal(
      await send(s.engine, { type: DHCP.DISCOVER, mac: mac(2), giaddr: ip("192.0.2.1") }),
      undefined,
    );
    assert.equal(s.engine.stats.drops.get("giaddr"), 1);
  });

  it("Engine answers INFORM with options and no lease, to ciaddr", async () => {
    using tmp = tempDir("serve-eng");
    await using s = await testServer(tmp.path, { dhcptab: DHCPTAB, networks: [NET] });
    const r = await send(s.engine, { type: DHCP.INFORM, mac: mac(1), ciaddr: ip("10.0.0.77") });
    const a = replyOf(r!.data);
    assert.equal(a.messageType, DHCP.ACK);
    assert.equal(a.yiaddr, 0);
    assert.equal(a.options.has(OPT.LEASE_TIME), false);
    assert.deepEqual([...a.options.get(OPT.ROUTER)!], [10, 0, 0, 1]);
    assert.equal(r!.address, "10.0.0.77");
  });

  it("Engine serves BOOTP clients from BOOTP records only, permanently when automatic", async () => {
    using tmp = tempDir("serve-eng");
    await using s = await testServer(tmp.path, {
      dhcptab: DHCPTAB,
      networks: [NET],
      records: [{
        net: "10.0.0.0",
        rec: { cip: ip("10.0.0.12"), flags: DN_FBOOTP_ONLY, sip: ip("10.0.0.1") },
      }],
      engine: { bootpAutomatic: true },
    });
    const r = await send(s.engine, { mac: mac(1) });
    const a = replyOf(r!.data);
    assert.equal(a.messageType, undefined);
    assert.equal(a.yiaddr, ip("10.0.0.12"));
    assert.ok(r!.data.length >= 300);
    const rec = (await s.records("10.0.0.0")).find((x) => x.cip === ip("10.0.0.12"))!;
    assert.equal(rec.lease, DHCP_PERM);
    assert.equal(cidToHex(rec.cid), "01020000000001");
    // a second BOOTP client finds no BOOTP record left; DHCP clients never get BOOTP ones
    assert.equal(await send(s.engine, { mac: mac(2) }), undefined);
  });

  it("Engine keeps replies within 576 bytes and puts requested options first", async () => {
    using tmp = tempDir("serve-eng");
    const big = Array.from({ length: 12 }, (_, i) => `S${i}=\"${"x".repeat(60)}\"`).join(":");
    const syms: [string, "m" | "s", string][] = Array.from(
      { length: 12 },
      (_, i) => [`S${i}`, "s", `Site,${140 + i},ASCII,1,0`] as [string, "s", string],
    );
    await using s = await testServer(tmp.path, {
      dhcptab: [...syms, ["10.0.0.0", "m", `:Router=10.0.0.1:${big}:`]],
      networks: [NET],
    });
    const r = await send(s.engine, {
      type: DHCP.DISCOVER,
      mac: mac(1),
      options: [[OPT.PARAMETER_LIST, [151, 3]]],
    });
    assert.ok(r!.data.length <= 576);
    const o = replyOf(r!.data);
    assert.ok(o.options.has(151), "requested site option present");
    assert.ok(o.options.has(3));
    assert.ok((s.engine.stats.drops.get("option-room") ?? 0) > 0);
  });

  it("Engine counts malformed datagrams and answers none of them", async () => {
    using tmp = tempDir("serve-eng");
    await using s = await testServer(tmp.path, { dhcptab: DHCPTAB, networks: [NET] });
    const good = request({ type: DHCP.DISCOVER, mac: mac(1) });
    const bad = [
      good.subarray(0, 100),
      good.map((b, i) => (i === 236 ? 0 : b)),
      new Uint8Array(9000),
    ];
    for (const d of bad) {
      assert.equal(await s.engine.handle({ data: d, address: "0.0.0.0", port: 68 }), undefined);
    }
    assert.equal(s.engine.stats.drops.get("short"), 1);
    assert.equal(s.engine.stats.drops.get("cookie"), 1);
    assert.equal(s.engine.stats.drops.get("oversized"), 1);
  });
});

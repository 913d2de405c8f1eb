import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  decodeRequest,
  DHCP,
  encodeReply,
  maxReplySize,
  OPT,
  PacketError,
} from "../../../lib/dhcp/serve/packet.ts";
import { mac, request } from "./helpers.ts";

function reason(b: Uint8Array): string {
  try {
    decodeRequest(b);
    return "ok";
  } catch (e) {
    assert.ok(e instanceof PacketError);
    return e.reason;
  }
}

describe("packet codec", () => {
  it("decodeRequest reads the fields and options of a DISCOVER", () => {
    const b = request({
      type: DHCP.DISCOVER,
      mac: mac(7),
      xid: 0xdeadbeef,
      flags: 0x8000,
      options: [[OPT.PARAMETER_LIST, [1, 3, 6]], [OPT.CLIENT_ID, [1, 2, 0, 0, 0, 0, 7]]],
    });
    const r = decodeRequest(b);
    assert.equal(r.messageType, DHCP.DISCOVER);
    assert.equal(r.xid, 0xdeadbeef);
    assert.equal(r.flags, 0x8000);
    assert.equal(r.hlen, 6);
    assert.deepEqual([...r.options.get(OPT.PARAMETER_LIST)!], [1, 3, 6]);
    assert.deepEqual([...r.chaddr.subarray(0, 6)], [...mac(7)]);
  });

  it("decodeRequest refuses short, oversized, reply, bad-cookie and long-hlen datagrams", () => {
    const good = request({ type: DHCP.DISCOVER });
    assert.equal(reason(good.subarray(0, 239)), "short");
    assert.equal(reason(new Uint8Array(5000)), "oversized");
    const op = good.slice();
    op[0] = 2;
    assert.equal(reason(op), "op");
    const cookie = good.slice();
    cookie[239] = cookie[239]! ^ 1;
    assert.equal(reason(cookie), "cookie");
    const hlen = good.slice();
    hlen[2] = 17;
    assert.equal(reason(hlen), "hlen");
    const hops = good.slice();
    hops[3] = 200;
    assert.equal(reason(hops), "hops");
  });

  it("decodeRequest refuses an option that runs past the packet", () => {
    const b = request({ type: DHCP.DISCOVER });
    const cut = new Uint8Array(244);
    cut.set(b.subarray(0, 240));
    cut.set([12, 50, 65, 66], 240);
    assert.equal(reason(cut), "overrun");
    const nolen = new Uint8Array(241);
    nolen.set(b.subarray(0, 240));
    nolen[240] = 12;
    assert.equal(reason(nolen), "overrun");
  });

  it("decodeRequest reads overloaded file and sname and ignores an overload loop", () => {
    const b = request({ type: DHCP.REQUEST, options: [[OPT.OVERLOAD, [3]]] });
    // file: hostname "ab" and a nested overload option (a loop) that must be ignored
    b.set([12, 2, 97, 98, 52, 1, 3, 255], 108);
    b.set([15, 1, 120, 255], 44);
    const r = decodeRequest(b);
    assert.equal(new TextDecoder().decode(r.options.get(OPT.HOSTNAME)), "ab");
    assert.equal(new TextDecoder().decode(r.options.get(15)), "x");
    assert.equal(r.options.has(OPT.OVERLOAD), false);
  });

  it("decodeRequest concatenates repeated options and keeps zero-length ones", () => {
    const b = request({
      type: DHCP.DISCOVER,
      options: [[OPT.HOSTNAME, [97]], [OPT.HOSTNAME, [98]], [80, []]],
    });
    const r = decodeRequest(b);
    assert.equal(new TextDecoder().decode(r.options.get(OPT.HOSTNAME)), "ab");
    assert.equal(r.options.get(80)!.length, 0);
  });

  it("decodeRequest refuses a malformed overload or message type option", () => {
    assert.equal(
      reason(request({ type: DHCP.DISCOVER, options: [[OPT.OVERLOAD, [9]]] })),
      "overload",
    );
    assert.equal(reason(request({ options: [[OPT.MESSAGE_TYPE, [1, 2]]] })), "type");
    assert.equal(reason(request({ type: 99 })), "type");
  });

  it("maxReplySize honours option 57 between 576 and the MTU", () => {
    const r = (n: number) =>
      maxReplySize(decodeRequest(request({ type: 1, options: [[57, [n >> 8, n & 255]]] })));
    assert.equal(r(100), 576);
    assert.equal(r(1000), 1000);
    assert.equal(r(60000), 1472);
    assert.equal(maxReplySize(decodeRequest(request({ type: 1 }))), 576);
  });

  it("encodeReply splits long options and overloads file and sname when the options field is full", () => {
    const big = new Uint8Array(300).fill(65);
    const opts: [number, Uint8Array][] = [[53, Uint8Array.of(2)], [54, Uint8Array.of(10, 0, 0, 1)]];
    for (let c = 128; c < 128 + 12; c++) opts.push([c, new Uint8Array(30).fill(c)]);
    opts.push([200, big]);
    const { bytes, dropped } = encodeReply({
      xid: 1,
      flags: 0,
      htype: 1,
      hlen: 6,
      chaddr: new Uint8Array(16),
      ciaddr: 0,
      yiaddr: 0,
      siaddr: 0,
      giaddr: 0,
      options: opts,
    }, 576);
    assert.ok(bytes.length <= 576);
    const b = bytes.slice();
    b[0] = 1;
    const r = decodeRequest(b);
    assert.equal(r.options.get(53)![0], 2);
    // the 300-byte option does not fit anywhere in 576 bytes with the rest: left out, named
    assert.deepEqual(dropped, [200]);
    for (let c = 128; c < 140; c++) assert.equal(r.options.get(c)?.length, 30, `option ${c}`);
    assert.ok(b[44] !== 0 || b[108] !== 0, "file or sname carries options");
    const one = encodeReply({
      xid: 1,
      flags: 0,
      htype: 1,
      hlen: 6,
      chaddr: new Uint8Array(16),
      ciaddr: 0,
      yiaddr: 0,
      siaddr: 0,
      giaddr: 0,
      options: [[53, Uint8Array.of(5)], [200, big]],
    }, 1000);
    const b2 = one.bytes.slice();
    b2[0] = 1;
    assert.equal(decodeRequest(b2).options.get(200)!.length, 300);
  });
});

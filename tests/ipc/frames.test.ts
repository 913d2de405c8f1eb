import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { encodeFrame, FrameDecoder, FrameError } from "../../lib/ipc/frames.ts";

describe("frames", () => {
  test("a message survives encode and decode", () => {
    const d = new FrameDecoder();
    const out = d.push(encodeFrame({ op: "lock", name: "é/x", n: 3 }));
    assert.deepEqual(out, [{ ok: true, message: { op: "lock", name: "é/x", n: 3 } }]);
    assert.equal(d.pending, 0);
  });

  test("frames split at every byte boundary and glued together decode the same", () => {
    const bytes = Buffer.concat([encodeFrame({ a: 1 }), encodeFrame([2, 3]), encodeFrame("four")]);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const d = new FrameDecoder();
      const got = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
      assert.deepEqual(got.map((g) => g.ok && g.message), [{ a: 1 }, [2, 3], "four"]);
    }
  });

  test("a body that is not JSON is reported and decoding goes on", () => {
    const bad = Buffer.concat([
      Buffer.from([0, 0, 0, 3]),
      Buffer.from("{x}"),
      encodeFrame({ ok: 1 }),
    ]);
    const got = new FrameDecoder().push(bad);
    assert.deepEqual(got[0], { ok: false, error: "Frame is not valid JSON" });
    assert.deepEqual(got[1], { ok: true, message: { ok: 1 } });
  });

  test("an oversized length is refused before its body arrives", () => {
    const d = new FrameDecoder(1024);
    assert.throws(() => d.push(Buffer.from([0, 0, 4, 1])), FrameError);
    assert.throws(
      () => new FrameDecoder(10).push(encodeFrame("x".repeat(20))),
      /exceeds the limit of 10/,
    );
  });
});

/**
 * The deterministic sequence of updates the crash test's writer performs, and the network
 * container state (client IP → lease) after any number of them.
 */

/** One update of the sequence. */
export type CrashOp =
  | { kind: "add"; ip: number }
  | { kind: "modify"; ip: number; lease: number }
  | { kind: "delete"; ip: number };

/** Base address: the test network is 10.0.0.0/16. */
export const CRASH_BASE = 0x0a000000;

/** Ops 0..count-1 and the state they leave. */
export function crashModel(count: number): { ops: CrashOp[]; state: Map<number, number> } {
  const state = new Map<number, number>();
  const ops: CrashOp[] = [];
  let next = 1;
  let last = 0;
  for (let j = 0; j < count; j++) {
    let op: CrashOp;
    if (j % 5 === 4 && state.size >= 2) {
      // Addresses are added in increasing order, so the map's first key is the smallest.
      op = { kind: "delete", ip: state.keys().next().value as number };
      state.delete(op.ip);
    } else if (j % 3 === 2 && state.has(last)) {
      op = { kind: "modify", ip: last, lease: j };
      state.set(last, j);
    } else {
      op = { kind: "add", ip: CRASH_BASE + next++ };
      last = op.ip;
      state.set(op.ip, 0);
    }
    ops.push(op);
  }
  return { ops, state };
}

/** The dhcptab macro that stands for model address `ip` in the dhcptab variant. */
export function macroOf(ip: number): string {
  return `M${ip - CRASH_BASE}`;
}

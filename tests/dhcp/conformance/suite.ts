/**
 * The conformance suite now lives in lib/dhcp/testing/ (published as `steward/dhcp/testing`);
 * this re-export keeps test files that import it from here working, with the suite's temporary
 * directory under the repository's .tmp/ (the only place tests may write under Deno).
 */
import {
  type ConformanceOptions,
  conformanceSuite as librarySuite,
  type ModuleUnderTest,
} from "../../../lib/dhcp/testing/conformance.ts";
import { TMP_ROOT } from "../../helpers.ts";

export {
  type ConformanceOptions,
  type ModuleUnderTest,
  rejectsWith,
} from "../../../lib/dhcp/testing/conformance.ts";

/** The library's conformance suite, temporary directories under .tmp/ unless told otherwise. */
export function conformanceSuite(
  name: string,
  factory: (dir: string) => ModuleUnderTest,
  options: ConformanceOptions = {},
): void {
  librarySuite(name, factory, { tempRoot: TMP_ROOT, ...options });
}

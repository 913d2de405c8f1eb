/**
 * SUNWbinfiles (container version 1, built in) passes the conformance suite, durable (the
 * default); the relaxed setting shares every code path but the flush.
 */
import { conformanceSuite } from "../conformance/suite.ts";

conformanceSuite("SUNWbinfiles version 1", () => ({ resource: "SUNWbinfiles", conver: 1 }));

/**
 * The product version; kept equal to package.json (a test checks it).
 * @internal
 * @module
 */
export const VERSION = "0.1.0";

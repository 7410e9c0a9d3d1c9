// A tiny sequential test harness: named sub-tests, skips, a final "N passed, N failed" line.
import assert from 'node:assert/strict';
import fs from 'node:fs';

export { assert };

const results = { passed: 0, failed: 0, skipped: 0, failures: [] };

export class Skip extends Error {
  constructor(reason) { super(reason); this.name = 'Skip'; }
}

export function skip(reason) { throw new Skip(reason); }

function fmtErr(e) {
  if (!e) return String(e);
  let s = e.stack || e.message || String(e);
  if (e.cause) s += `\n  cause: ${e.cause.message || e.cause}`;
  if (e.body) s += `\n  body: ${e.body}`;
  return s.split('\n').slice(0, 12).join('\n    ');
}

// Runs fn; records pass/fail/skip. Never throws.
export async function test(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.passed++;
    console.log(`ok   - ${name} (${Date.now() - t0} ms)`);
    return true;
  } catch (e) {
    if (e instanceof Skip) {
      results.skipped++;
      console.log(`skip - ${name}: ${e.message}`);
      return false;
    }
    results.failed++;
    results.failures.push(name);
    console.log(`FAIL - ${name}\n    ${fmtErr(e)}`);
    return false;
  }
}

export function summary() {
  if (results.failures.length) console.log(`failed: ${results.failures.join('; ')}`);
  const skipped = results.skipped ? `, ${results.skipped} skipped` : '';
  console.log(`${results.passed} passed, ${results.failed} failed${skipped}`);
  return results.failed === 0;
}

export function counts() { return { ...results }; }

// Runs a test file's main(): a crash of the driver counts as a failed test, a Skip thrown outside
// any test skips the whole file (exit 77, ctest's "skipped"), the summary line always ends the
// output. If main returns a temp directory it is removed when everything passed (unless
// VIGIL_KEEP_TMP=1). Exits the process.
export async function runMain(main, { timed = false } = {}) {
  const t0 = Date.now();
  let ok = false;
  let tmp = null;
  try {
    tmp = await main();
  } catch (e) {
    if (e instanceof Skip) { console.log(`skipped: ${e.message}`); process.exit(77); }
    await test('test driver', () => { throw e; });
  } finally {
    ok = summary();
    if (timed) console.log(`(${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
  if (typeof tmp === 'string' && ok && process.env.VIGIL_KEEP_TMP !== '1') fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(ok ? 0 : 1);
}

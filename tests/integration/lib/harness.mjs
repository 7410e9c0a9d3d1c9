// A tiny sequential test harness: named sub-tests, skips, a final "N passed, N failed" line.
import assert from 'node:assert/strict';

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

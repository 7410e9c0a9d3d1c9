// Crash test (issue 4 item 5): no double signing across SIGKILL, with concurrent clients.
//
// Several client loops stream consensus requests (block 0x11, preattestation 0x12, attestation 0x13
// tag 21, attestation_with_dal 0x13 tag 23; one chain) for a tz1 and a tz4 key: fresh requests at the
// head (level, round) with one of a few payloads (so concurrent loops conflict with each other and
// also send identical retries), replays of requests signed earlier, *conflicting* payloads at an
// already-signed (level, round), and requests at old levels. Meanwhile the daemon is SIGKILLed at
// random points (every 100–400 ms, 8–15 times) and restarted on the same base_dir and ports.
//
// Why a 200 proves durability (docs/watermarks.md "Crash-safety argument"): vigil reserves the mark,
// signs, and only then calls vg_wm_commit, which returns after the fdatasync covering the record (or
// a higher mark of it) succeeded; the HTTP answer is written after that. So any 200 this client ever
// read was preceded by a durable write of a mark >= that request's (level, round, digest). SIGKILL
// kills the process, not the kernel: data that reached the page cache survives it too, so SIGKILL
// cannot show a missing fsync (only a power cut could); what it does prove is that no code path
// answers 200 before the record is written, that the record format survives a process dying at any
// instruction (torn in-process state, half-finished batches, requests in flight) and that the load
// path restores the highest mark, never an older one and never zero. The assertions:
//   1. invariant — over every 200 of the whole run, for each (chain, key, conflict class, level,
//      round) at most one distinct request was signed; attestation and attestation_with_dal are ONE
//      class. Identical retries may be signed again (for tz1/tz4 with the identical signature).
//   2. after every restart, before the clients resume: for each (key, class) with a 200, a request
//      one level below its highest answered mark and a different payload at that very mark are both
//      refused with 409 (the mark survived the kill); an identical retry of that request is either
//      200 with the same signature or 409 (the mark moved higher through a request whose answer
//      was lost in the kill).
//   3. a conflicting payload at an already-answered (level, round) is always 409, and no status other
//      than 200/409 ever appears (no 5xx: the disk is fine); network errors only around a kill.
//   4. after the final SIGKILL, vigil.wm itself (checksums verified here, independently of vigil)
//      holds for every (key, kind) a valid copy whose mark is >= the highest answered 200.
//   5. every signature verifies (all tz1, a sample of tz4) against the exact request bytes.
//
// Env: VIGIL_BIN, VIGIL_SHARED (unused), VIGIL_CRASH_SEED (reproduce the random choices),
// VIGIL_CRASH_LOOPS (concurrent client loops, default 8),
// VIGIL_KEEP_TMP=1 keeps the temp dir; VIGIL_CRASH_WATERMARK=mem is a self-check of this test (the
// mem driver forgets marks on SIGKILL, so the invariant and the restart checks must then FAIL). Prints counts and "N passed, N failed" last; exit 1 on failure.
import fs from 'node:fs';
import path from 'node:path';
import { test, assert, runMain } from './lib/harness.mjs';
import * as T from './lib/tezos.mjs';
import { vigilBin, mkTemp, freePort, writeSecretFile, writeConfig, startVigil, stopVigil } from './lib/vigil.mjs';
import {
  sleep, postFresh, errMsg, consensusRequest, doubleSignViolations, killVigil, wmDurableMarks, pkhBytes,
  CONSENSUS_KINDS, CLASS_OF,
} from './lib/wmtest.mjs';

const CLIENT_LOOPS = Number(process.env.VIGIL_CRASH_LOOPS || 8);
const TIME_BUDGET_MS = 45000; // hard stop for the kill cycles, well under 60 s total

// Small seeded PRNG (mulberry32) so the request mix of a failing run can be replayed.
const SEED = Number(process.env.VIGIL_CRASH_SEED || Math.floor(Math.random() * 2 ** 31));
let rs = SEED >>> 0;
function rnd() {
  rs = (rs + 0x6d2b79f5) >>> 0;
  let t = rs;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (arr) => arr[Math.floor(rnd() * arr.length)];
const randInt = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));

const markAbove = (a, b) => (a.level !== b.level ? a.level > b.level : a.round > b.round);

async function main() {
  console.log(`# vigil binary: ${vigilBin()}`);
  console.log(`# seed: VIGIL_CRASH_SEED=${SEED}`);
  const tmp = mkTemp('vigil-crash-');
  const baseDir = path.join(tmp, 'base');
  const secretFile = path.join(tmp, 'secret_keys.json');
  const configFile = path.join(tmp, 'vigil.yaml');
  const logFile = path.join(tmp, 'vigil.log');
  const wmFile = path.join(baseDir, 'watermarks', 'vigil.wm');
  console.log(`# temp dir: ${tmp}`);

  const keys = [await T.makeKey('tz1', 'crash-tz1'), await T.makeKey('tz4', 'crash-tz4')];
  writeSecretFile(secretFile, keys.map((k) => ({ name: k.kind, sk: k.sk })));
  const port = await freePort();
  let uport = await freePort();
  while (uport === port) uport = await freePort();
  const consensus = { block: [], preattestation: [], attestation: [], attestation_with_dal: [] };
  writeConfig(configFile, {
    baseDir, port, uport, secretFile, watermark: process.env.VIGIL_CRASH_WATERMARK || 'file',
    policies: Object.fromEntries(keys.map((k) => [k.pkh, { allow: consensus }])),
  });

  // ---- shared state ---------------------------------------------------------------------------
  const signed = [];            // every 200: {epoch, pkh, kind, cls, chain, level, round, payload, hex, sig}
  const sigOf = new Map();      // `${pkh}|${hex}` -> first signature seen (determinism check)
  const problems = [];          // per-request assertion failures (reported by one sub-test)
  const restartProblems = [];
  const counts = { requests: 0, s200: 0, s409: 0, other: 0, neterr: 0, kills: 0, restarts: 0,
    restartChecks: 0, replays: 0, conflicts: 0, old: 0, fresh: 0 };
  const head = {};              // pkh|cls -> {level, round}: where "fresh" requests go
  for (const k of keys) for (const c of ['block', 'preattestation', 'attestation']) head[`${k.pkh}|${c}`] = { level: 1000, round: 0 };
  const signedBy = new Map(keys.map((k) => [k.pkh, []]));
  let payloadSeq = 0;

  let daemon = null;
  let epoch = 0;
  let killing = false;          // set before SIGKILL, cleared once the new daemon is checked
  let resume = null;            // promise the client loops wait on while the daemon is down
  let releaseResume = null;
  let stop = false;
  const inflight = new Set();

  function record(key, req, res, ep) {
    const s = { epoch: ep, pkh: key.pkh, kind: req.kind, cls: req.cls, chain: req.chain, level: req.level,
      round: req.round, payload: req.payload, hex: req.hex, sig: res.json && res.json.signature };
    signed.push(s);
    signedBy.get(key.pkh).push(s);
    const k = `${key.pkh}|${req.hex}`;
    const prev = sigOf.get(k);
    if (prev === undefined) sigOf.set(k, s.sig);
    else if (prev !== s.sig) problems.push(`${key.kind} ${req.kind} L${req.level}R${req.round}: identical request signed twice with different signatures ${prev} / ${s.sig}`);
  }

  async function send(key, req, { expect409 = false, why = '', fromLoop = true } = {}) {
    if (fromLoop && resume) return null; // the daemon went down while this request was being forged
    const ep = epoch;
    counts.requests++;
    const p = postFresh(port, key.pkh, req.hex, { timeoutMs: 10000 });
    inflight.add(p);
    let res;
    try {
      res = await p;
    } catch (e) {
      counts.neterr++;
      if (!killing && ep === epoch) problems.push(`${key.kind} ${req.kind} L${req.level}R${req.round} epoch ${ep}: network error with no kill: ${e.message}`);
      return null;
    } finally {
      inflight.delete(p);
    }
    if (res.status === 200) {
      counts.s200++;
      record(key, req, res, ep);
      if (expect409) problems.push(`${key.kind} ${req.kind} L${req.level}R${req.round} payload ${req.payload}: ${why} got 200`);
    } else if (res.status === 409) {
      counts.s409++;
      if (!/^watermark validation failed: requested .* stored /.test(errMsg(res))) problems.push(`409 message: ${res.text}`);
    } else {
      counts.other++;
      problems.push(`${key.kind} ${req.kind} L${req.level}R${req.round}: unexpected ${res.status} ${res.text}`);
    }
    return res;
  }

  async function clientLoop() {
    while (!stop) {
      if (resume) { await resume; continue; }
      const key = pick(keys);
      const kind = pick(CONSENSUS_KINDS);
      const cls = CLASS_OF[kind];
      const h = head[`${key.pkh}|${cls}`];
      const mine = signedBy.get(key.pkh);
      const r = rnd();
      if (r < 0.45 || mine.length === 0) {
        // Fresh: the head (level, round), one of three payloads -> concurrent loops race with
        // conflicting payloads and with identical copies at the same mark.
        counts.fresh++;
        const round = h.round + (rnd() < 0.2 ? 1 : 0);
        const req = await consensusRequest(kind, h.level, round, `${h.level}-${round}-${pick(['A', 'B', 'C'])}`);
        const a = rnd();
        if (a < 0.3) { h.level++; h.round = 0; } else if (a < 0.4) h.round++;
        await send(key, req);
      } else if (r < 0.6) {
        // Replay of the exact bytes of a request signed earlier (maybe in an earlier epoch).
        counts.replays++;
        const s = pick(mine.slice(-64));
        await send(key, { kind: s.kind, cls: s.cls, chain: s.chain, level: s.level, round: s.round, payload: s.payload, hex: s.hex });
      } else if (r < 0.82) {
        // Conflict: a different payload (possibly the sibling kind) at an already-answered (level, round).
        counts.conflicts++;
        const s = pick(mine.slice(-64));
        const k2 = s.cls === 'attestation' ? pick(['attestation', 'attestation_with_dal']) : s.kind;
        const req = await consensusRequest(k2, s.level, s.round, `conflict-${++payloadSeq}`, s.chain);
        await send(key, req, { expect409: true, why: `conflict with the signed ${s.kind}/${s.payload} at the same level/round` });
      } else {
        // Old level: below the head (often below a durable mark); the invariant judges the outcome.
        counts.old++;
        const req = await consensusRequest(kind, h.level - randInt(1, 20), randInt(0, 3), `old-${++payloadSeq}`);
        await send(key, req);
      }
    }
  }

  // After a restart, with the clients paused: the highest answered mark of each (key, class) holds.
  async function checkAfterRestart() {
    for (const key of keys) {
      for (const cls of ['block', 'preattestation', 'attestation']) {
        let hi = null;
        for (const s of signedBy.get(key.pkh)) if (s.cls === cls && (!hi || markAbove(s, hi))) hi = s;
        if (!hi) continue;
        counts.restartChecks++;
        const where = `epoch ${epoch} ${key.kind} ${cls} highest answered L${hi.level}R${hi.round} (${hi.kind}/${hi.payload}, epoch ${hi.epoch})`;
        // the sibling kind for the attestation class: the check must cross kinds
        const k2 = cls === 'attestation' ? (hi.kind === 'attestation' ? 'attestation_with_dal' : 'attestation') : hi.kind;
        const below = await consensusRequest(k2, hi.level - 1, hi.round, `restart-below-${++payloadSeq}`);
        const r1 = await postFresh(port, key.pkh, below.hex);
        counts.requests++;
        if (r1.status === 200) { counts.s200++; record(key, below, r1, epoch); } else if (r1.status === 409) counts.s409++; else counts.other++;
        if (r1.status !== 409) restartProblems.push(`${where}: level ${hi.level - 1} ${k2} got ${r1.status} ${r1.text}`);
        const same = await consensusRequest(k2, hi.level, hi.round, `restart-conflict-${++payloadSeq}`);
        const r2 = await postFresh(port, key.pkh, same.hex);
        counts.requests++;
        if (r2.status === 200) { counts.s200++; record(key, same, r2, epoch); } else if (r2.status === 409) counts.s409++; else counts.other++;
        if (r2.status !== 409) restartProblems.push(`${where}: another ${k2} payload at the same mark got ${r2.status} ${r2.text}`);
        const r3 = await postFresh(port, key.pkh, hi.hex);
        counts.requests++;
        if (r3.status === 200) {
          counts.s200++;
          record(key, hi, r3, epoch);
          if (r3.json.signature !== hi.sig) restartProblems.push(`${where}: identical retry signed differently`);
        } else if (r3.status === 409) counts.s409++;
        else { counts.other++; restartProblems.push(`${where}: identical retry got ${r3.status} ${r3.text}`); }
      }
    }
  }

  const t0 = Date.now();
  await test('vigil serve starts with the file watermark', async () => {
    daemon = await startVigil(['-c', configFile], { uport, logFile });
  });
  if (!daemon) return tmp;

  let cyclesDone = 0;
  const cycles = randInt(8, 15);
  await test(`${CLIENT_LOOPS} client loops, ${cycles} SIGKILL/restart cycles`, async () => {
    const loops = Array.from({ length: CLIENT_LOOPS }, () => clientLoop());
    try {
      for (let c = 0; c < cycles && Date.now() - t0 < TIME_BUDGET_MS; c++) {
        await sleep(randInt(100, 400));
        killing = true;
        resume = new Promise((r) => { releaseResume = r; });
        const ex = await killVigil(daemon);
        counts.kills++;
        assert.equal(ex.sig, 'SIGKILL', `vigil exit before/at the kill: ${JSON.stringify(ex)}`);
        await Promise.allSettled([...inflight]); // every request of this epoch is settled
        epoch++;
        daemon = await startVigil(['-c', configFile], { uport, logFile });
        counts.restarts++;
        await checkAfterRestart();
        killing = false;
        const rel = releaseResume;
        resume = null;
        rel();
        cyclesDone++;
      }
      await sleep(randInt(100, 400)); // a last burst, then a last kill for the on-disk check
    } finally {
      stop = true;
      if (resume) { const rel = releaseResume; resume = null; rel(); }
      killing = true;
      if (daemon && !daemon.exited) { await killVigil(daemon); counts.kills++; }
      await Promise.allSettled(loops);
    }
    assert.ok(cyclesDone >= 8, `only ${cyclesDone} kill/restart cycles within the time budget`);
  });

  console.log(`# counts: requests ${counts.requests}, 200 ${counts.s200}, 409 ${counts.s409}, other ${counts.other}, `
    + `network errors ${counts.neterr}, kills ${counts.kills}, restarts ${counts.restarts}, restart checks ${counts.restartChecks}; `
    + `mix: fresh ${counts.fresh}, replays ${counts.replays}, conflicts ${counts.conflicts}, old ${counts.old}; `
    + `distinct signed (key,class,level,round) ${new Set(signed.map((s) => `${s.pkh}|${s.cls}|${s.level}|${s.round}`)).size}`);

  // Every 200 (request bytes + signature + epoch), kept with the daemon log when the run fails.
  fs.writeFileSync(path.join(tmp, 'signed.json'), JSON.stringify(signed, null, 1));

  await test('enough traffic: 200s and 409s in several epochs', async () => {
    assert.ok(counts.s200 >= 50, `only ${counts.s200} signatures`);
    assert.ok(counts.s409 >= 50, `only ${counts.s409} refusals`);
    const epochs = new Set(signed.map((s) => s.epoch));
    assert.ok(epochs.size >= 5, `signatures in only ${epochs.size} epochs`);
  });

  await test('invariant: at most one distinct request signed per (chain, key, class, level, round)', async () => {
    const v = doubleSignViolations(signed);
    assert.deepEqual(v, [], `DOUBLE SIGNING (seed ${SEED}):\n${v.slice(0, 10).join('\n')}`);
  });

  await test('conflicting payloads at answered marks: always 409; only 200/409; identical retries same signature', async () => {
    assert.deepEqual(problems, [], problems.slice(0, 10).join('\n'));
  });

  await test('after every restart: below / at the highest answered mark -> 409 (mark survived SIGKILL)', async () => {
    assert.ok(counts.restartChecks >= counts.restarts, `only ${counts.restartChecks} checks for ${counts.restarts} restarts`);
    assert.deepEqual(restartProblems, [], restartProblems.slice(0, 10).join('\n'));
  });

  await test('vigil.wm after the final SIGKILL: valid records, each mark >= the highest 200', async () => {
    const recs = wmDurableMarks(wmFile);
    const bad = [];
    for (const r of recs) if (!r.keyOk || r.validCopies === 0) bad.push(`record ${r.pkhHex} ${r.kind}: keyOk ${r.keyOk}, valid copies ${r.validCopies}`);
    for (const key of keys) {
      const pk = pkhBytes(key.pkh).toString('hex');
      for (const kind of CONSENSUS_KINDS) {
        let hi = null;
        for (const s of signedBy.get(key.pkh)) if (s.kind === kind && (!hi || markAbove(s, hi))) hi = s;
        if (!hi) continue;
        const r = recs.find((x) => x.pkhHex === pk && x.kind === kind && x.chain === T.MAINNET_CHAIN_HEX);
        if (!r || r.level === undefined) bad.push(`${key.kind} ${kind}: no durable record, highest 200 L${hi.level}R${hi.round}`);
        else if (markAbove(hi, r)) bad.push(`${key.kind} ${kind}: on disk L${r.level}R${r.round} < answered L${hi.level}R${hi.round}`);
      }
    }
    assert.deepEqual(bad, [], bad.join('\n'));
  });

  await test('every tz1 signature and a sample of tz4 signatures verify over the exact request bytes', async () => {
    const seen = new Set();
    let tz4n = 0;
    for (const s of signed) {
      const key = keys.find((k) => k.pkh === s.pkh);
      if (seen.has(`${s.pkh}|${s.hex}|${s.sig}`)) continue;
      seen.add(`${s.pkh}|${s.hex}|${s.sig}`);
      if (key.kind === 'tz4' && ++tz4n > 12) continue; // noble BLS verify is slow
      assert.ok(typeof s.sig === 'string' && T.nobleVerify(key.kind, key.pk, s.sig, T.unhex(s.hex)),
        `${key.kind} ${s.kind} L${s.level}R${s.round}: signature ${s.sig} does not verify`);
    }
  });

  await test('vigil restarts once more and shuts down cleanly on SIGTERM', async () => {
    daemon = await startVigil(['-c', configFile], { uport, logFile });
    const ex = await stopVigil(daemon);
    daemon = null;
    assert.ok(ex && (ex.code === 0 || ex.sig === 'SIGTERM'), `exit ${JSON.stringify(ex)}`);
  });
  if (daemon) await stopVigil(daemon);
  console.log(`# elapsed ${Date.now() - t0} ms`);
  return tmp;
}

await runMain(main);

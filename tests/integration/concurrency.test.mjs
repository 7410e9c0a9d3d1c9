// Concurrency test (issue 4 item 5): many parallel conflicting requests, exactly one is signed.
// Plus the damage-on-load table of docs/watermarks.md, driven through a real vigil.wm.
//
// Every race fires its POSTs at once, each over its own TCP connection (lib/wmtest.mjs postFresh:
// agent false, Connection: close; vigil runs one thread per connection), against the file watermark:
//   * 32 different payloads at one (key, level, round), for tz1/tz2/tz3/tz4 at the same time (128
//     connections), over several levels and all four consensus kinds -> exactly one 200 per key,
//     31 x 409 "watermark validation failed: requested … stored …"; then 32 identical copies of the
//     winner -> 32 x 200 with the winner's exact signature (Ed25519 and BLS are deterministic,
//     vigil's ECDSA uses RFC 6979 nonces, so this holds for all four key types);
//   * 8 payloads x 4 identical copies, all at once -> the 200s are exactly the 4 copies of one
//     payload, with one signature;
//   * attestation (tag 21) vs attestation_with_dal (tag 23) at one level/round -> one class, exactly
//     one request signed;
//   * independence: two keys, two chains, block vs preattestation at one level/round all sign.
// Damage on load (vigil stopped, bytes of vigil.wm flipped, vigil started again):
//   * both copies of tz1's attestation record damaged -> vigil starts; tz1 attestation AND
//     attestation_with_dal answer 503 "... is corrupt; refusing to sign ..." (never a 409, never a
//     silent reset, also after another restart); tz1 block/preattestation (own records) and generic
//     operations (no watermark, docs/watermarks.md "What is checked") still sign; other keys sign;
//   * the older copy of a record damaged -> WARN, the newest mark still holds;
//   * the newest copy damaged -> WARN, the documented one-step fallback: the older mark holds;
//   * the key part of a record or the header damaged -> vigil refuses to start, naming the file;
//     restoring the byte makes it start again with the marks intact.
// Env: VIGIL_BIN, VIGIL_SHARED (unused), VIGIL_KEEP_TMP=1. Prints "N passed, N failed"; exit 1 on failure.
import fs from 'node:fs';
import path from 'node:path';
import { test, assert, runMain } from './lib/harness.mjs';
import * as T from './lib/tezos.mjs';
import { vigilBin, mkTemp, freePort, writeSecretFile, writeConfig, startVigil, stopVigil } from './lib/vigil.mjs';
import {
  postFresh, errMsg, consensusRequest, doubleSignViolations, findWmRecord, flipByte, wmDurableMarks, pkhBytes,
  OTHER_CHAIN_HEX,
} from './lib/wmtest.mjs';

const KINDS = ['tz1', 'tz2', 'tz3', 'tz4'];
const RACE = 32;
const LEVELS = 8;
const RACE_KINDS = ['attestation', 'preattestation', 'block', 'attestation_with_dal'];

const WM_409 = /^watermark validation failed: requested \S+ level (-?\d+) round (-?\d+), stored \S+ level (-?\d+) round (-?\d+)/;

async function main() {
  console.log(`# vigil binary: ${vigilBin()}`);
  const tmp = mkTemp('vigil-conc-');
  const baseDir = path.join(tmp, 'base');
  const secretFile = path.join(tmp, 'secret_keys.json');
  const configFile = path.join(tmp, 'vigil.yaml');
  const logFile = path.join(tmp, 'vigil.log');
  const wmFile = path.join(baseDir, 'watermarks', 'vigil.wm');
  console.log(`# temp dir: ${tmp}`);

  const keys = {};
  for (const k of KINDS) keys[k] = await T.makeKey(k, `conc-${k}`);
  const other = await T.makeKey('tz1', 'conc-tz1-other');
  writeSecretFile(secretFile, [...KINDS.map((k) => ({ name: k, sk: keys[k].sk })), { name: 'other', sk: other.sk }]);
  const port = await freePort();
  let uport = await freePort();
  while (uport === port) uport = await freePort();
  const allow = { block: [], preattestation: [], attestation: [], attestation_with_dal: [], generic: ['failing_noop'] };
  writeConfig(configFile, {
    baseDir, port, uport, secretFile, watermark: 'file',
    policies: Object.fromEntries([...KINDS.map((k) => keys[k]), other].map((k) => [k.pkh, { allow }])),
  });

  const signed = []; // every 200 of the run, for the global invariant at the end
  const counts = { requests: 0, s200: 0, s409: 0, s503: 0, other: 0 };
  async function post(key, req) {
    counts.requests++;
    const r = await postFresh(port, key.pkh, req.hex);
    if (r.status === 200) {
      counts.s200++;
      signed.push({ pkh: key.pkh, kind: req.kind, cls: req.cls, chain: req.chain, level: req.level, round: req.round,
        payload: req.payload, hex: req.hex, sig: r.json && r.json.signature });
    } else if (r.status === 409) counts.s409++;
    else if (r.status === 503) counts.s503++;
    else counts.other++;
    return r;
  }
  function verify(key, sig, reqHex, what) {
    assert.ok(typeof sig === 'string' && T.nobleVerify(key.kind, key.pk, sig, T.unhex(reqHex)),
      `${what}: ${key.kind} signature ${sig} does not verify`);
  }
  function check409(r, req, what) {
    assert.equal(r.status, 409, `${what}: status ${r.status} ${r.text}`);
    const m = errMsg(r).match(WM_409);
    assert.ok(m, `${what}: 409 message ${JSON.stringify(errMsg(r))}`);
    assert.equal(Number(m[1]), req.level, `${what}: requested level in ${errMsg(r)}`);
    assert.equal(Number(m[2]), req.round, `${what}: requested round in ${errMsg(r)}`);
  }

  // 32 different payloads at one mark: exactly one 200, the rest 409 naming the stored mark.
  async function raceDistinct(key, kind, level, round, tag) {
    const reqs = await Promise.all(Array.from({ length: RACE }, (_, i) => consensusRequest(kind, level, round, `${tag}-${i}`)));
    const res = await Promise.all(reqs.map((q) => post(key, q)));
    const ok = res.map((r, i) => [r, reqs[i]]).filter(([r]) => r.status === 200);
    const what = `${key.kind} ${kind} L${level}R${round}`;
    assert.equal(ok.length, 1, `${what}: ${ok.length} of ${RACE} different payloads signed; statuses ${res.map((r) => r.status).join(',')}`);
    const [win, wreq] = ok[0];
    verify(key, win.json.signature, wreq.hex, what);
    for (let i = 0; i < RACE; i++) {
      if (res[i] === win) continue;
      check409(res[i], reqs[i], what);
      const m = errMsg(res[i]).match(WM_409);
      assert.deepEqual([Number(m[3]), Number(m[4])], [level, round], `${what}: stored mark in ${errMsg(res[i])}`);
    }
    return { req: wreq, sig: win.json.signature };
  }

  let daemon = null;
  try {
    await test('vigil serve starts with the file watermark', async () => {
      daemon = await startVigil(['-c', configFile], { uport, logFile });
    });
    if (!daemon) return tmp;

    const winners = {}; // kind -> last winner per key type
    for (let i = 0; i < LEVELS; i++) {
      const level = 100 + i;
      const kind = RACE_KINDS[i % RACE_KINDS.length];
      const round = i % 2;
      await test(`race L${level} ${kind}: ${RACE} different payloads x {tz1,tz2,tz3,tz4} at once -> one 200 per key, rest 409`, async () => {
        const out = await Promise.all(KINDS.map((k) => raceDistinct(keys[k], kind, level, round, `race${level}`)));
        KINDS.forEach((k, j) => { winners[k] = out[j]; });
      });
      await test(`race L${level} ${kind}: ${RACE} identical copies of each winner at once -> all 200, identical signature`, async () => {
        await Promise.all(KINDS.map(async (k) => {
          const w = winners[k];
          const res = await Promise.all(Array.from({ length: RACE }, () => post(keys[k], w.req)));
          const sigs = new Set(res.map((r) => (r.status === 200 ? r.json.signature : `status ${r.status} ${r.text}`)));
          assert.deepEqual([...sigs], [w.sig], `${k}: identical retries answered ${[...sigs].slice(0, 3).join(' | ')}`);
        }));
      });
    }

    await test(`race: 8 payloads x 4 identical copies at once -> exactly the 4 copies of one payload signed, one signature`, async () => {
      await Promise.all(KINDS.map(async (k) => {
        const key = keys[k];
        const level = 200;
        const base = await Promise.all(Array.from({ length: 8 }, (_, i) => consensusRequest('attestation', level, 0, `mix-${i}`)));
        const reqs = base.flatMap((q) => [q, q, q, q]);
        const res = await Promise.all(reqs.map((q) => post(key, q)));
        const wins = reqs.filter((_, i) => res[i].status === 200);
        const payloads = new Set(wins.map((q) => q.payload));
        assert.equal(payloads.size, 1, `${k}: payloads signed: ${[...payloads].join(',')}`);
        assert.equal(wins.length, 4, `${k}: ${wins.length} of the 4 copies of the winner signed; statuses ${res.map((r) => r.status).join(',')}`);
        const sigs = new Set(res.filter((r) => r.status === 200).map((r) => r.json.signature));
        assert.equal(sigs.size, 1, `${k}: ${sigs.size} different signatures for one request`);
        verify(key, [...sigs][0], wins[0].hex, `${k} mix`);
        res.forEach((r, i) => { if (r.status !== 200) check409(r, reqs[i], `${k} mix`); });
      }));
    });

    await test('race: 16 attestation (tag 21) vs 16 attestation_with_dal (tag 23) at one level/round -> one signed in total', async () => {
      await Promise.all(KINDS.map(async (k) => {
        const key = keys[k];
        const reqs = await Promise.all(Array.from({ length: RACE }, (_, i) => consensusRequest(i % 2 ? 'attestation_with_dal' : 'attestation', 300, 1, `dal-${i}`)));
        const res = await Promise.all(reqs.map((q) => post(key, q)));
        const wins = reqs.filter((_, i) => res[i].status === 200);
        assert.equal(wins.length, 1, `${k}: ${wins.length} signed (${wins.map((q) => q.kind).join(',')})`);
        res.forEach((r, i) => { if (r.status !== 200) check409(r, reqs[i], `${k} dal race`); });
        // and afterwards, sequentially: the sibling kind with another payload is still refused
        const sib = await consensusRequest(wins[0].kind === 'attestation' ? 'attestation_with_dal' : 'attestation', 300, 1, 'dal-late');
        check409(await post(key, sib), sib, `${k} sibling after the race`);
      }));
    });

    await test('independent: two keys, two chains, block vs preattestation at one level/round all sign (at once)', async () => {
      const jobs = [];
      for (const key of [keys.tz1, other, keys.tz4]) {
        for (const chain of [T.MAINNET_CHAIN_HEX, OTHER_CHAIN_HEX]) {
          for (const kind of ['block', 'preattestation', 'attestation']) {
            jobs.push(consensusRequest(kind, 400, 0, `indep-${key.pkh}-${chain}-${kind}`, chain).then((q) => post(key, q).then((r) => [key, q, r])));
          }
        }
      }
      const res = await Promise.all(jobs);
      for (const [key, q, r] of res) {
        assert.equal(r.status, 200, `${key.pkh} ${q.kind} chain ${q.chain}: ${r.status} ${r.text}`);
        verify(key, r.json.signature, q.hex, `${key.kind} ${q.kind} chain ${q.chain}`);
      }
    });

    await test('after the races: a lower level and a lower round at the same level -> 409', async () => {
      for (const k of KINDS) {
        const low = await consensusRequest('attestation', 299, 5, 'low');
        check409(await post(keys[k], low), low, `${k} lower level`);
        const lowR = await consensusRequest('attestation_with_dal', 300, 0, 'low-round');
        check409(await post(keys[k], lowR), lowR, `${k} lower round`);
      }
    });

    // ---------------------------------------------------------------------------------------
    // Damage on load. Give tz2 and tz3 attestation records two valid copies first: L500 then L501.
    const marks = {};
    await test('setup: second write of the attestation records (both copies valid)', async () => {
      for (const k of KINDS) {
        for (const L of [500, 501]) {
          const q = await consensusRequest('attestation', L, 0, `pre-corrupt-${L}`);
          const r = await post(keys[k], q);
          assert.equal(r.status, 200, `${k} L${L}: ${r.text}`);
          marks[`${k}-${L}`] = { req: q, sig: r.json.signature };
        }
      }
      const ex = await stopVigil(daemon);
      daemon = null;
      assert.ok(ex && (ex.code === 0 || ex.sig === 'SIGTERM'), `exit ${JSON.stringify(ex)}`);
      const recs = wmDurableMarks(wmFile);
      for (const k of KINDS) {
        const pk = pkhBytes(keys[k].pkh).toString('hex');
        const r = recs.find((x) => x.pkhHex === pk && x.kind === 'attestation' && x.chain === T.MAINNET_CHAIN_HEX);
        assert.ok(r && r.keyOk && r.validCopies === 2, `${k} attestation record: ${JSON.stringify(r)}`);
        assert.deepEqual([r.level, r.round], [501, 0], `${k} attestation record on disk`);
      }
    });

    const rec = (k, kind) => findWmRecord(wmFile, { pkh: keys[k].pkh, kind });
    const newest = (r) => (r.copies[0].seq > r.copies[1].seq ? r.copies[0] : r.copies[1]);
    const older = (r) => (r.copies[0].seq > r.copies[1].seq ? r.copies[1] : r.copies[0]);

    await test('corrupt: both copies of tz1 attestation, older copy of tz2, newest copy of tz3 -> vigil starts', async () => {
      const r1 = rec('tz1', 'attestation');
      flipByte(wmFile, r1.copies[0].at + 8); // level byte of each copy
      flipByte(wmFile, r1.copies[1].at + 8);
      const r2 = rec('tz2', 'attestation');
      assert.deepEqual([newest(r2).level, older(r2).level], [501, 500]);
      flipByte(wmFile, older(r2).at + 8);
      const r3 = rec('tz3', 'attestation');
      assert.deepEqual([newest(r3).level, older(r3).level], [501, 500]);
      flipByte(wmFile, newest(r3).at + 8);
      const logBefore = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
      daemon = await startVigil(['-c', configFile], { uport, logFile });
      const log = fs.readFileSync(logFile, 'utf8').slice(logBefore);
      assert.match(log, new RegExp(`${keys.tz1.pkh}[^\\n]*attestation[^\\n]*corrupt`), 'no ERROR naming the corrupt tz1 record');
      assert.match(log, new RegExp(`${keys.tz2.pkh}[^\\n]*one copy is damaged`), 'no WARN for tz2\'s damaged copy');
      assert.match(log, new RegExp(`${keys.tz3.pkh}[^\\n]*one copy is damaged`), 'no WARN for tz3\'s damaged copy');
    });

    const check503 = async (key, req, what) => {
      const r = await post(key, req);
      assert.equal(r.status, 503, `${what}: ${r.status} ${r.text}`);
      const msg = errMsg(r);
      assert.match(msg, /watermark record for .* is corrupt; refusing to sign/, `${what}: ${msg}`);
      assert.ok(msg.includes(key.pkh), `${what}: message does not name the key: ${msg}`);
      assert.ok(!('signature' in (r.json || {})), `${what}: a signature came with the 503`);
    };

    await test('corrupt tz1 attestation record: attestation and attestation_with_dal -> 503 naming the key, at any level', async () => {
      for (const [kind, L, R] of [['attestation', 501, 0], ['attestation', 10000, 0], ['attestation_with_dal', 10001, 3], ['attestation', 1, 0]]) {
        await check503(keys.tz1, await consensusRequest(kind, L, R, `after-corrupt-${L}`), `tz1 ${kind} L${L}`);
      }
      // also the identical retry of the last request signed before the damage: 503, not 200 / 409
      await check503(keys.tz1, marks['tz1-501'].req, 'tz1 identical retry of L501');
    });

    await test('corrupt tz1 attestation record: tz1 block, preattestation (own records) and generic failing_noop still sign', async () => {
      for (const kind of ['block', 'preattestation']) {
        const q = await consensusRequest(kind, 10000, 0, `tz1-${kind}-after`);
        const r = await post(keys.tz1, q);
        assert.equal(r.status, 200, `tz1 ${kind}: ${r.status} ${r.text}`);
        verify(keys.tz1, r.json.signature, q.hex, `tz1 ${kind}`);
      }
      const noop = '03' + await T.forgeFailingNoop('generic after corruption');
      const r = await postFresh(port, keys.tz1.pkh, noop);
      counts.requests++;
      assert.equal(r.status, 200, `tz1 generic: ${r.status} ${r.text}`);
      verify(keys.tz1, r.json.signature, noop, 'tz1 generic');
    });

    await test('other keys: tz4 untouched signs; tz2 (older copy damaged) keeps L501; tz3 (newest damaged) falls back to L500', async () => {
      // tz4: untouched, continues
      const q4 = await consensusRequest('attestation', 502, 0, 'tz4-after');
      assert.equal((await post(keys.tz4, q4)).status, 200);
      // tz2: the newest mark still holds -> a different payload at L501 is refused, the identical retry re-signs
      const c2 = await consensusRequest('attestation', 501, 0, 'tz2-conflict');
      check409(await post(keys.tz2, c2), c2, 'tz2 conflict at L501');
      const r2 = await post(keys.tz2, marks['tz2-501'].req);
      assert.equal(r2.status, 200, `tz2 identical retry: ${r2.text}`);
      assert.equal(r2.json.signature, marks['tz2-501'].sig, 'tz2 identical retry signature');
      // tz3: documented one-step fallback (docs/watermarks.md "Assumption"): the L500 mark is in force
      const c3 = await consensusRequest('attestation', 500, 0, 'tz3-conflict');
      check409(await post(keys.tz3, c3), c3, 'tz3 conflict at L500');
      const b3 = await consensusRequest('attestation', 499, 0, 'tz3-below');
      check409(await post(keys.tz3, b3), b3, 'tz3 below L500');
      const n3 = await consensusRequest('attestation', 503, 0, 'tz3-next');
      assert.equal((await post(keys.tz3, n3)).status, 200);
    });

    await test('corrupt record is never silently reset: still 503 after another restart, record still damaged on disk', async () => {
      const ex = await stopVigil(daemon);
      daemon = null;
      assert.ok(ex && (ex.code === 0 || ex.sig === 'SIGTERM'), `exit ${JSON.stringify(ex)}`);
      const r1 = wmDurableMarks(wmFile).find((x) => x.pkhHex === pkhBytes(keys.tz1.pkh).toString('hex') && x.kind === 'attestation');
      assert.ok(r1 && r1.keyOk && r1.validCopies === 0, `tz1 attestation record was rewritten: ${JSON.stringify(r1)}`);
      daemon = await startVigil(['-c', configFile], { uport, logFile });
      await check503(keys.tz1, await consensusRequest('attestation_with_dal', 20000, 0, 'again'), 'tz1 after restart');
      const q = await consensusRequest('attestation', 20000, 0, 'tz4-again');
      assert.equal((await post(keys.tz4, q)).status, 200);
    });

    for (const [what, at] of [
      ['the key part of a record', () => rec('tz4', 'attestation').offset + 12],
      ['the header', () => 20],
    ]) {
      await test(`corrupt ${what}: vigil refuses to start naming vigil.wm; restoring the byte restores service`, async () => {
        const ex = await stopVigil(daemon);
        daemon = null;
        assert.ok(ex && (ex.code === 0 || ex.sig === 'SIGTERM'), `exit ${JSON.stringify(ex)}`);
        const off = at();
        flipByte(wmFile, off);
        let err = null;
        try {
          daemon = await startVigil(['-c', configFile], { uport, logFile, timeoutMs: 10000 });
        } catch (e) { err = e; }
        assert.ok(err, 'vigil started on a damaged vigil.wm');
        assert.match(err.message, /exited early/, err.message.slice(0, 300));
        assert.match(err.message, /vigil\.wm/, `startup error does not name the file: ${err.message.slice(-600)}`);
        flipByte(wmFile, off);
        daemon = await startVigil(['-c', configFile], { uport, logFile });
        const c = await consensusRequest('attestation', 20000, 0, 'tz4-conflict');
        check409(await post(keys.tz4, c), c, 'tz4 mark intact after the restore');
      });
    }
  } finally {
    if (daemon) await stopVigil(daemon);
  }

  await test('invariant over every 200 of this run: one distinct request per (chain, key, class, level, round)', async () => {
    const v = doubleSignViolations(signed);
    assert.deepEqual(v, [], v.slice(0, 10).join('\n'));
  });
  console.log(`# counts: requests ${counts.requests}, 200 ${counts.s200}, 409 ${counts.s409}, 503 ${counts.s503}, other ${counts.other}`);
  return tmp;
}

await runMain(main);

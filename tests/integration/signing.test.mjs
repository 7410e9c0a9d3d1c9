// End-to-end signing through vigil's Signatory-compatible HTTP API with real Tezos clients:
// Taquito RemoteSigner 21 (tz1/tz2/tz3), direct HTTP for tz4 (RemoteSigner 21 rejects BLsig
// client-side), Taquito InMemorySigner as the reference signer, @noble/curves and
// @taquito/utils as independent verifiers.
//
// Env: VIGIL_BIN (default ../../build/vigil), VIGIL_SHARED (optional: cross-checks the keys against
// ../shared/vectors/tezos/signatures_taquito.json; skipped when absent).
// Prints "N passed, N failed" last and exits 1 on any failure.
import fs from 'node:fs';
import path from 'node:path';
import rsPkg from '@taquito/remote-signer';
import { test, skip, assert, runMain } from './lib/harness.mjs';
import * as T from './lib/tezos.mjs';
import {
  vigilBin, sharedDir, mkTemp, freePort, portIsFree, writeSecretFile, writeConfig, startVigil, stopVigil,
  http, postSign,
} from './lib/vigil.mjs';

const { RemoteSigner } = rsPkg;

const GENERIC_OPS = ['transaction', 'reveal', 'delegation', 'failing_noop'];
const KINDS = ['tz1', 'tz2', 'tz3', 'tz4'];

// Expected signing_ops_total per pkh: "op/kind" -> count (successful signatures only).
const expectedOps = {};
function countSigned(pkh, requestKind, opKinds) {
  const m = (expectedOps[pkh] ||= {});
  for (const k of opKinds) m[`${requestKind}/${k}`] = (m[`${requestKind}/${k}`] || 0) + 1;
}

function assertErrorBody(r, { status, msgIncludes } = {}) {
  if (status !== undefined) assert.equal(r.status, status, `status ${r.status}, body ${r.text}`);
  assert.ok(Array.isArray(r.json) && r.json.length === 1, `error body is not a one-element JSON array: ${r.text}`);
  const e = r.json[0];
  assert.equal(e.id, 'failure', `error id: ${r.text}`);
  assert.equal(e.kind, 'temporary', `error kind: ${r.text}`);
  assert.equal(typeof e.msg, 'string', `error msg: ${r.text}`);
  if (msgIncludes) {
    assert.ok(e.msg.includes(msgIncludes), `error msg ${JSON.stringify(e.msg)} does not mention ${msgIncludes}`);
  }
}

// Checks a signature returned for key over msg (watermark included).
function checkSignature(key, sigB58, msg, { reference, version = 2 } = {}) {
  const kind = key.kind;
  const prefix = { tz1: 'edsig', tz2: 'spsig1', tz3: 'p2sig', tz4: 'BLsig' }[kind];
  assert.ok(sigB58.startsWith(prefix), `signature ${sigB58} does not start with ${prefix}`);
  const raw = T.decodeSig(kind, sigB58);
  assert.equal(raw.length, kind === 'tz4' ? 96 : 64, 'raw signature length');
  assert.ok(T.nobleVerify(kind, key.pk, sigB58, msg, { version }), `@noble/curves rejects ${kind} signature`);
  if (version === 2) {
    assert.ok(T.verifySignature(T.hex(msg), key.pk, sigB58), `@taquito/utils verifySignature rejects ${kind} signature`);
  }
  if (kind === 'tz2' || kind === 'tz3') assert.ok(T.isLowS(kind, raw), `${kind} signature is not low-S`);
  if (reference !== undefined) assert.equal(sigB58, reference, 'signature differs from the reference signer');
}

async function main() {
  const bin = vigilBin();
  console.log(`# vigil binary: ${bin}`);
  if (!fs.existsSync(bin)) {
    console.log(`FAIL - vigil binary not found at ${bin}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }

  const tmp = mkTemp();
  const baseDir = path.join(tmp, 'base');
  const secretFile = path.join(tmp, 'secret_keys.json');
  const configFile = path.join(tmp, 'vigil.yaml');
  const logFile = path.join(tmp, 'vigil.log');
  console.log(`# temp dir: ${tmp}`);

  const keys = {};
  for (const k of KINDS) keys[k] = await T.makeKey(k);
  const unlisted = await T.makeKey('tz1', 'peers-tz1-unlisted'); // in the vault, not under tezos:
  const ghost = await T.makeKey('tz1', 'peers-tz1-ghost');       // under tezos:, not in any vault
  const stranger = await T.makeKey('tz2', 'peers-tz2-stranger'); // nowhere

  writeSecretFile(secretFile, [...KINDS.map((k) => ({ name: k, sk: keys[k].sk })), { name: 'unlisted', sk: unlisted.sk }]);
  const port = await freePort();
  let uport = await freePort();
  while (uport === port) uport = await freePort();
  const generic = { generic: GENERIC_OPS };
  writeConfig(configFile, {
    baseDir, port, uport, secretFile,
    policies: {
      [keys.tz1.pkh]: { allow: { block: [], preattestation: [], attestation: [], attestation_with_dal: [], ...generic } },
      [keys.tz2.pkh]: { allow: { attestation: [], ...generic } },
      [keys.tz3.pkh]: { allow: { preattestation: [], attestation: [], ...generic } },
      [keys.tz4.pkh]: { allow_proof_of_possession: true,
        allow: { attestation: [], generic: ['transaction', 'reveal', 'failing_noop'] } },
      [ghost.pkh]: null,
    },
  });
  const base = `http://127.0.0.1:${port}`;
  const ubase = `http://127.0.0.1:${uport}`;

  let daemon = null;
  try {
    await test('vigil serve -c starts and /healthz answers 200', async () => {
      daemon = await startVigil(['-c', configFile], { uport, logFile });
    });
    if (!daemon) return;

    await test('vectors: deterministic test keys match signatures_taquito.json', async () => {
      const shared = sharedDir();
      if (!shared) skip('VIGIL_SHARED not set or absent');
      const f = path.join(shared, 'vectors/tezos/signatures_taquito.json');
      if (!fs.existsSync(f)) skip(`${f} absent`);
      const v = JSON.parse(fs.readFileSync(f, 'utf8'));
      for (const k of KINDS) {
        const vk = v.keys.find((x) => x.kind === k);
        assert.equal(keys[k].sk, vk.sk);
        assert.equal(keys[k].pk, vk.pk);
        assert.equal(keys[k].pkh, vk.pkh);
      }
    });

    await test('GET /healthz -> 200 {"ready":true}', async () => {
      const r = await http(`${ubase}/healthz`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { ready: true });
    });

    await test('GET /authorized_keys -> 200 {}', async () => {
      const r = await http(`${base}/authorized_keys`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, {});
      assert.match(r.headers.get('content-type') || '', /application\/json/);
    });

    // ------------------------------------------------------------------------------------------
    // tz1 / tz2 / tz3 through Taquito's RemoteSigner
    let levelBase = 1000;
    for (const kind of ['tz1', 'tz2', 'tz3']) {
      const key = keys[kind];
      const rs = new RemoteSigner(key.pkh, `${base}/`);

      await test(`${kind} RemoteSigner.publicKey() equals InMemorySigner's`, async () => {
        assert.equal(await rs.publicKey(), key.pk);
        assert.equal(await rs.publicKeyHash(), key.pkh);
      });

      const signCase = async (label, bytes, watermark, reqKind, opKinds) => {
        await test(`${kind} RemoteSigner.sign ${label}`, async () => {
          const res = await rs.sign(bytes, watermark);
          countSigned(key.pkh, reqKind, opKinds);
          const msg = T.concat(watermark, T.unhex(bytes));
          const ref = await key.signer.sign(bytes, watermark);
          checkSignature(key, res.prefixSig, msg, { reference: kind === 'tz1' ? ref.prefixSig : undefined });
          assert.equal(res.bytes, bytes);
        });
      };

      await signCase('reveal+transaction (0x03)', await T.forgeRevealTransaction(key), T.WM_GENERIC, 'generic',
        ['reveal', 'transaction']);
      await signCase('delegation (0x03)', await T.forgeDelegation(key), T.WM_GENERIC, 'generic', ['delegation']);
      await signCase('failing_noop (0x03)', await T.forgeFailingNoop(`vigil ${kind}`), T.WM_GENERIC, 'generic',
        ['failing_noop']);
      for (const lvl of [levelBase, levelBase + 1, levelBase + 7]) {
        await signCase(`attestation level ${lvl} (0x13 || chain)`, await T.forgeAttestation(lvl, 0, `${kind}-${lvl}`),
          T.wmAttestation(), 'attestation', ['attestation']);
      }
      levelBase += 100;
    }

    await test('tz1 signature of a raw sign request equals the Octez/Taquito vector (POST /keys direct)', async () => {
      const bytes = await T.forgeRevealTransaction(keys.tz1);
      const r = await postSign(base, keys.tz1.pkh, '03' + bytes);
      assert.equal(r.status, 200, r.text);
      assert.match(r.headers.get('content-type') || '', /application\/json/);
      const ref = await keys.tz1.signer.sign(bytes, T.WM_GENERIC);
      assert.deepEqual(r.json, { signature: ref.prefixSig });
      countSigned(keys.tz1.pkh, 'generic', ['reveal', 'transaction']);
    });

    await test('upper-case hex body is accepted and signs the same bytes', async () => {
      const bytes = await T.forgeFailingNoop('UPPER');
      const r = await postSign(base, keys.tz1.pkh, ('03' + bytes).toUpperCase());
      assert.equal(r.status, 200, r.text);
      const ref = await keys.tz1.signer.sign(bytes, T.WM_GENERIC);
      assert.equal(r.json.signature, ref.prefixSig);
      countSigned(keys.tz1.pkh, 'generic', ['failing_noop']);
    });

    // ------------------------------------------------------------------------------------------
    // tz4 over plain HTTP
    const tz4 = keys.tz4;
    await test('tz4 GET /keys -> BLpk equals InMemorySigner\'s', async () => {
      const r = await http(`${base}/keys/${tz4.pkh}`);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { public_key: tz4.pk });
    });

    const tz4Sign = async (label, bytes, watermark, reqKind, opKinds) => {
      await test(`tz4 POST /keys ${label} (version 2 default) equals InMemorySigner and verifies`, async () => {
        const msg = T.concat(watermark, T.unhex(bytes));
        const r = await postSign(base, tz4.pkh, T.hex(msg));
        assert.equal(r.status, 200, r.text);
        countSigned(tz4.pkh, reqKind, opKinds);
        const ref = await tz4.signer.sign(bytes, watermark);
        checkSignature(tz4, r.json.signature, msg, { reference: ref.prefixSig });
      });
    };
    const tz4rt = await T.forgeRevealTransaction(tz4);
    await tz4Sign('reveal+transaction', tz4rt, T.WM_GENERIC, 'generic', ['reveal', 'transaction']);
    await tz4Sign('failing_noop', await T.forgeFailingNoop('vigil tz4'), T.WM_GENERIC, 'generic', ['failing_noop']);
    await tz4Sign('attestation level 5000', await T.forgeAttestation(5000, 0, 'tz4-5000'), T.wmAttestation(),
      'attestation', ['attestation']);
    await tz4Sign('attestation level 5001', await T.forgeAttestation(5001, 0, 'tz4-5001'), T.wmAttestation(),
      'attestation', ['attestation']);

    await test('tz4 POST /keys?version=2 equals the default', async () => {
      const msg = T.concat(T.WM_GENERIC, T.unhex(tz4rt));
      const r = await postSign(base, tz4.pkh, T.hex(msg), { query: '?version=2' });
      assert.equal(r.status, 200, r.text);
      countSigned(tz4.pkh, 'generic', ['reveal', 'transaction']);
      const ref = await tz4.signer.sign(tz4rt, T.WM_GENERIC);
      assert.equal(r.json.signature, ref.prefixSig);
    });

    await test('tz4 POST /keys?version=1 -> AUG signature over pk || msg', async () => {
      // version=1 also selects the proto 022 decoder (signatory.md §2.4), which has no reveal proof
      // option: send a transaction alone, valid in both encodings.
      const tx = await T.forgeTransaction(tz4, 7);
      const msg = T.concat(T.WM_GENERIC, T.unhex(tx));
      const r = await postSign(base, tz4.pkh, T.hex(msg), { query: '?version=1' });
      assert.equal(r.status, 200, r.text);
      countSigned(tz4.pkh, 'generic', ['transaction']);
      const sig = r.json.signature;
      assert.ok(sig.startsWith('BLsig'), sig);
      assert.ok(T.nobleVerify('tz4', tz4.pk, sig, msg, { version: 1 }), 'AUG verification failed');
      assert.ok(!T.nobleVerify('tz4', tz4.pk, sig, msg, { version: 2 }), 'version 1 signature verifies as version 2');
      assert.equal(sig, T.blsAugSignature(tz4, msg), 'differs from noble AUG reference');
    });

    await test('tz4 POST /keys?version=0 is refused with an error body', async () => {
      const msg = T.concat(T.WM_GENERIC, T.unhex(tz4rt));
      const r = await postSign(base, tz4.pkh, T.hex(msg), { query: '?version=0' });
      assert.ok(r.status >= 400 && r.status < 600, `status ${r.status}: ${r.text}`);
      assertErrorBody(r);
    });

    await test('tz4 GET /bls_prove_possession -> valid PoP equal to InMemorySigner.provePossession()', async () => {
      const r = await http(`${base}/bls_prove_possession/${tz4.pkh}`);
      assert.equal(r.status, 200, r.text);
      const pop = r.json.bls_prove_possession;
      assert.ok(typeof pop === 'string' && pop.startsWith('BLsig'), r.text);
      assert.ok(T.noblePopVerify(tz4.pk, pop), '@noble/curves rejects the PoP');
      const pkHex = T.hex(T.decodePk('tz4', tz4.pk));
      assert.ok(T.verifySignature(pkHex, tz4.pk, pop, undefined, true), '@taquito/utils rejects the PoP');
      const ref = await tz4.signer.provePossession();
      assert.equal(pop, ref.prefixSig);
    });

    await test('tz1 GET /bls_prove_possession -> 400 (not a BLS key / not allowed)', async () => {
      const r = await http(`${base}/bls_prove_possession/${keys.tz1.pkh}`);
      assertErrorBody(r, { status: 400 });
    });

    // ------------------------------------------------------------------------------------------
    // Watermark through the real client
    {
      const key = keys.tz1;
      const rs = new RemoteSigner(key.pkh, base);
      const L = 20000;
      const attA = await T.forgeAttestation(L, 0, 'A');
      const attB = await T.forgeAttestation(L, 0, 'B');
      const wm = T.wmAttestation();
      let sigA = null;

      await test('watermark: attestation at level L signs', async () => {
        const res = await rs.sign(attA, wm);
        countSigned(key.pkh, 'attestation', ['attestation']);
        sigA = res.prefixSig;
        checkSignature(key, sigA, T.concat(wm, T.unhex(attA)), { reference: (await key.signer.sign(attA, wm)).prefixSig });
      });

      await test('watermark: different attestation at same level/round -> RemoteSigner error, HTTP 409', async () => {
        let err = null;
        try { await rs.sign(attB, wm); } catch (e) { err = e; }
        assert.ok(err, 'RemoteSigner accepted a double attestation');
        const status = err.status ?? err.cause?.status;
        assert.equal(status, 409, `RemoteSigner error ${err.name}: ${err.message}`);
        const r = await postSign(base, key.pkh, T.hex(T.concat(wm, T.unhex(attB))));
        assertErrorBody(r, { status: 409, msgIncludes: 'watermark' });
      });

      await test('watermark: identical retry -> 200 with the same signature', async () => {
        assert.ok(sigA, 'first signature missing');
        const r = await postSign(base, key.pkh, T.hex(T.concat(wm, T.unhex(attA))));
        assert.equal(r.status, 200, r.text);
        countSigned(key.pkh, 'attestation', ['attestation']);
        assert.equal(r.json.signature, sigA);
        const res = await rs.sign(attA, wm);
        countSigned(key.pkh, 'attestation', ['attestation']);
        assert.equal(res.prefixSig, sigA);
      });

      await test('watermark: lower level -> 409', async () => {
        const att = await T.forgeAttestation(L - 1, 5, 'C');
        const r = await postSign(base, key.pkh, T.hex(T.concat(wm, T.unhex(att))));
        assertErrorBody(r, { status: 409 });
      });

      await test('watermark: same level, higher round -> 200', async () => {
        const att = await T.forgeAttestation(L, 1, 'D');
        const res = await rs.sign(att, wm);
        countSigned(key.pkh, 'attestation', ['attestation']);
        checkSignature(key, res.prefixSig, T.concat(wm, T.unhex(att)));
      });

      await test('watermark: attestation_with_dal conflicts with attestation at the same level/round -> 409', async () => {
        const att = await T.forgeAttestationWithDal(L, 1, 'E');
        const r = await postSign(base, key.pkh, T.hex(T.concat(wm, T.unhex(att))));
        assertErrorBody(r, { status: 409 });
      });

      await test('watermark: attestation_with_dal at a higher round -> 200', async () => {
        const att = await T.forgeAttestationWithDal(L, 2, 'F');
        const res = await rs.sign(att, wm);
        countSigned(key.pkh, 'attestation_with_dal', ['attestation_with_dal']);
        checkSignature(key, res.prefixSig, T.concat(wm, T.unhex(att)));
      });

      await test('watermark: preattestation has its own mark (level L signs, different payload -> 409)', async () => {
        const pwm = T.wmPreattestation();
        const p1 = await T.forgePreattestation(L, 0, 'P1');
        const res = await rs.sign(p1, pwm);
        countSigned(key.pkh, 'preattestation', ['preattestation']);
        checkSignature(key, res.prefixSig, T.concat(pwm, T.unhex(p1)));
        const p2 = await T.forgePreattestation(L, 0, 'P2');
        const r = await postSign(base, key.pkh, T.hex(T.concat(pwm, T.unhex(p2))));
        assertErrorBody(r, { status: 409 });
      });

      await test('watermark: block at level L, then a different block at L (same round) -> 409, round from fitness', async () => {
        const b1 = T.forgeBlockRequest(L, 0, 'b1');
        const r1 = await postSign(base, key.pkh, b1);
        assert.equal(r1.status, 200, r1.text);
        countSigned(key.pkh, 'block', ['block']);
        checkSignature(key, r1.json.signature, T.unhex(b1));
        const b2 = T.forgeBlockRequest(L, 0, 'b2');
        assertErrorBody(await postSign(base, key.pkh, b2), { status: 409 });
        const b3 = T.forgeBlockRequest(L, 1, 'b3'); // re-proposal at round 1 (payload_round stays 0)
        const r3 = await postSign(base, key.pkh, b3);
        assert.equal(r3.status, 200, r3.text);
        countSigned(key.pkh, 'block', ['block']);
      });

      await test('watermark: a fresh chain id has its own mark', async () => {
        const att = await T.forgeAttestation(10, 0, 'other-chain');
        const owm = T.wmAttestation('ed9d217c');
        const res = await rs.sign(att, owm);
        countSigned(key.pkh, 'attestation', ['attestation']);
        checkSignature(key, res.prefixSig, T.concat(owm, T.unhex(att)));
      });

      await test('watermark: state is persisted under base_dir', async () => {
        const files = fs.readdirSync(baseDir, { recursive: true });
        assert.ok(files.length > 0, `${baseDir} is empty after watermarked signing`);
      });
    }

    // ------------------------------------------------------------------------------------------
    // Bad input
    const goodAtt = T.hex(T.concat(T.wmAttestation(), T.unhex(await T.forgeAttestation(30000, 0, 'x'))));
    const tz1 = keys.tz1.pkh;

    await test('GET /keys/<unknown pkh> -> 404', async () => {
      const r = await http(`${base}/keys/${stranger.pkh}`);
      assertErrorBody(r, { status: 404 });
    });
    await test('RemoteSigner.publicKey() of an unknown pkh -> PublicKeyNotFoundError', async () => {
      const rs = new RemoteSigner(stranger.pkh, base);
      await assert.rejects(rs.publicKey(), (e) => e.name === 'PublicKeyNotFoundError' || e.cause?.status === 404);
    });
    await test('POST /keys/<pkh listed in tezos: but in no vault> -> 404', async () => {
      const r = await postSign(base, ghost.pkh, goodAtt);
      assertErrorBody(r, { status: 404 });
    });
    await test('POST /keys/<pkh in no config and no vault> -> 403 not listed', async () => {
      const r = await postSign(base, stranger.pkh, goodAtt);
      assertErrorBody(r, { status: 403, msgIncludes: 'not listed' });
    });
    await test('POST /keys/<vault key not listed under tezos:> -> 403 not listed', async () => {
      const r = await postSign(base, unlisted.pkh, goodAtt);
      assertErrorBody(r, { status: 403, msgIncludes: 'not listed' });
    });
    await test('GET /keys/<vault key not listed under tezos:> -> 404 (signatory.md §13 item 11)', async () => {
      const r = await http(`${base}/keys/${unlisted.pkh}`);
      assertErrorBody(r, { status: 404 });
    });
    await test('GET /keys/<pkh with bad checksum> -> 400', async () => {
      const bad = tz1.slice(0, -1) + (tz1.endsWith('a') ? 'b' : 'a');
      const r = await http(`${base}/keys/${bad}`);
      assertErrorBody(r, { status: 400 });
    });
    await test('POST malformed hex ("03ZZZZ") -> 400', async () => {
      assertErrorBody(await postSign(base, tz1, '03ZZZZ'), { status: 400 });
    });
    await test('POST odd-length hex -> 400', async () => {
      assertErrorBody(await postSign(base, tz1, '03abc'), { status: 400 });
    });
    await test('POST non-JSON body -> 400', async () => {
      const r = await http(`${base}/keys/${tz1}`, { method: 'POST', body: goodAtt, headers: { 'content-type': 'application/json' } });
      assertErrorBody(r, { status: 400 });
      const r2 = await http(`${base}/keys/${tz1}`, { method: 'POST', body: '\u0003' });
      assertErrorBody(r2, { status: 400 });
    });
    await test('POST JSON object body -> 400', async () => {
      const r = await http(`${base}/keys/${tz1}`, { method: 'POST', body: JSON.stringify({ data: goodAtt }) });
      assertErrorBody(r, { status: 400 });
    });
    await test('POST empty body -> 400', async () => {
      const r = await http(`${base}/keys/${tz1}`, { method: 'POST', body: '' });
      assertErrorBody(r, { status: 400 });
    });
    await test('POST body > 64 KiB -> 400', async () => {
      const big = JSON.stringify('03' + '00'.repeat(40000)); // 80 KiB
      const r = await http(`${base}/keys/${tz1}`, { method: 'POST', body: big });
      assertErrorBody(r, { status: 400 });
    });
    await test('daemon still serves after the oversized body', async () => {
      const r = await http(`${base}/keys/${tz1}`);
      assert.equal(r.status, 200, r.text);
    });
    await test('POST unknown magic byte 0x02 -> 400', async () => {
      assertErrorBody(await postSign(base, tz1, '02' + goodAtt.slice(2)), { status: 400 });
    });
    await test('POST attestation with trailing bytes -> 400 (signatory.md §13 item 8)', async () => {
      assertErrorBody(await postSign(base, tz1, goodAtt + '00'), { status: 400 });
    });
    await test('PUT /keys/<pkh> -> 405', async () => {
      const r = await http(`${base}/keys/${tz1}`, { method: 'PUT', body: JSON.stringify(goodAtt) });
      assert.equal(r.status, 405, r.text);
    });
    await test('DELETE /keys/<pkh> -> 405', async () => {
      const r = await http(`${base}/keys/${tz1}`, { method: 'DELETE' });
      assert.equal(r.status, 405, r.text);
    });
    await test('GET /no/such/path -> 404', async () => {
      const r = await http(`${base}/no/such/path`);
      assert.equal(r.status, 404, r.text);
    });
    await test('request kind not allowed by policy (tz2 preattestation) -> 403 naming the kind', async () => {
      const p = await T.forgePreattestation(40000, 0, 'tz2-pre');
      const r = await postSign(base, keys.tz2.pkh, T.hex(T.concat(T.wmPreattestation(), T.unhex(p))));
      assertErrorBody(r, { status: 403, msgIncludes: 'preattestation' });
      const rs = new RemoteSigner(keys.tz2.pkh, base);
      await assert.rejects(rs.sign(p, T.wmPreattestation()), (e) => /OperationNotAuthorized/.test(e.name));
    });
    await test('operation not allowed by policy (tz4 delegation) -> 403 naming the operation', async () => {
      const d = await T.forgeDelegation(tz4);
      const r = await postSign(base, tz4.pkh, '03' + d);
      assertErrorBody(r, { status: 403, msgIncludes: 'delegation' });
    });
    await test('request kind not allowed (tz3 block) -> 403 naming the kind', async () => {
      const r = await postSign(base, keys.tz3.pkh, T.forgeBlockRequest(50000, 0, 'tz3'));
      assertErrorBody(r, { status: 403, msgIncludes: 'block' });
    });

    await test('concurrency: 64 parallel generic signatures over 4 keys all verify', async () => {
      const jobs = [];
      for (let i = 0; i < 64; i++) {
        const key = keys[KINDS[i % 4]];
        jobs.push((async () => {
          const bytes = await T.forgeFailingNoop(`parallel ${i}`);
          const msg = T.concat(T.WM_GENERIC, T.unhex(bytes));
          const r = await postSign(base, key.pkh, T.hex(msg));
          assert.equal(r.status, 200, `${key.kind} #${i}: ${r.text}`);
          countSigned(key.pkh, 'generic', ['failing_noop']);
          const ref = key.kind === 'tz1' || key.kind === 'tz4' ? (await key.signer.sign(bytes, T.WM_GENERIC)).prefixSig : undefined;
          checkSignature(key, r.json.signature, msg, { reference: ref });
        })());
      }
      const res = await Promise.allSettled(jobs);
      const bad = res.filter((x) => x.status === 'rejected').map((x) => x.reason.message);
      assert.deepEqual(bad, [], bad.slice(0, 3).join(' | '));
    });

    // ------------------------------------------------------------------------------------------
    // Metrics
    await test('GET /metrics: signing_ops_total matches the signatures issued', async () => {
      const r = await http(`${ubase}/metrics`);
      assert.equal(r.status, 200);
      const seen = {};
      let lines = 0;
      for (const line of r.text.split('\n')) {
        const m = line.match(/^signing_ops_total\{([^}]*)\}\s+([0-9.eE+-]+)/);
        if (!m) continue;
        lines++;
        const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
        const k = `${labels.op}/${labels.kind}`;
        const by = (seen[labels.address] ||= {});
        by[k] = (by[k] || 0) + Number(m[2]);
      }
      assert.ok(lines > 0, 'no signing_ops_total samples in /metrics');
      const problems = [];
      for (const kind of KINDS) {
        const pkh = keys[kind].pkh;
        const want = expectedOps[pkh] || {};
        const got = seen[pkh] || {};
        for (const k of new Set([...Object.keys(want), ...Object.keys(got)])) {
          if ((want[k] || 0) !== (got[k] || 0)) problems.push(`${kind} ${k}: want ${want[k] || 0}, got ${got[k] || 0}`);
        }
      }
      assert.deepEqual(problems, [], problems.join('; '));
    });

    await test('GET /healthz still {"ready":true} after the run', async () => {
      const r = await http(`${ubase}/healthz`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { ready: true });
    });

    await test('restart: watermark survives (double attestation still 409, identical retry 200)', async () => {
      const ex = await stopVigil(daemon);
      daemon = null;
      assert.ok(ex && (ex.code === 0 || ex.sig === 'SIGTERM'), `exit on SIGTERM: ${JSON.stringify(ex)}`);
      daemon = await startVigil(['-c', configFile], { uport, logFile });
      const wm = T.wmAttestation();
      const attB = await T.forgeAttestation(20000, 0, 'B');
      assertErrorBody(await postSign(base, keys.tz1.pkh, T.hex(T.concat(wm, T.unhex(attB)))), { status: 409 });
      const attLow = await T.forgeAttestation(19999, 9, 'low');
      assertErrorBody(await postSign(base, keys.tz1.pkh, T.hex(T.concat(wm, T.unhex(attLow)))), { status: 409 });
      const attF = await T.forgeAttestationWithDal(20000, 2, 'F'); // the last one signed before the restart
      const r = await postSign(base, keys.tz1.pkh, T.hex(T.concat(wm, T.unhex(attF))));
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.signature, (await keys.tz1.signer.sign(attF, wm)).prefixSig);
      const next = await T.forgeAttestation(20001, 0, 'next');
      const rs = new RemoteSigner(keys.tz1.pkh, base);
      const res = await rs.sign(next, wm);
      checkSignature(keys.tz1, res.prefixSig, T.concat(wm, T.unhex(next)));
    });
  } finally {
    if (daemon) {
      const ex = await stopVigil(daemon);
      await test('vigil exits cleanly on SIGTERM', async () => {
        assert.ok(ex, 'did not exit');
        assert.ok(ex.code === 0 || ex.sig === 'SIGTERM', `exit ${JSON.stringify(ex)}`);
      });
    }
  }

  // ------------------------------------------------------------------------------------------
  // Dev default: no config file
  await devDefault();

  if (process.env.VIGIL_KEEP_TMP !== '1') fs.rmSync(tmp, { recursive: true, force: true });
}

async function devDefault() {
  const free = (await portIsFree(6732)) && (await portIsFree(9583));
  const tmp = mkTemp('vigil-dev-');
  const dir = path.join(tmp, 'base');
  let d = null;
  try {
    await test('dev default: vigil serve --base-dir DIR creates 4 keys and signs via RemoteSigner', async () => {
      if (!free) skip('127.0.0.1:6732 or :9583 is busy');
      d = await startVigil(['--base-dir', dir], { uport: 9583, env: { VIGIL_BASE_DIR: '' } });
      const f = path.join(dir, 'secret_keys.json');
      assert.ok(fs.existsSync(f), `${f} not created`);
      const arr = JSON.parse(fs.readFileSync(f, 'utf8'));
      assert.equal(arr.length, 4, `expected 4 keys, got ${arr.length}`);
      const signers = await Promise.all(arr.map(async (e) => {
        const sk = e.value.includes(':') ? e.value.slice(e.value.indexOf(':') + 1) : e.value;
        const s = new T.InMemorySigner(sk);
        return { sk, signer: s, pkh: await s.publicKeyHash(), pk: await s.publicKey() };
      }));
      assert.deepEqual(signers.map((s) => s.pkh.slice(0, 3)).sort(), KINDS);
      const k1 = signers.find((s) => s.pkh.startsWith('tz1'));
      const rs = new RemoteSigner(k1.pkh, 'http://127.0.0.1:6732');
      assert.equal(await rs.publicKey(), k1.pk);
      const key = { kind: 'tz1', pk: k1.pk, pkh: k1.pkh };
      let res;
      let bytes;
      let wm;
      try {
        bytes = await T.forgeTransaction(key);
        wm = T.WM_GENERIC;
        res = await rs.sign(bytes, wm);
      } catch (e) {
        if (!/OperationNotAuthorized/.test(e.name)) throw e;
        bytes = await T.forgeAttestation(1, 0, 'dev'); // dev policy may allow only consensus kinds
        wm = T.wmAttestation();
        res = await rs.sign(bytes, wm);
      }
      const ref = await k1.signer.sign(bytes, wm);
      checkSignature(key, res.prefixSig, T.concat(wm, T.unhex(bytes)), { reference: ref.prefixSig });
      const st = fs.statSync(f);
      assert.equal(st.mode & 0o077, 0, `secret file mode ${(st.mode & 0o777).toString(8)} is group/world accessible`);
    });
  } finally {
    if (d) await stopVigil(d);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

await runMain(main);

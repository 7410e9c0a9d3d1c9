// Every class of bad input to the signing API, with the exact answer (status and body) vigil gives.
// This file is the backing of the "bad input" table in docs/security.md: one sub-test per row, whose
// name is the row's label. Authentication (authorized keys, JWT) rows are in auth.test.mjs, the
// enclave RPC rows in tests/unit/test_enclave.c; docs/security.md cites them.
//
// Also checked: every error body is the octez error array [{"id":"failure","kind":"temporary","msg"}]
// (one line, application/json), the daemon survives every case (GET /healthz after each), and nothing
// is signed by a refused request (no "signature" in any refusal).
//
// Env: VIGIL_BIN. Prints "N passed, N failed" last; exit 1 on failure.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { test, assert, runMain } from './lib/harness.mjs';
import * as T from './lib/tezos.mjs';
import {
  vigilBin, mkTemp, freePort, writeSecretFile, writeConfig, startVigil, stopVigil, http, postSign,
} from './lib/vigil.mjs';

const errorBody = (msg) => `${JSON.stringify([{ id: 'failure', kind: 'temporary', msg }])}\n`;

// Raw HTTP/1.1 over a socket: for bodies and framing fetch() will not send.
function rawRequest(port, text, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    s.setTimeout(timeoutMs, () => { s.destroy(); reject(new Error('timeout')); });
    s.on('data', (c) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.end(text);
  });
}

async function main() {
  console.log(`# vigil binary: ${vigilBin()}`);
  const tmp = mkTemp('vigil-badinput-');
  const baseDir = path.join(tmp, 'base');
  const secretFile = path.join(tmp, 'secret_keys.json');
  const configFile = path.join(tmp, 'vigil.yaml');
  console.log(`# temp dir: ${tmp}`);

  const k = {};
  for (const kind of ['tz1', 'tz2', 'tz3', 'tz4']) k[kind] = await T.makeKey(kind, `bad-${kind}`);
  const unlisted = await T.makeKey('tz1', 'bad-unlisted'); // in the vault, not under tezos:
  const ghost = await T.makeKey('tz1', 'bad-ghost');       // under tezos:, in no vault
  const stranger = await T.makeKey('tz2', 'bad-stranger'); // nowhere
  writeSecretFile(secretFile, [...Object.values(k).map((x) => ({ name: x.kind, sk: x.sk })), { name: 'unlisted', sk: unlisted.sk }]);
  const port = await freePort();
  let uport = await freePort();
  while (uport === port) uport = await freePort();
  writeConfig(configFile, {
    baseDir, port, uport, secretFile,
    policies: {
      [k.tz1.pkh]: { allow: { block: [], preattestation: [], attestation: [], attestation_with_dal: [], generic: ['transaction', 'ballot:yay'] } },
      [k.tz2.pkh]: { allowed_chains: [T.MAINNET_CHAIN], allow: { attestation: [] } },
      [k.tz3.pkh]: null,
      [k.tz4.pkh]: { allow: { attestation: [], generic: ['transaction'] } },
      [ghost.pkh]: null,
    },
  });
  const base = `http://127.0.0.1:${port}`;
  const daemon = await startVigil(['-c', configFile], { uport });

  const tz1 = k.tz1.pkh;
  const att = async (level, round, payload, chain = T.MAINNET_CHAIN_HEX) => `13${chain}${await T.forgeAttestation(level, round, payload)}`;
  const goodAtt = await att(100, 0, 'good');
  const tx = `03${await T.forgeTransaction(k.tz1, 1)}`;
  const badChecksum = tz1.slice(0, -1) + (tz1.endsWith('a') ? 'b' : 'a');
  const otherChain = 'ed9d217c';
  const otherChainB58 = T.b58Encode(T.unhex(otherChain), T.PrefixV2.ChainID);

  // [label, request (async () => {status, text, headers?}), expected status, expected body (exact)]
  // A string body is an octez error `msg`; {text} is a literal body.
  const cases = [
    // ---- HTTP framing and routing ----
    ['unknown path', () => http(`${base}/no/such/path`), 404, { text: '404 page not found\n' }],
    ['known path, wrong method (PUT /keys/{pkh})', () => http(`${base}/keys/${tz1}`, { method: 'PUT', body: '""' }), 405, { text: '' }],
    ['body over 64 KiB', () => http(`${base}/keys/${tz1}`, { method: 'POST', body: JSON.stringify(`03${'00'.repeat(40000)}`) }),
      400, 'request body too large: limit is 65536 bytes'],
    ['body is not JSON', () => http(`${base}/keys/${tz1}`, { method: 'POST', body: goodAtt }), 400, "invalid JSON body: end of file expected near 'a'"],
    ['empty body', () => http(`${base}/keys/${tz1}`, { method: 'POST', body: '' }), 400, 'invalid JSON body: unexpected token near end of file'],
    ['body is JSON but not a string', () => http(`${base}/keys/${tz1}`, { method: 'POST', body: '{"data":"03"}' }), 400, 'body must be a JSON string of hex'],
    ['hex with a non-hex character', () => postSign(base, tz1, '03ZZ'), 400, "invalid hex: byte 'Z' at offset 2"],
    ['odd-length hex', () => postSign(base, tz1, '03abc'), 400, 'invalid hex: odd length 5'],
    ['hex with a 0x prefix', () => postSign(base, tz1, `0x${goodAtt}`), 400, "invalid hex: byte 'x' at offset 1"],
    // ---- key hash in the path ----
    ['key hash with a bad checksum (POST)', () => postSign(base, badChecksum, goodAtt), 400, 'base58check: invalid checksum'],
    ['key hash with a bad checksum (GET)', () => http(`${base}/keys/${badChecksum}`), 400, 'base58check: invalid checksum'],
    ['not a key hash (public key in the path)', () => postSign(base, k.tz1.pk, goodAtt), 400, 'unexpected prefix: want tz1/tz2/tz3/tz4'],
    ['key not listed under tezos:, in no vault', () => postSign(base, stranger.pkh, goodAtt), 403, `${stranger.pkh} is not listed in config`],
    ['key in a vault but not listed under tezos:', () => postSign(base, unlisted.pkh, goodAtt), 403, `${unlisted.pkh} is not listed in config`],
    ['key listed under tezos: but in no vault', () => postSign(base, ghost.pkh, goodAtt), 404, 'this key not found in any vault'],
    ['GET /keys of a vault key not listed under tezos: (§13 item 11)', () => http(`${base}/keys/${unlisted.pkh}`), 404, 'this key not found in any vault'],
    // ---- request bytes ----
    ['empty request (zero bytes)', () => postSign(base, tz1, ''), 400, 'empty sign request'],
    ['unknown magic byte 0x02', () => postSign(base, tz1, `02${goodAtt.slice(2)}`), 400, 'unsupported request magic 0x02'],
    ['truncated consensus request', () => postSign(base, tz1, goodAtt.slice(0, 60)), 400, 'truncated input at offset 5: need 32 bytes, 25 left'],
    ['trailing bytes after a consensus operation (§13 item 8)', () => postSign(base, tz1, `${goodAtt}00`), 400, 'attestation request: 1 trailing bytes at offset 80'],
    ['consensus operation under the wrong magic (attestation under 0x12)', () => postSign(base, tz1, `12${goodAtt.slice(2)}`), 400,
      'preattestation request (magic 0x12): operation tag 21 at offset 37 is not allowed'],
    ['generic request with an unknown operation tag', () => postSign(base, tz1, `03${'00'.repeat(32)}fe00`), 400,
      'operation 1: unsupported operation tag 254 at offset 33'],
    ['generic request with more than 256 operations', () => postSign(base, tz1, `03${'00'.repeat(32)}${'1100000000'.repeat(257)}`), 400,
      'generic request has more than 256 operations (offset 1313)'],
    ['generic request with no operation', () => postSign(base, tz1, `03${'00'.repeat(32)}`), 400, 'generic request has no operation at offset 33'],
    ['generic request containing a consensus operation', () => postSign(base, tz1, `03${goodAtt.slice(10)}`), 400,
      "operation 1: operation `attestation' (tag 21) at offset 33 cannot be signed in a generic request"],
    ['BLS key asked for signing version 0', () => postSign(base, k.tz4.pkh, `03${tx.slice(2)}`, { query: '?version=0' }), 400, 'signing version 0 is not supported for BLS keys'],
    // ---- policy ----
    ['request kind not allowed (generic for a default-policy key)', () => postSign(base, k.tz3.pkh, tx), 403, "request kind `generic' is not allowed"],
    ['operation not allowed (delegation)', async () => postSign(base, tz1, `03${await T.forgeDelegation(k.tz1)}`), 403, "operation `delegation' is not allowed"],
    ['chain not in allowed_chains', async () => postSign(base, k.tz2.pkh, await att(100, 0, 'c', otherChain)), 403,
      `chain \`${otherChainB58}' is not allowed`],
    ['proof of possession not allowed (tz4 without allow_proof_of_possession)', () => http(`${base}/bls_prove_possession/${k.tz4.pkh}`), 400, 'proof of possession is not allowed'],
    ['proof of possession for a non-BLS key', () => http(`${base}/bls_prove_possession/${tz1}`), 400, 'proof of possession is not supported'],
    // ---- watermark (first sign L200 R1, then conflicts) ----
    ['watermark: lower level than the last signed', async () => postSign(base, tz1, await att(199, 5, 'low')), 409,
      'watermark validation failed: requested attestation level 199 round 5, stored attestation level 200 round 1'],
    ['watermark: same level and round, different payload', async () => postSign(base, tz1, await att(200, 1, 'other')), 409,
      'watermark validation failed: requested attestation level 200 round 1, stored attestation level 200 round 1 with another payload'],
    ['watermark: lower round at the same level', async () => postSign(base, tz1, await att(200, 0, 'r0')), 409,
      'watermark validation failed: requested attestation level 200 round 0, stored attestation level 200 round 1'],
    ['watermark: attestation_with_dal against a signed attestation at the same level/round',
      async () => postSign(base, tz1, `13${T.MAINNET_CHAIN_HEX}${await T.forgeAttestationWithDal(200, 1, 'dal')}`), 409,
      'watermark validation failed: requested attestation_with_dal level 200 round 1, stored attestation level 200 round 1 with another payload'],
  ];

  const record = process.env.BAD_INPUT_PRINT === '1';
  await test('setup: an attestation at level 200 round 1 signs (the mark the watermark rows test against)', async () => {
    const r = await postSign(base, tz1, await att(200, 1, 'first'));
    assert.equal(r.status, 200, r.text);
  });

  const table = [];
  for (const [label, req, status, want] of cases) {
    await test(label, async () => {
      const r = await req();
      table.push({ label, status: r.status, text: r.text });
      if (record) console.log(`# ${label}\n#   ${r.status} ${JSON.stringify(r.text)}`);
      assert.equal(r.status, status, `status ${r.status}, body ${r.text}`);
      assert.ok(!/"signature"/.test(r.text), 'a refusal carries a signature');
      if (want && typeof want === 'object') {
        assert.equal(r.text, want.text);
      } else {
        assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
        assert.ok(Array.isArray(r.json) && r.json.length === 1, `not an octez error array: ${r.text}`);
        assert.deepEqual(Object.keys(r.json[0]), ['id', 'kind', 'msg']);
        assert.equal(r.text, errorBody(want));
      }
      const h = await http(`http://127.0.0.1:${uport}/healthz`);
      assert.equal(h.status, 200, 'daemon unhealthy after the request');
    });
  }

  await test('HTTP/1.1 request with a 1 MiB Content-Length and no body, then close: daemon keeps serving', async () => {
    await rawRequest(port, `POST /keys/${tz1} HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n"03`).catch(() => '');
    const r = await http(`${base}/keys/${tz1}`);
    assert.equal(r.status, 200, r.text);
  });

  await test('garbage instead of HTTP: connection closed or 400, daemon keeps serving', async () => {
    const out = await rawRequest(port, '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n').catch(() => '');
    assert.ok(out === '' || /^HTTP\/1\.[01] 400/.test(out), out.slice(0, 80));
    const r = await http(`${base}/keys/${tz1}`);
    assert.equal(r.status, 200, r.text);
  });

  const ex = await stopVigil(daemon);
  await test('daemon exits 0 on SIGTERM after every bad input', async () => {
    assert.ok(ex && ex.code === 0, `exit ${JSON.stringify(ex)}`);
  });

  // ---- start-up refusals: bad files never give a running signer ----
  const serveFails = (cfg) => spawnSync(vigilBin(), ['serve', '-c', cfg], { encoding: 'utf8', timeout: 20000 });
  const startup = [
    ['secret file is not JSON', '[{"name": "a", "value": ', /secret_keys\.json:1: .*/],
    ['secret file entry without a value', '[{"name": "a"}]', /entry 0: expected \{"name": string, "value": string\}/],
    ['secret file with an invalid secret key', '[{"name": "a", "value": "unencrypted:edsk1111"}]', /key `a'/],
    ['secret file with an encrypted key', '[{"name": "a", "value": "encrypted:edesk1uiM6BaysskGto8pRtzKQqFqsy1sea1QRjTzaQYuBxYNhuN6eqEU78TGRXZocsVRJYcN7AaU9JDykwUd8KW"}]', /encrypted/],
  ];
  for (const [label, content, re] of startup) {
    await test(`start-up refused: ${label}`, async () => {
      const dir = mkTemp('vigil-badinput-s-');
      const sf = path.join(dir, 'secret_keys.json');
      fs.writeFileSync(sf, content, { mode: 0o600 });
      const cf = path.join(dir, 'vigil.yaml');
      writeConfig(cf, { baseDir: path.join(dir, 'base'), port: await freePort(), uport: await freePort(), secretFile: sf, policies: { [tz1]: null } });
      const r = serveFails(cf);
      const log = `${r.stdout}${r.stderr}`;
      if (record) console.log(`# ${label}\n#   exit ${r.status} ${JSON.stringify(log.trim().split('\n').pop())}`);
      assert.notEqual(r.status, 0, `vigil started: ${log}`);
      assert.match(log, re);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  }
  if (record) console.log(JSON.stringify(Object.fromEntries(table.map((t) => [t.label, t.text])), null, 1));
  return tmp;
}

await runMain(main);

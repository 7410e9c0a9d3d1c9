// Client authentication against a running vigil (spec: shared/specs/signatory.md §5.1, §5.2, §1.3–1.7):
//
//  1. authorized keys: an Octez-style client built here from the spec — it signs
//     0x04 0x01 || target pkh (tag + 20 bytes) || request bytes with its own key (@taquito/signer
//     InMemorySigner: tz1, tz2, tz4 clients, typed and generic `sig…` forms) and sends
//     POST /keys/{pkh}?authentication=<sig>; GET /authorized_keys; PoP authentication; every refusal
//     with its status and body; the authentication_failure_total metric.
//  2. JWT: POST /login, Bearer + username on every route, per-key jwt_users, expired / alg-none /
//     tampered / impersonated tokens (built independently with node:crypto), credential rotation.
//  3. start-up refusals: both schemes at once, weak JWT credentials.
//
// Env: VIGIL_BIN (default ../../build/vigil), VIGIL_SHARED (optional: the authenticated_request
// vector cross-checks this client against upstream's bytes and signature).
// Prints "N passed, N failed" last and exits 1 on any failure.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { test, summary, assert, skip } from './lib/harness.mjs';
import * as T from './lib/tezos.mjs';
import {
  vigilBin, sharedDir, mkTemp, freePort, writeSecretFile, startVigil, stopVigil, http, postSign,
} from './lib/vigil.mjs';

// Signatory's integration-test credentials (http_cases.json → jwt.example_integration_credentials).
const PASS1 = '87GridNEG3gKZ3I!';
const PASS2 = 'RkB143NUCmok2f4!';
const SECRET1 = '!sEtcU5RwLQYsA5qQ1c6zpo3FljQxfAKP';
const SECRET2 = '*sEtcU5RwLQYsA5qQ1c6zpo3FljQxfAKP';
const PASS3_NEW = 'N3wPassw0rd-For-u3';
const SECRET3_NEW = 'N3w-Secret-For-Username3-Rotation!';

// ---------------------------------------------------------------------------------------------
// The Octez-style authenticating client (spec §5.1)

const PKH_TAG = { tz1: 0, tz2: 1, tz3: 2, tz4: 3 };
const PKH_PREFIX = {
  tz1: T.PrefixV2.Ed25519PublicKeyHash,
  tz2: T.PrefixV2.Secp256k1PublicKeyHash,
  tz3: T.PrefixV2.P256PublicKeyHash,
  tz4: T.PrefixV2.BLS12_381PublicKeyHash,
};

function pkhBytes(pkh) {
  const kind = pkh.slice(0, 3);
  const [hash] = T.b58DecodeAndCheckPrefix(pkh, [PKH_PREFIX[kind]]);
  return T.concat(new Uint8Array([PKH_TAG[kind]]), hash);
}

// 0x04 0x01 || tag || 20-byte hash of the target || raw request bytes (empty for PoP).
function authBytes(targetPkh, msgHex = '') {
  return T.concat(new Uint8Array([0x04, 0x01]), pkhBytes(targetPkh), T.unhex(msgHex));
}

// Signs like octez-client: InMemorySigner over the bytes (no extra watermark). generic → `sig…`.
async function authenticate(client, targetPkh, msgHex = '', { generic = false } = {}) {
  const s = await client.signer.sign(T.hex(authBytes(targetPkh, msgHex)));
  return generic ? s.sig : s.prefixSig;
}

const q = (sig) => `?authentication=${encodeURIComponent(sig)}`;

function assertErrorBody(r, status, msg) {
  assert.equal(r.status, status, `status ${r.status}, body ${r.text}`);
  assert.equal(r.text, JSON.stringify([{ id: 'failure', kind: 'temporary', msg }]) + '\n', 'error body');
  assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
}

function assertPlain(r, status, { exact, includes } = {}) {
  assert.equal(r.status, status, `status ${r.status}, body ${r.text}`);
  if (exact !== undefined) assert.equal(r.text, exact, 'plain-text body');
  if (includes !== undefined) assert.ok(r.text.includes(includes), `body ${JSON.stringify(r.text)} lacks ${includes}`);
  assert.ok(!r.text.startsWith('['), 'JWT/login errors are plain text, not the JSON error array');
}

// ---------------------------------------------------------------------------------------------
// Independent JWT construction (node:crypto), so vigil's tokens are checked by a second implementation

const b64u = (buf) => Buffer.from(buf).toString('base64url');
function hsToken(claims, secret, { alg = 'HS256', header } = {}) {
  const h = b64u(JSON.stringify(header || { alg, typ: 'JWT' }));
  const c = b64u(JSON.stringify(claims));
  const md = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg];
  const sig = md ? b64u(crypto.createHmac(md, secret).update(`${h}.${c}`).digest()) : '';
  return `${h}.${c}.${sig}`;
}
function decodeJwt(token) {
  const [h, c] = token.split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url')), claims: JSON.parse(Buffer.from(c, 'base64url')) };
}
const nowS = () => Math.floor(Date.now() / 1000);
function utcStamp(date) { return date.toISOString().slice(0, 19).replace('T', ' '); }

// ---------------------------------------------------------------------------------------------
// Config writing

function yamlConfig({ baseDir, port, uport, secretFile, serverLines = [], tezos }) {
  const lines = [
    `base_dir: ${baseDir}`, 'server:', `  address: "127.0.0.1:${port}"`, `  utility_address: "127.0.0.1:${uport}"`,
    ...serverLines,
    'vaults:', '  local:', '    driver: file', '    config:', `      file: ${secretFile}`,
    'tezos:',
  ];
  for (const [pkh, pol] of Object.entries(tezos)) {
    lines.push(`  ${pkh}:`);
    for (const l of pol) lines.push(`    ${l}`);
  }
  lines.push('watermark:', '  driver: mem', '');
  return lines.join('\n');
}

async function daemon(tmp, name, keys, cfg) {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  const secretFile = path.join(dir, 'secret_keys.json');
  writeSecretFile(secretFile, keys);
  const port = await freePort();
  const uport = await freePort();
  const configFile = path.join(dir, 'vigil.yaml');
  fs.writeFileSync(configFile, yamlConfig({ baseDir: path.join(dir, 'base'), port, uport, secretFile, ...cfg }));
  const d = await startVigil(['-c', configFile], { uport, logFile: path.join(dir, 'vigil.log') });
  return { d, base: `http://127.0.0.1:${port}`, ubase: `http://127.0.0.1:${uport}`, configFile, dir };
}

// Runs `vigil serve` expecting a start-up failure; returns {status, log}.
async function startupFailure(tmp, name, keys, cfg) {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  const secretFile = path.join(dir, 'secret_keys.json');
  writeSecretFile(secretFile, keys);
  const configFile = path.join(dir, 'vigil.yaml');
  fs.writeFileSync(configFile, yamlConfig({
    baseDir: path.join(dir, 'base'), port: await freePort(), uport: await freePort(), secretFile, ...cfg,
  }));
  const r = spawnSync(vigilBin(), ['serve', '-c', configFile], { timeout: 20000, encoding: 'utf8' });
  return { status: r.status, log: `${r.stdout}${r.stderr}` };
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const bin = vigilBin();
  console.log(`# vigil binary: ${bin}`);
  if (!fs.existsSync(bin)) {
    console.log(`FAIL - vigil binary not found at ${bin}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  const tmp = mkTemp('vigil-auth-');
  console.log(`# temp dir: ${tmp}`);

  // Signing keys (in the vault) and client keys (held by the clients only).
  const target = {};
  for (const k of ['tz1', 'tz2', 'tz3', 'tz4']) target[k] = await T.makeKey(k, `auth-target-${k}`);
  const client = {
    tz1: await T.makeKey('tz1', 'auth-client-tz1'),
    tz2: await T.makeKey('tz2', 'auth-client-tz2'),
    tz3: await T.makeKey('tz3', 'auth-client-tz3'),
    tz4: await T.makeKey('tz4', 'auth-client-tz4'),
  };
  const stranger = await T.makeKey('tz1', 'auth-client-stranger'); // configured nowhere
  const vaultKeys = Object.entries(target).map(([k, key]) => ({ name: k, sk: key.sk }));
  const generic = ['generic: [transaction, reveal, delegation, failing_noop]'];

  // -------------------------------------------------------------------------------------------
  await test('client construction matches the authenticated_request vector (bytes and edsig)', async () => {
    const shared = sharedDir();
    if (!shared) skip('VIGIL_SHARED not set');
    const v = JSON.parse(fs.readFileSync(path.join(shared, 'vectors/signatory/derived_signatures.json'), 'utf8'))
      .authenticated_request;
    assert.equal(T.hex(authBytes(v.target_pkh, v.message_hex)), v.authenticated_bytes_hex);
    const signer = new T.InMemorySigner(v.client_secret_key);
    assert.equal(await signer.publicKeyHash(), v.client_pkh);
    const s = await signer.sign(v.authenticated_bytes_hex);
    assert.equal(s.prefixSig, v.signature_edsig, 'Ed25519 is deterministic: same signature as upstream');
  });

  // -------------------------------------------------------------------------------------------
  // 1. Authorized keys
  let A;
  try {
    A = await daemon(tmp, 'keys', vaultKeys, {
      serverLines: ['  authorized_keys:', `    - ${client.tz1.pk}`, `    - [${client.tz2.pk}, ${client.tz3.pk}]`,
        `    - ${client.tz4.pk}`],
      tezos: {
        // restricted to three of the four server-level clients
        [target.tz1.pkh]: ['allow:', `  ${generic[0]}`,
          `authorized_keys: [${client.tz1.pk}, ${client.tz2.pk}, ${client.tz4.pk}]`],
        [target.tz2.pkh]: ['allow:', `  ${generic[0]}`],
        [target.tz4.pkh]: ['allow_proof_of_possession: true', 'allow:', `  ${generic[0]}`],
      },
    });
  } catch (e) {
    await test('authorized-keys daemon starts', () => { throw e; });
  }

  if (A) {
    const { base, ubase } = A;
    const tx = '03' + await T.forgeTransaction(target.tz1, 7);
    const tx2 = '03' + await T.forgeTransaction(target.tz2, 9);

    await test('GET /authorized_keys lists the client pkhs in config order', async () => {
      const r = await http(`${base}/authorized_keys`);
      assert.equal(r.status, 200);
      assert.equal(r.text, JSON.stringify({ authorized_keys: [client.tz1.pkh, client.tz2.pkh, client.tz3.pkh,
        client.tz4.pkh] }) + '\n');
      assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
    });

    for (const kind of ['tz1', 'tz2', 'tz4']) {
      await test(`POST /keys with a ${kind} client signature -> 200, signature verifies`, async () => {
        const sig = await authenticate(client[kind], target.tz1.pkh, tx);
        const r = await postSign(base, target.tz1.pkh, tx, { query: q(sig) });
        assert.equal(r.status, 200, r.text);
        assert.ok(T.nobleVerify('tz1', target.tz1.pk, r.json.signature, T.unhex(tx)), 'vigil signature');
      });
    }

    for (const kind of ['tz1', 'tz2']) {
      await test(`POST /keys with a generic sig… from a ${kind} client -> 200`, async () => {
        const sig = await authenticate(client[kind], target.tz1.pkh, tx, { generic: true });
        assert.ok(sig.startsWith('sig'), sig);
        const r = await postSign(base, target.tz1.pkh, tx, { query: q(sig) });
        assert.equal(r.status, 200, r.text);
      });
    }

    await test('no ?authentication= -> 401 missing authentication signature field', async () => {
      assertErrorBody(await postSign(base, target.tz1.pkh, tx), 401, 'missing authentication signature field');
      assertErrorBody(await postSign(base, target.tz1.pkh, tx, { query: '?authentication=' }), 401,
        'missing authentication signature field');
    });

    await test('server-level client not in the key\'s authorized_keys -> 403 client `tz3…\' is not allowed', async () => {
      const sig = await authenticate(client.tz3, target.tz1.pkh, tx);
      assertErrorBody(await postSign(base, target.tz1.pkh, tx, { query: q(sig) }), 403,
        `client \`${client.tz3.pkh}' is not allowed`);
      // ... while a key without a per-key list accepts it
      const sig2 = await authenticate(client.tz3, target.tz2.pkh, tx2);
      const r = await postSign(base, target.tz2.pkh, tx2, { query: q(sig2) });
      assert.equal(r.status, 200, r.text);
    });

    await test('unknown client key -> 403 invalid authentication signature', async () => {
      const sig = await authenticate(stranger, target.tz1.pkh, tx);
      assertErrorBody(await postSign(base, target.tz1.pkh, tx, { query: q(sig) }), 403,
        'invalid authentication signature');
    });

    await test('signature replayed on another request, another target, or PoP -> 403', async () => {
      const sig = await authenticate(client.tz1, target.tz1.pkh, tx);
      const other = '03' + await T.forgeTransaction(target.tz1, 8);
      assertErrorBody(await postSign(base, target.tz1.pkh, other, { query: q(sig) }), 403,
        'invalid authentication signature');
      assertErrorBody(await postSign(base, target.tz2.pkh, tx, { query: q(sig) }), 403,
        'invalid authentication signature');
      const r = await http(`${base}/bls_prove_possession/${target.tz4.pkh}${q(sig)}`);
      assertErrorBody(r, 403, 'invalid authentication signature');
    });

    await test('unparsable authentication signature -> 400', async () => {
      let r = await postSign(base, target.tz1.pkh, tx, { query: '?authentication=notasignature' });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json[0].id, 'failure');
      r = await postSign(base, target.tz1.pkh, tx, { query: q(client.tz1.pkh) });
      assert.equal(r.status, 400, r.text);
      // a BLS signature in the generic `sig` form (96 bytes) is never accepted
      const sig = await authenticate(client.tz4, target.tz1.pkh, tx, { generic: true });
      r = await postSign(base, target.tz1.pkh, tx, { query: q(sig) });
      assert.ok(r.status === 400 || r.status === 403, `status ${r.status}: ${r.text}`);
    });

    await test('order: bad pkh and bad body are reported before authentication (§1.3 steps 1, 5, 6)', async () => {
      let r = await postSign(base, 'tz1notakey', tx);
      assert.equal(r.status, 400, r.text);
      r = await http(`${base}/keys/${target.tz1.pkh}`, { method: 'POST', body: '{"data":1}' });
      assert.equal(r.status, 400, r.text);
      r = await postSign(base, target.tz1.pkh, 'zz');
      assert.equal(r.status, 400, r.text);
      // authentication before the policy lookup (step 7 before 8)
      const unlisted = await T.makeKey('tz1', 'auth-unlisted');
      r = await postSign(base, unlisted.pkh, tx);
      assertErrorBody(r, 401, 'missing authentication signature field');
      const sig = await authenticate(client.tz1, unlisted.pkh, tx);
      assertErrorBody(await postSign(base, unlisted.pkh, tx, { query: q(sig) }), 403,
        `${unlisted.pkh} is not listed in config`);
    });

    await test('GET /keys needs no authentication', async () => {
      const r = await http(`${base}/keys/${target.tz1.pkh}`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.public_key, target.tz1.pk);
    });

    await test('GET /bls_prove_possession: client signs 0x04 0x01 || pkh (tz1 and tz4 clients)', async () => {
      assertErrorBody(await http(`${base}/bls_prove_possession/${target.tz4.pkh}`), 401,
        'missing authentication signature field');
      for (const kind of ['tz1', 'tz4']) {
        const sig = await authenticate(client[kind], target.tz4.pkh, '');
        const r = await http(`${base}/bls_prove_possession/${target.tz4.pkh}${q(sig)}`);
        assert.equal(r.status, 200, r.text);
        assert.ok(T.noblePopVerify(target.tz4.pk, r.json.bls_prove_possession), 'PoP verifies');
      }
    });

    await test('POST /login is not routed without server.jwt (404)', async () => {
      const r = await http(`${base}/login`, { method: 'POST', headers: { username: 'a', password: 'b' } });
      assert.equal(r.status, 404);
      assert.equal(r.text, '404 page not found\n');
    });

    await test('metrics: authentication_failure_total by status and client_ip; policy violation "authentication"', async () => {
      const r = await http(`${ubase}/metrics`);
      for (const status of ['400', '401', '403']) {
        const re = new RegExp(`^authentication_failure_total\\{status="${status}",auth_method="authentication",`
          + 'client_ip="127\\.0\\.0\\.1"\\} ([0-9.e+]+)$', 'm');
        const m = r.text.match(re);
        assert.ok(m && Number(m[1]) >= 1, `no authentication_failure_total sample for ${status}`);
      }
      assert.match(r.text, /^policy_violation_total\{violation_type="authentication",address="tz1[^"]+",operation_type="request"\} [1-9]/m);
    });
    await stopVigil(A.d);
  }

  // -------------------------------------------------------------------------------------------
  // 2. JWT
  const rotateAt = new Date(Date.now() + 6000);
  let J;
  try {
    J = await daemon(tmp, 'jwt', vaultKeys, {
      serverLines: ['  jwt:', '    users:',
        '      username1:', `        password: '${PASS1}'`, `        secret: '${SECRET1}'`, '        jwt_exp: 60',
        '      username2:', `        password: '${PASS2}'`, `        secret: '${SECRET2}'`,
        '      username3:', `        password: '${PASS2}x'`, `        secret: '${SECRET2}x'`,
        `        old_cred_exp: '${utcStamp(rotateAt)}'`,
        `        new_data: {password: '${PASS3_NEW}', secret: '${SECRET3_NEW}', jwt_exp: 5}`],
      tezos: {
        [target.tz1.pkh]: ['allow:', `  ${generic[0]}`, 'jwt_users: [username1]'],
        [target.tz2.pkh]: ['allow:', `  ${generic[0]}`],
      },
    });
  } catch (e) {
    await test('JWT daemon starts', () => { throw e; });
  }

  if (J) {
    const { base } = J;
    const tx = '03' + await T.forgeTransaction(target.tz1, 11);
    const tx2 = '03' + await T.forgeTransaction(target.tz2, 12);
    const login = (username, password) => http(`${base}/login`, { method: 'POST', headers: { username, password } });
    const bearer = (token, username) => ({ Authorization: `Bearer ${token}`, username });
    let tok1;
    let tok2;

    await test('POST /login -> 201 raw HS256 token {exp, user}, verified independently', async () => {
      const t0 = nowS();
      const r = await login('username1', PASS1);
      assert.equal(r.status, 201, r.text);
      tok1 = r.text;
      assert.equal(tok1.split('.').length, 3);
      const { header, claims } = decodeJwt(tok1);
      assert.deepEqual(header, { alg: 'HS256', typ: 'JWT' });
      assert.equal(claims.user, 'username1');
      assert.ok(claims.exp >= t0 + 3600 && claims.exp <= nowS() + 3600, `exp ${claims.exp}`);
      assert.equal(tok1, hsToken({ exp: claims.exp, user: 'username1' }, SECRET1), 'same bytes as node:crypto');
      const r2 = await login('username2', PASS2);
      assert.equal(r2.status, 201, r2.text);
      tok2 = r2.text;
    });

    await test('POST /login refusals: 401 Access denied / username and password required; GET /login 405', async () => {
      assertPlain(await login('username1', PASS2), 401, { exact: 'Access denied' });
      assertPlain(await login('nobody', PASS1), 401, { exact: 'Access denied' });
      assertPlain(await http(`${base}/login`, { method: 'POST', headers: { username: 'username1' } }), 401,
        { exact: 'username and password required' });
      assertPlain(await http(`${base}/login`, { method: 'POST', headers: { password: PASS1 } }), 401,
        { exact: 'username and password required' });
      const r = await http(`${base}/login`);
      assert.equal(r.status, 405);
    });

    await test('POST /keys without a token -> 401 token required (plain text)', async () => {
      const r = await postSign(base, target.tz1.pkh, tx);
      assertPlain(r, 401, { exact: 'token required' });
      assert.equal(r.headers.get('content-type'), 'text/plain; charset=utf-8');
      assertPlain(await postSign(base, target.tz1.pkh, tx, { headers: { Authorization: '', username: '' } }), 401,
        { exact: 'token required' });
    });

    await test('signed request with Bearer token -> 200, signature verifies', async () => {
      const r = await postSign(base, target.tz1.pkh, tx, { headers: bearer(tok1, 'username1') });
      assert.equal(r.status, 200, r.text);
      assert.ok(T.nobleVerify('tz1', target.tz1.pk, r.json.signature, T.unhex(tx)));
      const r2 = await postSign(base, target.tz2.pkh, tx2, { headers: bearer(tok2, 'username2') });
      assert.equal(r2.status, 200, r2.text);
    });

    await test('wrong user for the key -> 403 user `username2\' is not authorized to access <pkh>', async () => {
      const r = await postSign(base, target.tz1.pkh, tx, { headers: bearer(tok2, 'username2') });
      assertErrorBody(r, 403, `user \`username2' is not authorized to access ${target.tz1.pkh}`);
      // GET /keys applies jwt_users too (vigil deviation, §13 item 11)
      assertErrorBody(await http(`${base}/keys/${target.tz1.pkh}`, { headers: bearer(tok2, 'username2') }), 403,
        `user \`username2' is not authorized to access ${target.tz1.pkh}`);
      const ok = await http(`${base}/keys/${target.tz1.pkh}`, { headers: bearer(tok1, 'username1') });
      assert.equal(ok.status, 200, ok.text);
    });

    await test('impersonation: username2\'s token with username1 header -> 401 JWT: invalid token', async () => {
      assertPlain(await postSign(base, target.tz1.pkh, tx, { headers: bearer(tok2, 'username1') }), 401,
        { exact: 'token signature is invalid: signature is invalid' });
      // same secret, other user claim: the claim check catches it
      const forged = hsToken({ exp: nowS() + 600, user: 'username2' }, SECRET1);
      assertPlain(await postSign(base, target.tz1.pkh, tx, { headers: bearer(forged, 'username1') }), 401,
        { exact: 'JWT: invalid token' });
    });

    await test('expired token -> 401 token has invalid claims: token is expired', async () => {
      const expired = hsToken({ exp: nowS() - 5, user: 'username1' }, SECRET1);
      assertPlain(await postSign(base, target.tz1.pkh, tx, { headers: bearer(expired, 'username1') }), 401,
        { exact: 'token has invalid claims: token is expired' });
    });

    await test('alg none, tampered payload, HS512, missing username, Bearer without space', async () => {
      const none = `${b64u(JSON.stringify({ typ: 'JWT', alg: 'none' }))}.${b64u(JSON.stringify(
        { exp: 9999999999, user: 'username1' }))}.8x-WJhWP7IXiyeFYTaxNg6IlJrXB9_2xvgUS3O_3aeE`;
      assertPlain(await postSign(base, target.tz1.pkh, tx, { headers: bearer(none, 'username1') }), 401,
        { includes: "'none' signature type is not allowed" });
      const [h, , s] = tok1.split('.');
      const tampered = `${h}.${b64u(JSON.stringify({ exp: 9999999999, user: 'username1' }))}.${s}`;
      assertPlain(await postSign(base, target.tz1.pkh, tx, { headers: bearer(tampered, 'username1') }), 401,
        { includes: 'signature is invalid' });
      const hs512 = hsToken({ exp: nowS() + 600, user: 'username1' }, SECRET1, { alg: 'HS512' });
      const r = await postSign(base, target.tz1.pkh, tx, { headers: bearer(hs512, 'username1') });
      assert.equal(r.status, 200, r.text);
      assertPlain(await postSign(base, target.tz1.pkh, tx, { headers: { Authorization: `Bearer ${tok1}` } }), 401,
        { exact: 'JWT: user not found' });
      assertPlain(await postSign(base, target.tz1.pkh, tx,
        { headers: { Authorization: `Bearer${tok1}`, username: 'username1' } }), 401,
      { includes: 'looking for beginning of value' });
    });

    await test('GET /authorized_keys and GET /bls_prove_possession also need the token', async () => {
      assertPlain(await http(`${base}/authorized_keys`), 401, { exact: 'token required' });
      const r = await http(`${base}/authorized_keys`, { headers: bearer(tok1, 'username1') });
      assert.equal(r.status, 200);
      assert.equal(r.text, '{}\n');
      assertPlain(await http(`${base}/bls_prove_possession/${target.tz4.pkh}`), 401, { exact: 'token required' });
    });

    await test('rotation: both credential sets until old_cred_exp, then only the new one', async () => {
      const oldLogin = await login('username3', `${PASS2}x`);
      assert.equal(oldLogin.status, 201, oldLogin.text);
      const newLogin = await login('username3', PASS3_NEW);
      assert.equal(newLogin.status, 201, newLogin.text);
      assert.equal(newLogin.text, hsToken(decodeJwt(newLogin.text).claims, SECRET3_NEW), 'signed with the new secret');
      assert.ok(decodeJwt(newLogin.text).claims.exp <= nowS() + 5 * 60, 'new set\'s jwt_exp');
      for (const t of [oldLogin.text, newLogin.text]) {
        const r = await postSign(base, target.tz2.pkh, tx2, { headers: bearer(t, 'username3') });
        assert.equal(r.status, 200, r.text);
      }
      const wait = rotateAt.getTime() - Date.now() + 1500;
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
      assertPlain(await login('username3', `${PASS2}x`), 401, { exact: 'Access denied' });
      assert.equal((await login('username3', PASS3_NEW)).status, 201);
      assertPlain(await postSign(base, target.tz2.pkh, tx2, { headers: bearer(oldLogin.text, 'username3') }), 401,
        { includes: 'signature is invalid' });
      const r = await postSign(base, target.tz2.pkh, tx2, { headers: bearer(newLogin.text, 'username3') });
      assert.equal(r.status, 200, r.text);
    });

    await test('secrets never reach the log', async () => {
      const log = fs.readFileSync(path.join(J.dir, 'vigil.log'), 'utf8');
      for (const s of [PASS1, PASS2, SECRET1, SECRET2, PASS3_NEW, SECRET3_NEW, tok1]) {
        assert.ok(!log.includes(s), `log contains a secret (${s.slice(0, 4)}…)`);
      }
      assert.match(log, /rotated credentials for user username3/);
    });
    await stopVigil(J.d);
  }

  // -------------------------------------------------------------------------------------------
  // 3. Start-up refusals
  await test('both server.jwt and server.authorized_keys -> start-up error', async () => {
    const r = await startupFailure(tmp, 'both', vaultKeys, {
      serverLines: ['  authorized_keys: [' + client.tz1.pk + ']', '  jwt:', '    users:', '      u:',
        `        password: '${PASS1}'`, `        secret: '${SECRET1}'`],
      tezos: { [target.tz1.pkh]: [] },
    });
    assert.notEqual(r.status, 0);
    assert.match(r.log, /cannot use both JWT and static authorized keys/);
  });

  await test('weak JWT password -> start-up error with Signatory\'s message', async () => {
    const r = await startupFailure(tmp, 'weak', vaultKeys, {
      serverLines: ['  jwt:', '    users:', '      weak:', "        password: 'password1'",
        `        secret: '${SECRET1}'`],
      tezos: { [target.tz1.pkh]: [] },
    });
    assert.notEqual(r.status, 0);
    assert.match(r.log, /JWT: config validation failed for user weak: password should be at least 16 characters/);
    assert.ok(!r.log.includes('password1'), 'the password is not echoed');
  });

  const ok = summary();
  if (ok) fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(ok ? 0 : 1);
}

main().catch((e) => {
  console.log(`FAIL - unexpected error: ${e.stack || e}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
});

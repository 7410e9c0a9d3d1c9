// The KMS sealing path end to end on an ordinary machine (issue 6): vigil-enclave with `--seal kms`
// and a software NSM talks HTTPS (TLS inside the enclave, test CA) through `vigil proxy` to the KMS
// stand-in (kms_standin.mjs: SigV4, key policy with a PCR0 condition, attestation chain to the
// software NSM's dev CA, CMS CiphertextForRecipient). `vigil generate` makes keys inside the enclave,
// whose blobs are KMS CiphertextBlobs (Encrypt); `vigil serve` imports them with Decrypt + Recipient
// and signs; signatures verify with @noble/curves. Then the failure paths: a key policy demanding
// another PCR0, wrong credentials, a KMS certificate the enclave does not trust, and the credential
// refresh a second Initialize allows (vigil-enclave only; tee-signer refuses it).
//
// Env: VIGIL_BIN (vigil; vigil-enclave is expected next to it).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test, assert, skip, runMain } from './lib/harness.mjs';
import { vigilBin, mkTemp, freePort, startVigil, stopVigil, http, postSign } from './lib/vigil.mjs';
import * as T from './lib/tezos.mjs';
import { KmsStandIn, makeTestTls } from './kms_standin.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const enclaveBin = path.join(path.dirname(vigilBin()), 'vigil-enclave');
const REGION = 'us-east-1';
const KMS_HOST = `kms.${REGION}.amazonaws.com`;
const CREDS = { accessKeyId: 'AKIDVIGILKMSIT', secretAccessKey: 'kms-integration/secret+only=for-tests', sessionToken: 'c2Vzc2lvbi10b2tlbi0x' };
const ZERO_PCR = '0'.repeat(96);
const KEY_ID = '6f0a3c1e-1111-4222-8333-944455556666';

const children = [];

function spawnLogged(bin, args, name) {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const p = { child, name, log: '', exited: null };
  const add = (b) => { p.log += b.toString(); };
  child.stdout.on('data', add);
  child.stderr.on('data', add);
  child.on('exit', (code, sig) => { p.exited = { code, sig }; });
  children.push(p);
  return p;
}

async function waitFor(pred, what, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function stopChild(p) {
  if (!p || p.exited) return;
  p.child.kill('SIGTERM');
  for (let i = 0; i < 100 && !p.exited; i++) await sleep(20);
  if (!p.exited) p.child.kill('SIGKILL');
}

async function startEnclave(sock, { nsmDir, proxyPort, caFile, host = KMS_HOST }) {
  const args = ['--listen', `unix:${sock}`, '--seal', 'kms', '--soft-nsm-dir', nsmDir,
    '--kms-proxy', `tcp://127.0.0.1:${proxyPort}`, '--kms-endpoint-host', host, '--kms-timeout', '5000', '--log', 'info'];
  if (caFile) args.push('--kms-ca-file', caFile);
  const e = spawnLogged(enclaveBin, args, 'vigil-enclave');
  await waitFor(() => e.exited || fs.existsSync(sock), 'the enclave socket');
  if (e.exited) throw new Error(`vigil-enclave exited: ${e.log}`);
  return e;
}

function writeConfig(file, { baseDir, port, uport, sock, creds = CREDS, keyId = KEY_ID, policies = [] }) {
  const q = (s) => JSON.stringify(s);
  const lines = [`base_dir: ${baseDir}`, 'server:', `  address: "127.0.0.1:${port}"`,
    `  utility_address: "127.0.0.1:${uport}"`, 'vaults:', '  enclave:', '    driver: nitro', '    config:',
    `      address: unix:${sock}`, `      encryption_key_id: ${q(keyId)}`, '      credentials:',
    `        access_key_id: ${q(creds.accessKeyId)}`, `        secret_access_key: ${q(creds.secretAccessKey)}`,
    `        session_token: ${q(creds.sessionToken)}`, `        region: ${REGION}`, 'tezos:'];
  for (const pkh of policies) {
    lines.push(`  ${pkh}:`, `    allow_proof_of_possession: ${pkh.startsWith('tz4')}`, '    allow:',
      '      generic: [transaction, failing_noop]');
  }
  lines.push('watermark:', '  driver: file', '');
  fs.writeFileSync(file, lines.join('\n'));
}

// Runs a command without blocking the event loop (the KMS stand-in lives in this process).
function run(bin, args, { input = '', timeoutMs = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (b) => { stdout += b; });
    child.stderr.on('data', (b) => { stderr += b; });
    child.on('error', reject);
    child.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
    child.stdin.end(input);
  });
}

// `vigil rpc` over one connection; requests as JSON lines on stdin (secrets never on argv).
async function rpc(sock, requests) {
  const r = await run(vigilBin(), ['rpc', '--address', `unix:${sock}`], { input: requests.map((x) => JSON.stringify(x)).join('\n') + '\n' });
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

const initReq = (c, keyId = KEY_ID) => ({ Initialize: { access_key_id: c.accessKeyId, secret_access_key: c.secretAccessKey,
  session_token: c.sessionToken ?? null, encryption_key_id: keyId, region: REGION } });

// Every file under dir (recursively) as one buffer per file.
function filesUnder(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p)); else if (e.isFile()) out.push([p, fs.readFileSync(p)]);
  }
  return out;
}

async function main() {
  if (!fs.existsSync(enclaveBin)) skip(`vigil-enclave not built at ${enclaveBin}`);
  const probe = await run(vigilBin(), ['proxy', '--help']);
  if (probe.status !== 0) skip('`vigil proxy` is not dispatched in this build (src/cli/main.c)');
  const dir = mkTemp('vigil-nitro-kms-');
  const nsmDir = path.join(dir, 'nsm');
  const baseDir = path.join(dir, 'base');
  fs.mkdirSync(baseDir, { mode: 0o700 });
  const sock = path.join(dir, 'enclave.sock');
  const cfg = path.join(dir, 'vigil.yaml');
  const caFile = path.join(dir, 'kms-ca.pem');
  const [port, uport, proxyPort] = [await freePort(), await freePort(), await freePort()];
  const base = `http://127.0.0.1:${port}`;
  let daemon = null;
  let kms = null;
  const keys = [];
  try {
    // the software NSM's dev CA = the stand-in's attestation root
    const made = await run(vigilBin(), ['attest', 'soft-nsm', '--dir', nsmDir, '--out', path.join(dir, 'probe.cose')]);
    assert.equal(made.status, 0, made.stderr);
    const tls = makeTestTls([KMS_HOST]);
    fs.writeFileSync(caFile, tls.caPem);
    kms = new KmsStandIn({ region: REGION, credentials: [CREDS], rootPem: fs.readFileSync(path.join(nsmDir, 'root.pem')),
      keys: [{ id: KEY_ID, policy: { requireRecipientFor: ['Decrypt'], pcrs: { 0: [ZERO_PCR] } } }] });
    const kmsUrl = await kms.listen(0, '127.0.0.1', { tls }); // https://127.0.0.1:PORT
    const kmsPort = new URL(kmsUrl).port;
    const proxy = spawnLogged(vigilBin(), ['proxy', '--listen', `tcp://127.0.0.1:${proxyPort}`, '--remote',
      `127.0.0.1:${kmsPort}`, '--idle-timeout', '10', '--log', 'info'], 'vigil proxy');
    await waitFor(() => proxy.exited || /listening on/.test(proxy.log), 'the proxy');
    assert.equal(proxy.exited, null, proxy.log);
    const enclave = await startEnclave(sock, { nsmDir, proxyPort, caFile });
    writeConfig(cfg, { baseDir, port, uport, sock });

    await test('vigil generate: 4 key types made in the enclave, sealed by KMS Encrypt through the proxy over TLS', async () => {
      for (const t of ['tz1', 'tz2', 'tz3', 'tz4']) {
        const r = await run(vigilBin(), ['generate', '-c', cfg, '-v', 'enclave', '-t', t, '--log', 'warn']);
        assert.equal(r.status, 0, r.stderr);
        const out = r.stdout;
        const pkh = /Public Key Hash:\s+(tz[1-4]\w+)/.exec(out)?.[1];
        const pk = /Public Key:\s+(\w+)/.exec(out)?.[1];
        assert.ok(pkh && pkh.startsWith(t) && pk, out);
        keys.push({ pkh, pk, kind: t });
      }
      const enc = kms.calls.filter((c) => c.target === 'TrentService.Encrypt');
      assert.equal(enc.length, 4, JSON.stringify(kms.calls));
      assert.ok(enc.every((c) => c.ok));
      assert.match(proxy.log, /stream \d+: .* -> 127\.0\.0\.1/);
    });

    await test('enclave_keys.json holds KMS CiphertextBlobs (tee-signer format), openable only with attestation', async () => {
      const stored = JSON.parse(fs.readFileSync(path.join(baseDir, 'enclave_keys.json'), 'utf8'));
      assert.deepEqual(stored.map((e) => e.public_key_hash), keys.map((k) => k.pkh));
      for (const e of stored) {
        const blob = Buffer.from(e.encrypted_private_key, 'base64');
        assert.equal(kms.blobKey(blob).id, KEY_ID, 'not a CiphertextBlob of the stand-in key'); // throws otherwise
        // the key policy: plain Decrypt (no Recipient) is refused, whoever asks
        assert.throws(() => kms.op('TrentService.Decrypt', { CiphertextBlob: e.encrypted_private_key }),
          (x) => x.type === 'AccessDeniedException');
      }
      const leaks = filesUnder(baseDir).filter(([, b]) => /(edsk|spsk|p2sk|BLsk)[1-9A-HJ-NP-Za-km-z]{20}/.test(b.toString('latin1')));
      assert.deepEqual(leaks.map(([p]) => p), [], 'a plaintext secret key on disk');
    });

    writeConfig(cfg, { baseDir, port, uport, sock, policies: keys.map((k) => k.pkh) });
    const before = kms.calls.length;
    daemon = await startVigil(['-c', cfg], { uport });

    await test('vigil serve imports every blob with Decrypt + Recipient (attestation over the enclave RSA key)', async () => {
      const dec = kms.calls.slice(before).filter((c) => c.target === 'TrentService.Decrypt');
      assert.equal(dec.length, 4, JSON.stringify(kms.calls.slice(before)));
      assert.ok(dec.every((c) => c.ok && c.recipient), 'Decrypt without the Recipient path');
    });

    for (const [i, t] of ['tz1', 'tz2', 'tz3', 'tz4'].entries()) {
      await test(`${t}: a signature through the enclave verifies with noble`, async () => {
        const k = keys[i];
        const r = await http(`${base}/keys/${k.pkh}`);
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.public_key, k.pk);
        const msg = T.concat(T.WM_GENERIC, T.unhex(await T.forgeFailingNoop(`kms ${k.kind}`)));
        const s = await postSign(base, k.pkh, T.hex(msg));
        assert.equal(s.status, 200, s.text);
        assert.ok(T.nobleVerify(k.kind, k.pk, s.json.signature, msg), 'signature does not verify');
      });
    }

    await test('tz4: proof of possession from a KMS-unsealed key verifies', async () => {
      const r = await http(`${base}/bls_prove_possession/${keys[3].pkh}`);
      assert.equal(r.status, 200, r.text);
      assert.ok(T.noblePopVerify(keys[3].pk, r.json.bls_prove_possession));
    });
    await stopVigil(daemon);
    daemon = null;

    const blob0 = Buffer.from(JSON.parse(fs.readFileSync(path.join(baseDir, 'enclave_keys.json'), 'utf8'))[0].encrypted_private_key, 'base64').toString('hex');
    const pk0 = T.hex(T.decodePk('tz1', keys[0].pk));

    await test('credential refresh: a second Initialize with new credentials (same key id) keeps the session working', async () => {
      const fresh = { accessKeyId: 'AKIDVIGILKMSROTATED', secretAccessKey: 'rotated/secret+2', sessionToken: 'dG9rZW4tMg==' };
      const saved = kms.creds;
      try {
        const out = await rpc(sock, [initReq(CREDS), { Import: blob0 }]);
        assert.deepEqual(out[0], { Ok: null });
        assert.equal(out[1].Ok.public_key.Ed25519, pk0);
        // the old credentials expire (the stand-in stops knowing them), the new ones are valid
        kms.creds = new Map([[fresh.accessKeyId, fresh]]);
        const out2 = await rpc(sock, [initReq(CREDS), { Import: blob0 }, initReq(fresh), { Import: blob0 },
          initReq(fresh, 'alias/another-key')]);
        assert.deepEqual(out2[0], { Ok: null }); // Initialize makes no KMS call
        assert.equal(out2[1].Err.message, 'encryption error');
        assert.match(out2[1].Err.source.message, /UnrecognizedClientException/);
        assert.deepEqual(out2[2], { Ok: null }, 'refresh refused');
        assert.equal(out2[3].Ok.public_key.Ed25519, pk0);
        assert.equal(out2[3].Ok.handle, 0);
        assert.equal(out2[4].Err.message, 'already initialized');
        assert.match(out2[4].Err.source.message, /encryption_key_id/);
      } finally {
        kms.creds = saved;
      }
    });

    await test('key policy demanding another PCR0: vigil serve refuses to start with the KMS AccessDenied message', async () => {
      const key = kms.keys.get(KEY_ID);
      const saved = key.policy.pcrs;
      key.policy.pcrs = { 0: ['ab'.repeat(48)] };
      try {
        await assert.rejects(startVigil(['-c', cfg], { uport, timeoutMs: 15000 }), (e) => {
          assert.match(e.message, /exited early \(code [1-9]/);
          assert.match(e.message, /AccessDeniedException/);
          assert.match(e.message, /not authorized to perform: kms:Decrypt/);
          return true;
        });
      } finally {
        key.policy.pcrs = saved;
      }
    });

    await test('wrong credentials: vigil serve refuses to start with the KMS signature error', async () => {
      const bad = path.join(dir, 'bad.yaml');
      writeConfig(bad, { baseDir, port, uport, sock, creds: { ...CREDS, secretAccessKey: 'not-the-secret' }, policies: keys.map((k) => k.pkh) });
      await assert.rejects(startVigil(['-c', bad], { uport, timeoutMs: 15000 }), (e) => {
        assert.match(e.message, /exited early \(code [1-9]/);
        assert.match(e.message, /InvalidSignatureException/);
        return true;
      });
    });

    await test('TLS: the enclave trusts neither the test CA by default nor a certificate for another name', async () => {
      const sock2 = path.join(dir, 'enclave2.sock');
      const sock3 = path.join(dir, 'enclave3.sock');
      const e2 = await startEnclave(sock2, { nsmDir, proxyPort }); // embedded Amazon roots
      const e3 = await startEnclave(sock3, { nsmDir, proxyPort, caFile, host: 'kms.eu-west-1.amazonaws.com' });
      try {
        const n = kms.calls.length;
        const a = await rpc(sock2, [initReq(CREDS), { Generate: 'Ed25519' }]);
        assert.match(a[1].Err.source.message, /certificate rejected: unable to get local issuer certificate/);
        const b = await rpc(sock3, [{ Initialize: { ...initReq(CREDS).Initialize } }, { Generate: 'Ed25519' }]);
        assert.match(b[1].Err.source.message, /certificate rejected: hostname mismatch/);
        assert.equal(kms.calls.length, n, 'a request reached KMS over an untrusted TLS session');
      } finally {
        await stopChild(e2);
        await stopChild(e3);
      }
    });

    await test('proxy unreachable: Generate fails after the transport retries, with the cause', async () => {
      const sock4 = path.join(dir, 'enclave4.sock');
      const e4 = await startEnclave(sock4, { nsmDir, proxyPort: await freePort(), caFile });
      try {
        const t1 = Date.now();
        const out = await rpc(sock4, [initReq(CREDS), { Generate: 'Ed25519' }]);
        assert.match(out[1].Err.source.message, /KMS proxy: .*connect tcp:\/\/127\.0\.0\.1:\d+: Connection refused/);
        assert.ok(Date.now() - t1 >= 900, 'no retry pauses (200 ms + 800 ms)');
        assert.match(e4.log, /attempt 2\/3 failed, retrying/);
      } finally {
        await stopChild(e4);
      }
    });

    await test('vigil serve starts again and signs after all that (blobs unchanged)', async () => {
      daemon = await startVigil(['-c', cfg], { uport });
      const msg = T.concat(T.WM_GENERIC, T.unhex(await T.forgeFailingNoop('kms again')));
      const s = await postSign(base, keys[1].pkh, T.hex(msg));
      assert.equal(s.status, 200, s.text);
      assert.ok(T.nobleVerify('tz2', keys[1].pk, s.json.signature, msg));
      for (const p of [enclave, proxy, daemon]) assert.ok(!p.log.includes(CREDS.secretAccessKey), 'secret in a log');
      for (const p of [...children, daemon]) assert.doesNotMatch(p.log, /AddressSanitizer|runtime error:/, `${p.name || 'vigil'} log`);
    });
    await test('proxy_remote_address: vigil serve runs the KMS proxy itself (no separate vigil proxy)', async () => {
      await stopVigil(daemon);
      await stopChild(proxy); // the enclave's --kms-proxy port is now free for the daemon's own proxy
      const withProxy = `${cfg}.proxy.yaml`;
      writeConfig(withProxy, { baseDir, port, uport, sock, policies: keys.map((k) => k.pkh) });
      const text = fs.readFileSync(withProxy, 'utf8').replace('      address: unix:',
        `      proxy_remote_address: "127.0.0.1:${kmsPort}"\n      proxy_listen: "tcp://127.0.0.1:${proxyPort}"\n      address: unix:`);
      fs.writeFileSync(withProxy, text);
      const before2 = kms.calls.length;
      daemon = await startVigil(['-c', withProxy], { uport });
      const dec = kms.calls.slice(before2).filter((c) => c.target === 'TrentService.Decrypt' && c.ok && c.recipient);
      assert.equal(dec.length, 4, 'imports did not reach KMS through the built-in proxy');
      assert.match(daemon.log, /proxy: listening on tcp:\/\/127\.0\.0\.1:\d+, forwarding to 127\.0\.0\.1:\d+ only/);
      const msg = T.concat(T.WM_GENERIC, T.unhex(await T.forgeFailingNoop('built-in proxy')));
      const r = await postSign(base, keys[3].pkh, T.hex(msg));
      assert.equal(r.status, 200, r.text);
      assert.ok(T.nobleVerify('tz4', keys[3].pk, r.json.signature, msg));
    });
  } finally {
    await stopVigil(daemon);
    for (const c of children) await stopChild(c);
    if (kms) await kms.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await runMain(main, { timed: true });

// The nitro vault end to end on an ordinary machine: `vigil-enclave` in dev mode (Unix socket,
// local AES-GCM sealing) holds the keys; `vigil generate` asks it for new keys and stores only the
// sealed blobs; `vigil serve` imports them and signs through the enclave RPC. Checks that the
// host never stores plain keys, that signatures verify independently (@noble/curves), and that a
// restarted enclave is reconnected (503 meanwhile, then signing again with re-imported keys).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test, assert, skip, runMain } from './lib/harness.mjs';
import { vigilBin, mkTemp, freePort, startVigil, stopVigil, http, postSign } from './lib/vigil.mjs';
import * as T from './lib/tezos.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const enclaveBin = path.join(path.dirname(vigilBin()), 'vigil-enclave'); // built next to vigil

function startEnclave(sock, sealKey) {
  const child = spawn(enclaveBin, ['--listen', `unix:${sock}`, '--dev-seal-key', sealKey, '--log', 'warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  const e = { child, log: '', exited: false };
  child.stderr.on('data', (b) => { e.log += b.toString(); });
  child.on('exit', () => { e.exited = true; });
  return e;
}

async function waitFor(file) {
  for (let i = 0; i < 100; i++) { if (fs.existsSync(file)) return; await sleep(50); }
  throw new Error(`${file} never appeared`);
}

async function killEnclave(e) {
  e.child.kill('SIGKILL');
  for (let i = 0; i < 100 && !e.exited; i++) await sleep(20);
}

function writeConfig(file, { baseDir, port, uport, sock, policies }) {
  const lines = [`base_dir: ${baseDir}`, 'server:', `  address: "127.0.0.1:${port}"`,
    `  utility_address: "127.0.0.1:${uport}"`, 'vaults:', '  enclave:', '    driver: nitro', '    config:',
    `      address: unix:${sock}`, 'tezos:'];
  for (const pkh of policies) {
    lines.push(`  ${pkh}:`, '    allow_proof_of_possession: ' + (pkh.startsWith('tz4') ? 'true' : 'false'),
      '    allow:', '      block: []', '      attestation: []', '      generic: [transaction, failing_noop]');
  }
  lines.push('watermark:', '  driver: file', '');
  fs.writeFileSync(file, lines.join('\n'));
}

async function main() {
  if (!fs.existsSync(enclaveBin)) skip(`vigil-enclave not built at ${enclaveBin}`);
  const dir = mkTemp('vigil-nitro-');
  const sock = path.join(dir, 'enclave.sock');
  const sealKey = path.join(dir, 'seal.key');
  const baseDir = path.join(dir, 'base');
  fs.mkdirSync(baseDir, { mode: 0o700 });
  const cfg = path.join(dir, 'vigil.yaml');
  const [port, uport] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${port}`;
  let enclave = startEnclave(sock, sealKey);
  let daemon = null;
  const keys = [];
  let imported = null;
  try {
    await waitFor(sock);
    writeConfig(cfg, { baseDir, port, uport, sock, policies: [] });

    await test('vigil generate -v enclave creates one key of each type inside the enclave', async () => {
      for (const t of ['tz1', 'tz2', 'tz3', 'tz4']) {
        const out = execFileSync(vigilBin(), ['generate', '-c', cfg, '-v', 'enclave', '-t', t, '--log', 'warn'],
          { encoding: 'utf8' });
        const pkh = /Public Key Hash:\s+(tz[1-4]\w+)/.exec(out)?.[1];
        const pk = /Public Key:\s+(\w+)/.exec(out)?.[1];
        assert.ok(pkh && pkh.startsWith(t), out);
        const hash = T.blake2b256 && (await import('@noble/hashes/blake2.js')).blake2b(T.decodePk(t, pk), { dkLen: 20 });
        const prefix = { tz1: T.PrefixV2.Ed25519PublicKeyHash, tz2: T.PrefixV2.Secp256k1PublicKeyHash,
          tz3: T.PrefixV2.P256PublicKeyHash, tz4: T.PrefixV2.BLS12_381PublicKeyHash }[t];
        assert.equal(T.b58Encode(hash, prefix), pkh, 'pkh is not blake2b-160 of the public key');
        keys.push({ pkh, pk, kind: t });
      }
    });

    await test('enclave_keys.json holds only pkhs and sealed blobs (Signatory format, 0600)', async () => {
      const file = path.join(baseDir, 'enclave_keys.json');
      const st = fs.statSync(file);
      assert.equal(st.mode & 0o777, 0o600);
      const stored = JSON.parse(fs.readFileSync(file, 'utf8'));
      assert.equal(stored.length, 4);
      for (const [i, e] of stored.entries()) {
        assert.deepEqual(Object.keys(e).sort(), ['encrypted_private_key', 'public_key_hash']);
        assert.equal(e.public_key_hash, keys[i].pkh);
        // AES-256-GCM sealing: nonce + tag + ciphertext, well above a bare 32-byte secret.
        assert.ok(Buffer.from(e.encrypted_private_key, 'base64').length > 45, 'blob too short to be sealed');
      }
    });

    await test('vigil import -v enclave (PEM on stdin) seals a known key inside the enclave', async () => {
      const vectors = process.env.VIGIL_SHARED && path.join(process.env.VIGIL_SHARED, 'vectors/signatory/keys.json');
      if (!vectors || !fs.existsSync(vectors)) skip('needs ../shared vectors');
      const pem = JSON.parse(fs.readFileSync(vectors, 'utf8')).pkcs8_pem.find((p) => p.tezos_pkh.startsWith('tz2'));
      const out = execFileSync(vigilBin(), ['import', '-c', cfg, '-v', 'enclave', '--log', 'warn'],
        { input: pem.private_pem, encoding: 'utf8' });
      assert.match(out, new RegExp(`Public Key Hash:\\s+${pem.tezos_pkh}`));
      imported = pem;
    });

    await test('no plaintext secret key on disk: base_dir holds no edsk/spsk/p2sk/BLsk nor raw key bytes', async () => {
      const files = fs.readdirSync(baseDir, { recursive: true }).map((f) => path.join(baseDir, String(f)))
        .filter((f) => fs.statSync(f).isFile());
      assert.ok(files.length > 0);
      const secretRaw = imported ? Buffer.from(T.b58DecodeAndCheckPrefix(imported.tezos_secret_key,
        [T.PrefixV2.Secp256k1SecretKey])[0]) : null;
      for (const f of files) {
        const data = fs.readFileSync(f);
        const text = data.toString('latin1');
        assert.ok(!/(edsk|spsk|p2sk|BLsk)[1-9A-HJ-NP-Za-km-z]{40,}/.test(text), `${f} holds a base58 secret key`);
        if (secretRaw) {
          assert.equal(data.indexOf(secretRaw), -1, `${f} holds the imported secret's raw bytes`);
          const b64 = Buffer.from(text.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
          assert.equal(b64.indexOf(secretRaw), -1, `${f} holds the raw secret in base64`);
        }
      }
    });

    await test('vigil pop prints a proof of possession made in the enclave', async () => {
      const tz4k = keys.find((k) => k.kind === 'tz4');
      const out = execFileSync(vigilBin(), ['pop', '-c', cfg, tz4k.pkh, '--log', 'warn'], { encoding: 'utf8' }).trim();
      assert.ok(T.noblePopVerify(tz4k.pk, out), `bad PoP ${out}`);
    });

    writeConfig(cfg, { baseDir, port, uport, sock, policies: keys.map((k) => k.pkh) });
    daemon = await startVigil(['-c', cfg], { uport });

    for (const k of keys) {
      await test(`${k.kind}: GET /keys and a signature through the enclave verify independently`, async () => {
        const r = await http(`${base}/keys/${k.pkh}`);
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.public_key, k.pk);
        const msg = T.concat(T.WM_GENERIC, T.unhex(await T.forgeFailingNoop(`nitro ${k.kind}`)));
        const s = await postSign(base, k.pkh, T.hex(msg));
        assert.equal(s.status, 200, s.text);
        assert.ok(T.nobleVerify(k.kind, k.pk, s.json.signature, msg), 'signature does not verify');
      });
    }

    const tz4 = keys[3];
    await test('tz4: proof of possession from the enclave verifies', async () => {
      const r = await http(`${base}/bls_prove_possession/${tz4.pkh}`);
      assert.equal(r.status, 200, r.text);
      assert.ok(T.noblePopVerify(tz4.pk, r.json.bls_prove_possession), 'PoP does not verify');
    });

    await test('tz1: watermark applies to enclave keys (conflicting attestation -> 409)', async () => {
      const a = T.concat(T.wmAttestation(), T.unhex(await T.forgeAttestation(900, 0, 'nitro-a')));
      const b = T.concat(T.wmAttestation(), T.unhex(await T.forgeAttestation(900, 0, 'nitro-b')));
      assert.equal((await postSign(base, keys[0].pkh, T.hex(a))).status, 200);
      assert.equal((await postSign(base, keys[0].pkh, T.hex(b))).status, 409);
    });

    await test('enclave killed: requests fail fast with 503 (never 404), /healthz 503, vault_ready 0', async () => {
      await killEnclave(enclave);
      const msg = T.concat(T.WM_GENERIC, T.unhex(await T.forgeFailingNoop('while down')));
      const t0 = Date.now();
      const r1 = await postSign(base, keys[0].pkh, T.hex(msg));
      const r2 = await postSign(base, keys[0].pkh, T.hex(msg));
      assert.equal(r1.status, 503, r1.text);
      assert.equal(r2.status, 503, r2.text);
      assert.ok(Date.now() - t0 < 5000, 'did not fail fast');
      assert.match(r2.text, /enclave/);
      const h = await http(`http://127.0.0.1:${uport}/healthz`);
      assert.equal(h.status, 503, h.text);
      assert.equal(h.text, '{"ready":false}\n');
      const m = await http(`http://127.0.0.1:${uport}/metrics`);
      assert.match(m.text, /vault_ready\{vault="NitroEnclave",name="enclave"\} 0/);
    });

    await test('enclave restarted: vigil reconnects, re-imports and signs again with the same keys', async () => {
      fs.rmSync(sock, { force: true });
      enclave = startEnclave(sock, sealKey);
      await waitFor(sock);
      const msg = T.concat(T.WM_GENERIC, T.unhex(await T.forgeFailingNoop('after restart')));
      let r;
      for (let i = 0; i < 80; i++) { // backoff is at most a few seconds here
        r = await postSign(base, keys[1].pkh, T.hex(msg));
        if (r.status === 200) break;
        await sleep(100);
      }
      assert.equal(r.status, 200, r.text);
      assert.ok(T.nobleVerify('tz2', keys[1].pk, r.json.signature, msg));
      const h = await http(`http://127.0.0.1:${uport}/healthz`);
      assert.equal(h.status, 200, h.text);
      const m = await http(`http://127.0.0.1:${uport}/metrics`);
      assert.match(m.text, /vault_ready\{vault="NitroEnclave",name="enclave"\} 1/);
    });

    await test('vigil restarted: keys are imported again from enclave_keys.json', async () => {
      await stopVigil(daemon);
      daemon = await startVigil(['-c', cfg], { uport });
      for (const k of keys) {
        const r = await http(`${base}/keys/${k.pkh}`);
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.public_key, k.pk);
      }
    });
  } finally {
    await stopVigil(daemon);
    await killEnclave(enclave);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await runMain(main);

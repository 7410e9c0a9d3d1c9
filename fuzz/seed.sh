#!/usr/bin/env bash
# Builds the seed corpora of the fuzz targets from the shared test vectors, into OUT/<target>/
# (a build directory: seeds are derived at build time and never committed to the repository).
#   usage: fuzz/seed.sh OUT [SHARED]     SHARED defaults to $VIGIL_SHARED, then ../shared
# Needs node (installed by scripts/setup) and, for the extra CMS seeds, the openssl CLI.
# Without the vectors every target still gets a few hand-written seeds, so fuzzing works from a
# plain clone (it just starts shallower).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:?usage: fuzz/seed.sh OUT [SHARED]}
SHARED=${2:-${VIGIL_SHARED:-$ROOT/../shared}}
VEC="$SHARED/vectors"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

node --input-type=module - "$VEC" "$OUT" <<'EOF'
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

const [VEC, OUT] = process.argv.slice(2);
const have = fs.existsSync(VEC);
const counts = {};

function put(target, data) {
  const dir = path.join(OUT, target);
  fs.mkdirSync(dir, { recursive: true });
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const name = crypto.createHash('sha1').update(buf).digest('hex');
  fs.writeFileSync(path.join(dir, name), buf);
  counts[target] = (counts[target] || 0) + 1;
}
const readJson = (rel) => {
  const p = path.join(VEC, rel);
  return fs.existsSync(p) ? JSON.parse(fs.readFileSync(p, 'utf8')) : null;
};
const files = (rel, re) => {
  const d = path.join(VEC, rel);
  if (!fs.existsSync(d)) return [];
  const out = [];
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) out.push(...files(path.join(rel, e.name), re));
    else if (re.test(e.name)) out.push(p);
  }
  return out.sort();
};
// Every string anywhere in a JSON value.
function strings(v, acc = []) {
  if (typeof v === 'string') acc.push(v);
  else if (Array.isArray(v)) v.forEach((x) => strings(x, acc));
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => strings(x, acc));
  return acc;
}
const isHex = (s) => typeof s === 'string' && s.length >= 2 && s.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(s);
const B58 = /^[1-9A-HJ-NP-Za-km-z]{20,200}$/;

// ---- Tezos sign requests: fuzz_request (raw bytes), fuzz_http_body (flag byte + JSON string) ----
const requestHex = new Set();
if (have) {
  const sr = readJson('signatory/sign_requests.json');
  if (sr) for (const r of sr.requests) requestHex.add(r.hex);
  const pc = readJson('signatory/policy_cases.json');
  if (pc) {
    for (const c of pc.sign_policy_cases || []) if (isHex(c.message_hex)) requestHex.add(c.message_hex);
    for (const c of pc.allowed_chains_cases || []) if (isHex(c.message)) requestHex.add(c.message);
  }
  const ds = readJson('signatory/derived_signatures.json');
  if (ds) for (const s of strings(ds)) if (isHex(s) && s.length >= 10 && /^0[0-9]|^1[1-3]|^80/.test(s)) requestHex.add(s);
  const hc = readJson('signatory/http_cases.json');
  if (hc) {
    for (const c of hc.sign_handler || []) {
      if (typeof c.body === 'string') put('fuzz_http_body', Buffer.concat([Buffer.from([0]), Buffer.from(c.body)]));
      try { const h = JSON.parse(c.body); if (isHex(h)) requestHex.add(h); } catch { /* not JSON */ }
    }
  }
}
// Hand-written fallbacks: a failing_noop generic request and a tag-21 attestation.
requestHex.add('03' + '00'.repeat(32) + '11' + '00000005' + '68656c6c6f');
requestHex.add('13' + '7a06a770' + '00'.repeat(32) + '15' + '0001' + '00000064' + '00000000' + 'aa'.repeat(32));
let i = 0;
for (const h of requestHex) {
  put('fuzz_request', Buffer.from(h, 'hex'));
  put('fuzz_http_body', Buffer.concat([Buffer.from([i++ & 15]), Buffer.from(JSON.stringify(h))]));
}
put('fuzz_http_body', Buffer.from('\x00"03ZZ"'));
put('fuzz_http_body', Buffer.from('\x00{"data":1}'));

// ---- enclave RPC frames and CBOR bodies: fuzz_rpc_frame ----
for (const f of [...files('enclave-rpc', /\.(frame|cbor)$/), ...files('nitro-rpc', /\.bin$/)]) put('fuzz_rpc_frame', fs.readFileSync(f));
put('fuzz_rpc_frame', Buffer.from([0, 0, 0, 1, 0xa0]));

// ---- YAML configuration: fuzz_config ----
if (have) {
  const cc = readJson('signatory/config_cases.json');
  if (cc) for (const c of cc.cases) if (typeof c.yaml === 'string') put('fuzz_config', c.yaml);
  for (const f of files('signatory/config_examples', /\.ya?ml$/)) put('fuzz_config', fs.readFileSync(f));
}
put('fuzz_config', [
  'base_dir: /tmp/x', 'server:', '  address: ":${PORT}"', '  authorized_keys: [edpkv45regue1bWtuHnCgLU8xWKLwa9qRqv4gimgJKro4LSc3C5VjV]',
  'vaults:', '  local:', '    driver: file', '    config: {file: /tmp/x/keys.json}',
  'tezos:', '  tz1LggX2HUdvJ1tF4Fvv8fjsrzLeW4Jr9t2Q:', '    allow:', '      generic: [transaction, "ballot:yay"]', '      block:',
  '    allowed_chains: [NetXdQprcVkpaWU]', '  $FUZZ_VAR:', 'watermark:', '  driver: mem', 'x: &a [*a]', '',
].join('\n'));

// ---- base58 strings: fuzz_base58 ----
const b58 = new Set(['tz1LggX2HUdvJ1tF4Fvv8fjsrzLeW4Jr9t2Q', 'edpkv45regue1bWtuHnCgLU8xWKLwa9qRqv4gimgJKro4LSc3C5VjV',
  'edsk4FTF78Qf1m2rykGpHqostAiq5gYW4YZEoGUSWBTJr2njsDHSnd', 'NetXdQprcVkpaWU']);
if (have) {
  for (const rel of ['signatory/keys.json', 'signatory/derived_signatures.json', 'signatory/watermark_cases.json',
    'tezos/key_encoding_vectors.json', 'tezos/signatures_taquito.json', 'enclave-rpc/keys.json']) {
    const j = readJson(rel);
    if (j) for (const s of strings(j)) for (const w of s.split(/[^1-9A-HJ-NP-Za-km-z]+/)) if (B58.test(w) && !/^[0-9a-fA-F]+$/.test(w)) b58.add(w);
  }
}
// At most 20 per 3-character prefix: key_encoding_vectors.json alone has thousands of pkhs.
const perPrefix = {};
for (const s of b58) if ((perPrefix[s.slice(0, 3)] = (perPrefix[s.slice(0, 3)] || 0) + 1) <= 20) put('fuzz_base58', s);

// ---- file vault secret files: fuzz_file_vault ----
const secrets = [...b58].filter((s) => /^(edsk|spsk|p2sk|BLsk)/.test(s));
if (have) {
  const p = path.join(VEC, 'signatory/integration_test/signatory-local-secret.json');
  if (fs.existsSync(p)) put('fuzz_file_vault', fs.readFileSync(p));
}
for (let k = 0; k < secrets.length; k += 4) {
  put('fuzz_file_vault', JSON.stringify(secrets.slice(k, k + 4).map((s, j) => ({ name: `k${k + j}`, value: `unencrypted:${s}` })), null, 2));
}
put('fuzz_file_vault', '[]');

// ---- Signatory watermark import (v2 / v1 / v0 JSON): fuzz_wm_import; vigil.wm files: fuzz_wm_file ----
const marks = []; // {pkh, kind, level, round, hash}
if (have) {
  const wc = readJson('signatory/watermark_cases.json');
  for (const c of (wc && wc.integration_file_backend) || []) {
    const fa = c.file_after;
    if (!fa || typeof fa !== 'object') continue;
    put('fuzz_wm_import', Buffer.concat([Buffer.from([0]), Buffer.from(JSON.stringify(fa))]));
    for (const [pkh, kinds] of Object.entries(fa)) for (const [kind, m] of Object.entries(kinds)) marks.push({ pkh, kind, ...m });
  }
}
if (marks.length === 0) marks.push({ pkh: 'tz1LggX2HUdvJ1tF4Fvv8fjsrzLeW4Jr9t2Q', kind: 'block', level: 2, round: 0, hash: null });
const ORDER = { block: 0, preattestation: 1, attestation: 2, attestation_with_dal: 2, endorsement: 2, preendorsement: 1 };
const v2 = {}, v1 = {}, v0 = {};
for (const m of marks) {
  (v2[m.pkh] ||= {})[m.kind] = { level: m.level, round: m.round, hash: m.hash };
  v1[m.pkh] = { level: m.level, round: m.round, order: ORDER[m.kind] ?? 0, hash: m.hash };
  (v0[m.kind] ||= {})[m.pkh] = { level: m.level, round: m.round, hash: m.hash };
}
v2['tz1LggX2HUdvJ1tF4Fvv8fjsrzLeW4Jr9t2Q'] = { endorsement: { level: 9, round: 1, hash: null }, attestation: { level: 9, round: 0, hash: null } };
put('fuzz_wm_import', Buffer.concat([Buffer.from([0]), Buffer.from(JSON.stringify(v2, null, 1))]));
put('fuzz_wm_import', Buffer.concat([Buffer.from([1]), Buffer.from(JSON.stringify(v1))]));
put('fuzz_wm_import', Buffer.concat([Buffer.from([2]), Buffer.from(JSON.stringify(v0))]));

// vigil.wm (docs/watermarks.md "File format"). Checksums are left zero: the seeds carry flag bit 0,
// which makes fuzz_wm_file compute them (bit 1 additionally exercises the write path).
const ALPH = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
function b58dec(s) {
  let n = 0n;
  for (const c of s) { const d = ALPH.indexOf(c); if (d < 0) return null; n = n * 58n + BigInt(d); }
  let hex = n.toString(16); if (hex.length % 2) hex = '0' + hex;
  const lead = s.match(/^1*/)[0].length;
  return Buffer.concat([Buffer.alloc(lead), Buffer.from(n === 0n ? '' : hex, 'hex')]).subarray(0, -4);
}
const KIND_CODE = { block: 1, preattestation: 2, attestation: 3, attestation_with_dal: 4 };
const TYPE = { tz1: 0, tz2: 1, tz3: 2, tz4: 3 };
function wmFile(recs) {
  const hdr = Buffer.alloc(256);
  hdr.write('VIGILWM1', 0, 'latin1'); hdr.writeUInt32LE(1, 8); hdr.writeUInt32LE(256, 12); hdr.writeUInt32LE(256, 16);
  const out = [hdr];
  for (const [idx, m] of recs.entries()) {
    const r = Buffer.alloc(256);
    r.write('WMR1', 0, 'latin1');
    Buffer.from('7a06a7' + (0x70 + (idx & 0x0f)).toString(16), 'hex').copy(r, 4); // one chain per record
    r[8] = TYPE[m.pkh.slice(0, 3)] ?? 0;
    const h = b58dec(m.pkh); if (h) h.subarray(3, 23).copy(r, 9);
    r[29] = KIND_CODE[m.kind] || 1;
    for (const [c, seq] of [[64, 2 * idx + 1], [160, 2 * idx + 2]]) {
      r.writeBigUInt64LE(BigInt(seq), c);
      r.writeInt32LE(m.level - (c === 64 ? 1 : 0), c + 8);
      r.writeInt32LE(m.round, c + 12);
      if (m.hash) { r.writeUInt32LE(1, c + 16); const d = b58dec(m.hash); if (d) d.subarray(2, 34).copy(r, c + 20); }
    }
    out.push(r);
  }
  return Buffer.concat(out);
}
const kinds = ['block', 'preattestation', 'attestation', 'attestation_with_dal'];
const recs = marks.map((m, k) => ({ ...m, kind: kinds.includes(m.kind) ? m.kind : kinds[k % 4] }));
for (const flags of [1, 3]) {
  put('fuzz_wm_file', Buffer.concat([Buffer.from([flags]), wmFile(recs.slice(0, 1))]));
  put('fuzz_wm_file', Buffer.concat([Buffer.from([flags]), wmFile(recs.slice(0, 8))]));
  put('fuzz_wm_file', Buffer.concat([Buffer.from([flags]), wmFile(kinds.map((kind, k) => ({ ...recs[0], kind, level: 10 + k })))]));
}
put('fuzz_wm_file', Buffer.concat([Buffer.from([1]), wmFile([])]));

// ---- client authentication: fuzz_auth (byte 0 = mode, fields split by '\n'; see fuzz_auth.c) ----
{
  const creds = { username1: '87GridNEG3gKZ3I!', username2: 'RkB143NUCmok2f4!' };
  if (have) {
    const hc = readJson('signatory/http_cases.json');
    const ex = hc && hc.jwt && hc.jwt.example_integration_credentials;
    if (ex) { creds.username1 = ex.username1; creds.username2 = ex.username2; }
  }
  const b64u = (x) => Buffer.from(x).toString('base64url');
  const hdr = (alg) => JSON.stringify({ alg, typ: 'JWT' });
  const now = 1767225600; // the harness clock: 2026-01-01
  put('fuzz_auth', `\x00Bearer ${b64u(hdr('none'))}.${b64u(JSON.stringify({ exp: now + 60, user: 'username1' }))}.\nusername1`);
  put('fuzz_auth', `\x00Bearer${b64u(hdr('HS256'))}.e30.AAAA\nusername1`);
  put('fuzz_auth', `\x00Bearer ${b64u(hdr('RS256'))}.${b64u('{}')}.${b64u('x')}\nusername2`);
  for (const [flags, user] of [[0, 'username1'], [1, 'username1'], [2, 'username1'], [0x12, 'username2']]) {
    for (const claims of [{ exp: now + 3600, user }, { exp: now - 1, user }, { exp: now + 60, nbf: now + 30, user },
      { exp: now + 60, user: 'someone' }, { user }, { exp: 'soon', user }]) {
      put('fuzz_auth', Buffer.concat([Buffer.from([1, flags]), Buffer.from(`${hdr(['HS256', 'HS384', 'HS512'][flags % 3])}\n${JSON.stringify(claims)}`)]));
    }
  }
  for (const [u, p] of Object.entries(creds)) put('fuzz_auth', `\x02${u}\n${p}`);
  put('fuzz_auth', '\x02username1\nwrong');
  if (have) {
    const ar = (readJson('signatory/derived_signatures.json') || {}).authenticated_request;
    const t = ar && b58dec(ar.target_pkh);
    if (t) {
      const target = Buffer.concat([Buffer.from([0]), t.subarray(3, 23)]);
      put('fuzz_auth', Buffer.concat([Buffer.from(`\x03${ar.signature_edsig}\n`), target, Buffer.from(ar.message_hex, 'hex')]));
    }
  }
  for (let c = 0; c < 4; c++) put('fuzz_auth', Buffer.concat([Buffer.from([4, c, c]), Buffer.alloc(20, 7), Buffer.from('03' + '00'.repeat(32) + '1100000005hello', 'hex')]));
}

// ---- PKCS#8 private keys (vigil import): fuzz_pkcs8, PEM as given and as DER ----
if (have) {
  const kj = readJson('signatory/keys.json');
  for (const e of (kj && kj.pkcs8_pem) || []) {
    if (typeof e.private_pem !== 'string') continue;
    put('fuzz_pkcs8', e.private_pem);
    const b64 = e.private_pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    put('fuzz_pkcs8', Buffer.from(b64, 'base64'));
  }
}
put('fuzz_pkcs8', '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----\n');

// ---- Nitro attestation documents: fuzz_attestation ----
for (const f of files('attestation', /\.cose$/)) {
  const doc = fs.readFileSync(f);
  put('fuzz_attestation', doc);
  put('fuzz_attestation', Buffer.concat([Buffer.from([0xd2]), doc])); // tag 18
}
put('fuzz_attestation', Buffer.from('8444a1013822a0f65860' + '00'.repeat(96), 'hex'));

// ---- KMS CiphertextForRecipient: fuzz_cms (more made with openssl below) ----
for (const f of files('enclave-rpc/kms-cms', /\.ber$/)) put('fuzz_cms', fs.readFileSync(f));
put('fuzz_cms', Buffer.from('3080060b2a864886f70d0109100117a0800000', 'hex'));

for (const [t, n] of Object.entries(counts).sort()) console.log(`seed: ${t}: ${n} seeds`);
if (!have) console.log(`seed: ${VEC} not found: hand-written seeds only`);
EOF

# Extra CMS seeds: RSAES-OAEP(SHA-256) + AES-256-CBC envelopes for the vectors' recipient key, with
# plaintexts of several sizes (the sizes KMS returns: 32-byte data keys, up to 4 KiB), addressed as
# KMS addresses them: subjectKeyIdentifier = SHA-256 of the recipient SubjectPublicKeyInfo (-keyid).
KEY="$VEC/enclave-rpc/kms-cms/recipient_rsa2048_pkcs1.pem"
if [ -f "$KEY" ] && command -v openssl >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  ski=$(openssl pkey -in "$KEY" -pubout -outform DER 2>/dev/null | openssl dgst -sha256 -r | cut -d" " -f1 | sed "s/../&:/g; s/:\$//")
  if openssl req -new -x509 -key "$KEY" -subj /CN=vigil-fuzz -days 1 -addext "subjectKeyIdentifier=$ski" \
       -out "$tmp/cert.pem" 2>/dev/null; then
    n=0
    for size in 1 32 48 4096; do
      head -c "$size" /dev/urandom >"$tmp/pt"
      if openssl cms -encrypt -binary -aes-256-cbc -keyid -in "$tmp/pt" -recip "$tmp/cert.pem" \
           -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256 -keyopt rsa_mgf1_md:sha256 \
           -outform DER -out "$OUT/fuzz_cms/openssl-$size" 2>/dev/null; then
        n=$((n + 1))
      fi
    done
    echo "seed: fuzz_cms: $n more from openssl cms"
  fi
fi

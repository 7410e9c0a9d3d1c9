// Self-test of the KMS stand-in (kms_standin.mjs) and cross-checks with vigil's C code:
//   - its SigV4 against AWS's SigV4 test suite (../shared/vectors/sigv4/), then over HTTP: bad signature,
//     unknown key id, missing auth, stale date, wrong token or region → KMS-shaped 400 errors;
//   - its CMS writer reproduces the real KMS CiphertextForRecipient byte for byte from the same inputs,
//     and its attestation verifier accepts the real AWS documents (pinned time) and rejects tampering;
//   - Encrypt/Decrypt/GenerateDataKey/GenerateRandom, key policy with a PCR0 condition, Decrypt without a
//     Recipient refused, Recipient decrypt with a software-NSM document made by `vigil attest soft-nsm`,
//     whose CiphertextForRecipient is opened both here (Node crypto) and by vigil's C CMS code
//     (tests/test_cms in external mode); a wrong PCR0, a foreign root or a tampered document → AccessDenied.
// Env: VIGIL_BIN (vigil, for `attest soft-nsm`), VIGIL_TEST_CMS (default <dir of VIGIL_BIN>/tests/test_cms),
// VIGIL_SHARED (vectors; their sub-tests are skipped when absent).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { test, skip, summary, assert } from './lib/harness.mjs';
import { vigilBin, sharedDir, mkTemp } from './lib/vigil.mjs';
import {
  KmsStandIn, kmsCall, signRequest, verifySigV4, SigV4Error, cmsEnvelope, cmsOpen, berElement, berChildren,
  verifyAttestation, AttestationError, cborDecode, cborEncode,
} from './kms_standin.mjs';

const CREDS = { accessKeyId: 'AKIDVIGILTEST', secretAccessKey: 'c2VjcmV0LWZvci10aGUtc3RhbmQtaW4tb25seQ', sessionToken: 'session-token-1' };
const ZERO_PCR = '0'.repeat(96);
const AWS_PINNED = Date.UTC(2024, 8, 7, 15, 0, 0);

const shared = sharedDir();
const vec = (rel) => path.join(shared, 'vectors', rel);

// ---- SigV4 test suite ----

// Parses a .req/.sreq file: "METHOD PATH HTTP/1.1", headers (continuation lines = extra values), body.
function parseReq(text) {
  const lines = text.split('\n');
  const first = lines.shift();
  const sp1 = first.indexOf(' ');
  const sp2 = first.lastIndexOf(' ');
  const method = first.slice(0, sp1);
  const target = first.slice(sp1 + 1, sp2);
  const headers = [];
  while (lines.length) {
    const l = lines.shift();
    if (l === '') break;
    if (/^\s/.test(l) && headers.length) headers.push([headers[headers.length - 1][0], l.trim()]);
    else { const i = l.indexOf(':'); headers.push([l.slice(0, i), l.slice(i + 1)]); }
  }
  const q = target.indexOf('?');
  return { method, path: q < 0 ? target : target.slice(0, q), query: q < 0 ? '' : target.slice(q + 1), headers, body: lines.join('\n') };
}

function sigv4Cases(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const d = path.join(dir, e.name);
    if (fs.existsSync(path.join(d, `${e.name}.req`))) out.push({ name: e.name, dir: d });
    else out.push(...sigv4Cases(d));
  }
  return out;
}

const STS_TOKEN = 'AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==';

async function sigv4Suite() {
  if (!shared) skip('VIGIL_SHARED absent');
  const cases = sigv4Cases(vec('sigv4/aws-sig-v4-test-suite'));
  assert.ok(cases.length >= 31, `found ${cases.length} cases`);
  const vcred = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
  const now = Date.UTC(2015, 7, 30, 12, 36, 0);
  for (const c of cases) {
    const read = (ext) => fs.readFileSync(path.join(c.dir, `${c.name}.${ext}`), 'utf8');
    const req = parseReq(read('req'));
    const s = signRequest({ ...req, ...vcred, region: 'us-east-1', service: 'service', amzDate: '20150830T123600Z' });
    assert.equal(s.creq, read('creq'), `${c.name}: canonical request`);
    assert.equal(s.sts, read('sts'), `${c.name}: string to sign`);
    assert.equal(s.authorization, read('authz'), `${c.name}: Authorization`);
    // the verifier accepts the signed request as given, and rejects it changed
    const sreq = parseReq(read('sreq'));
    const creds = new Map([['AKIDEXAMPLE', { ...vcred, sessionToken: sreq.headers.some(([n]) => /x-amz-security-token/i.test(n)) ? STS_TOKEN : undefined }]]);
    const opts = { creds, region: 'us-east-1', service: 'service', now };
    assert.deepEqual(verifySigV4(sreq, opts), { accessKeyId: 'AKIDEXAMPLE' }, c.name);
    const tampered = { ...sreq, headers: sreq.headers.map(([n, v]) => (/^authorization$/i.test(n) ? [n, v.replace(/.$/, (x) => (x === '0' ? '1' : '0'))] : [n, v])) };
    assert.throws(() => verifySigV4(tampered, opts), (e) => e instanceof SigV4Error && e.type === 'InvalidSignatureException', `${c.name}: tampered signature`);
    const otherDate = { ...sreq, headers: sreq.headers.map(([n, v]) => (/^x-amz-date$/i.test(n) ? [n, '20150830T123601Z'] : [n, v])) };
    assert.throws(() => verifySigV4(otherDate, opts), SigV4Error, `${c.name}: changed date`);
    assert.throws(() => verifySigV4(sreq, { ...opts, now: now + 3600e3 }), /Signature expired/, `${c.name}: skew`);
  }
  console.log(`#   ${cases.length} SigV4 cases`);
}

// ---- CMS against the real KMS output ----

async function cmsVector() {
  if (!shared) skip('VIGIL_SHARED absent');
  const dir = vec('enclave-rpc/kms-cms');
  const ber = fs.readFileSync(path.join(dir, 'ciphertext_for_recipient.ber'));
  const keyPem = fs.readFileSync(path.join(dir, 'recipient_rsa2048_pkcs1.pem'));
  const cekWant = Buffer.from(fs.readFileSync(path.join(dir, 'expected_content_key.hex'), 'utf8').trim(), 'hex');
  const ptWant = Buffer.from(fs.readFileSync(path.join(dir, 'expected_plaintext.hex'), 'utf8').trim(), 'hex');
  const key = crypto.createPrivateKey(keyPem);
  const spki = crypto.createPublicKey(key).export({ format: 'der', type: 'spki' });
  const opened = cmsOpen(ber, key);
  assert.ok(opened.plaintext.equals(ptWant), 'plaintext');
  assert.ok(opened.cek.equals(cekWant), 'content key');
  assert.equal(opened.rid.toString('hex'), crypto.createHash('sha256').update(spki).digest('hex'), 'rid = SHA-256(SPKI)');
  // the writer, given KMS's random choices (CEK, IV, the OAEP output), reproduces KMS's bytes exactly
  const ci = berElement(ber, 0);
  const [, content] = berChildren(ber, ci);
  const [env] = berChildren(ber, content);
  const [, ris, eci] = berChildren(ber, env);
  const [ktri] = berChildren(ber, ris);
  const ek = berChildren(ber, ktri)[3];
  const [, calg] = berChildren(ber, eci);
  const ivEl = berChildren(ber, calg)[1];
  const rebuilt = cmsEnvelope(ptWant, spki, { fixed: { cek: cekWant, iv: ber.subarray(ivEl.start, ivEl.end), encryptedKey: ber.subarray(ek.start, ek.end) } });
  assert.equal(rebuilt.toString('hex'), ber.toString('hex'), 'CMS writer vs KMS bytes');
}

// ---- the attestation verifier on real AWS documents ----

async function awsDocuments() {
  if (!shared) skip('VIGIL_SHARED absent');
  const rootDer = fs.readFileSync(vec('attestation/root.der'));
  for (const name of ['nitro_attestation.cose', 'nitro_attestation_debug.cose']) {
    const doc = fs.readFileSync(vec(`attestation/${name}`));
    const f = verifyAttestation(doc, { rootDer, now: AWS_PINNED });
    assert.equal(f.digest, 'SHA384');
    assert.equal(f.pcrs.size, 16);
    assert.equal(f.cabundle.length, 4);
    const pcr0 = f.pcrs.get(0).toString('hex');
    assert.equal(pcr0 === ZERO_PCR, name.includes('debug'), `${name}: PCR0 ${pcr0}`);
    assert.throws(() => verifyAttestation(doc, { rootDer }), (e) => e instanceof AttestationError && /expired/.test(e.message), `${name}: now`);
    // base64 file = same bytes
    assert.ok(Buffer.from(fs.readFileSync(vec(`attestation/${name.replace('.cose', '.b64')}`), 'utf8'), 'base64').equals(doc));
    // tampering: header + signature bytes, and every 13th byte
    let tried = 0;
    for (let i = 0; i < doc.length; i++) {
      if (!(i < 16 || i >= doc.length - 96 || i % 13 === 0)) continue;
      const t = Buffer.from(doc);
      t[i] ^= 0x01;
      assert.throws(() => verifyAttestation(t, { rootDer, now: AWS_PINNED }), AttestationError, `${name}: flip at ${i}`);
      tried++;
    }
    console.log(`#   ${name}: ${tried} flips rejected`);
  }
}

// ---- the stand-in over HTTP ----

function softNsmDoc(dir, spkiFile) {
  const out = path.join(path.dirname(dir), `doc-${crypto.randomBytes(4).toString('hex')}.cose`);
  const args = ['attest', 'soft-nsm', '--dir', dir, '--out', out];
  if (spkiFile) args.push('--public-key', spkiFile);
  const r = spawnSync(vigilBin(), args, { encoding: 'utf8' });
  if (r.status !== 0) return { error: `${r.status}: ${r.stderr}` };
  return { doc: fs.readFileSync(out), root: fs.readFileSync(path.join(dir, 'root.pem')) };
}

function expectError(r, type, status = 400) {
  assert.equal(r.status, status, `status ${r.status}: ${r.text}`);
  assert.equal(r.contentType, 'application/x-amz-json-1.1');
  assert.equal(r.json?.__type, type, r.text);
  assert.equal(typeof r.json.message, 'string');
}

async function main() {
  console.log(`# vigil binary: ${vigilBin()}`);
  await test('SigV4 test suite: canonical request, string to sign, Authorization; verifier accepts .sreq, rejects changes', sigv4Suite);
  await test('CMS writer reproduces the real KMS CiphertextForRecipient byte for byte; reader opens it', cmsVector);
  await test('attestation verifier: real AWS documents at their time, expired now, flips rejected', awsDocuments);

  const tmp = mkTemp('vigil-kms-');
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const spkiFile = path.join(tmp, 'recipient.spki');
  const keyFile = path.join(tmp, 'recipient.pem');
  fs.writeFileSync(spkiFile, spki);
  fs.writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  const nsmDir = path.join(tmp, 'dev-nsm');
  const soft = softNsmDoc(nsmDir, spkiFile);
  const softWhy = soft.error ? `vigil attest soft-nsm unavailable (${soft.error.trim().split('\n')[0]})` : null;

  const kms = new KmsStandIn({
    credentials: [CREDS],
    rootPem: soft.root,
    keys: [
      { id: '11111111-1111-4111-8111-111111111111', alias: 'open' },
      { id: '22222222-2222-4222-8222-222222222222', alias: 'sealed', policy: { requireRecipientFor: ['Decrypt'], pcrs: { 0: [ZERO_PCR.toUpperCase()] } } },
      { id: '33333333-3333-4333-8333-333333333333', alias: 'pinned', policy: { requireRecipientFor: ['Decrypt'], pcrs: { 0: ['ab'.repeat(48)] } } },
    ],
  });
  const url = await kms.listen();
  console.log(`# stand-in at ${url}`);
  const call = (target, body, extra = {}) => kmsCall(url, target, body, { ...CREDS, ...extra });
  const pt = Buffer.from('a sealed Tezos key would go here');

  await test('SigV4 over HTTP: bad signature, unknown key id, no auth, stale date, token, region', async () => {
    expectError(await call('Encrypt', { KeyId: 'alias/open', Plaintext: pt.toString('base64') }, { tamper: (a) => a.replace(/.$/, (x) => (x === '0' ? '1' : '0')) }), 'InvalidSignatureException');
    expectError(await call('Encrypt', {}, { accessKeyId: 'AKIDUNKNOWN' }), 'UnrecognizedClientException');
    expectError(await call('Encrypt', {}, { secretAccessKey: 'wrong' }), 'InvalidSignatureException');
    expectError(await call('Encrypt', {}, { sessionToken: 'another-token' }), 'UnrecognizedClientException');
    expectError(await call('Encrypt', {}, { sessionToken: undefined }), 'UnrecognizedClientException');
    expectError(await call('Encrypt', {}, { amzDate: '20150830T123600Z' }), 'InvalidSignatureException');
    expectError(await call('Encrypt', {}, { region: 'eu-west-1' }), 'InvalidSignatureException');
    const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'TrentService.Encrypt' }, body: '{}' });
    expectError({ status: r.status, contentType: r.headers.get('content-type'), json: await r.json(), text: '' }, 'MissingAuthenticationTokenException');
    expectError(await call('Frobnicate', {}), 'UnknownOperationException');
  });

  await test('Encrypt/Decrypt round trip, encryption context, tampering, key ids', async () => {
    const ctx = { purpose: 'test' };
    const e = await call('Encrypt', { KeyId: 'alias/open', Plaintext: pt.toString('base64'), EncryptionContext: ctx });
    assert.equal(e.status, 200, e.text);
    assert.equal(e.json.KeyId, kms.keys.get('11111111-1111-4111-8111-111111111111').arn);
    assert.equal(e.json.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    const d = await call('Decrypt', { CiphertextBlob: e.json.CiphertextBlob, EncryptionContext: ctx });
    assert.equal(d.status, 200, d.text);
    assert.equal(d.json.Plaintext, pt.toString('base64'));
    assert.equal(d.json.KeyId, e.json.KeyId);
    expectError(await call('Decrypt', { CiphertextBlob: e.json.CiphertextBlob }), 'InvalidCiphertextException');
    const blob = Buffer.from(e.json.CiphertextBlob, 'base64');
    blob[blob.length - 1] ^= 1;
    expectError(await call('Decrypt', { CiphertextBlob: blob.toString('base64'), EncryptionContext: ctx }), 'InvalidCiphertextException');
    expectError(await call('Decrypt', { CiphertextBlob: e.json.CiphertextBlob, EncryptionContext: ctx, KeyId: 'alias/sealed' }), 'IncorrectKeyException');
    const byArn = await call('Encrypt', { KeyId: e.json.KeyId, Plaintext: 'AA==' });
    assert.equal(byArn.status, 200);
    expectError(await call('Encrypt', { KeyId: 'alias/nope', Plaintext: 'AA==' }), 'NotFoundException');
    expectError(await call('Encrypt', { KeyId: 'alias/open' }), 'ValidationException');
    expectError(await call('Encrypt', { KeyId: 'alias/open', Plaintext: Buffer.alloc(4097).toString('base64') }), 'ValidationException');
    const g = await call('GenerateDataKey', { KeyId: 'alias/open', KeySpec: 'AES_256' });
    assert.equal(g.status, 200, g.text);
    assert.equal(Buffer.from(g.json.Plaintext, 'base64').length, 32);
    const gd = await call('Decrypt', { CiphertextBlob: g.json.CiphertextBlob });
    assert.equal(gd.json.Plaintext, g.json.Plaintext);
    const rnd = await call('GenerateRandom', { NumberOfBytes: 48 });
    assert.equal(Buffer.from(rnd.json.Plaintext, 'base64').length, 48);
  });

  let sealedBlob = null;
  await test('key policy: Encrypt without attestation, Decrypt without a Recipient refused', async () => {
    const e = await call('Encrypt', { KeyId: 'alias/sealed', Plaintext: pt.toString('base64') });
    assert.equal(e.status, 200, e.text);
    sealedBlob = e.json.CiphertextBlob;
    expectError(await call('Decrypt', { CiphertextBlob: sealedBlob }), 'AccessDeniedException');
    expectError(await call('Decrypt', { CiphertextBlob: sealedBlob, Recipient: null }), 'AccessDeniedException');
  });

  const testCms = process.env.VIGIL_TEST_CMS || path.join(path.dirname(vigilBin()), 'tests', 'test_cms');
  const openWithC = (b64, expectHex) => {
    const f = path.join(tmp, `cms-${crypto.randomBytes(4).toString('hex')}.ber`);
    fs.writeFileSync(f, Buffer.from(b64, 'base64'));
    const r = spawnSync(testCms, [], { encoding: 'utf8', env: { ...process.env, VIGIL_CMS_INPUT: f, VIGIL_CMS_KEY: keyFile, VIGIL_CMS_EXPECT: expectHex } });
    assert.equal(r.status, 0, `C CMS: ${r.stdout}${r.stderr}`);
    assert.equal(r.stdout.trim(), `plaintext ${expectHex}`);
  };
  const recipient = (doc, alg = 'RSAES_OAEP_SHA_256') => ({ KeyEncryptionAlgorithm: alg, AttestationDocument: doc.toString('base64') });

  await test('Recipient Decrypt with a software-NSM document: CMS opened by Node and by vigil\'s C code', async () => {
    if (softWhy) skip(softWhy);
    if (!sealedBlob) skip('no sealed blob');
    // the document itself is valid for the stand-in's independent verifier
    const att = verifyAttestation(soft.doc, { rootDer: kms.rootDer });
    assert.equal(att.moduleId, 'vigil-dev');
    assert.equal(att.pcrs.get(0).toString('hex'), ZERO_PCR);
    assert.ok(att.publicKey.equals(spki));
    const d = await call('Decrypt', { CiphertextBlob: sealedBlob, Recipient: recipient(soft.doc) });
    assert.equal(d.status, 200, d.text);
    assert.equal(d.json.Plaintext, undefined, 'no Plaintext next to CiphertextForRecipient');
    const ber = Buffer.from(d.json.CiphertextForRecipient, 'base64');
    assert.deepEqual([...ber.subarray(0, 4)], [0x30, 0x80, 0x06, 0x09], 'indefinite-length BER like KMS');
    assert.ok(cmsOpen(ber, privateKey).plaintext.equals(pt));
    if (!fs.existsSync(testCms)) skip(`C check skipped: ${testCms} not built`);
    openWithC(d.json.CiphertextForRecipient, pt.toString('hex'));
    // several OCTET STRING chunks (constructed [0]) open in C too
    kms.cmsChunk = 16;
    const d2 = await call('Decrypt', { CiphertextBlob: sealedBlob, Recipient: recipient(soft.doc) });
    kms.cmsChunk = 0;
    assert.equal(d2.status, 200, d2.text);
    openWithC(d2.json.CiphertextForRecipient, pt.toString('hex'));
  });

  await test('Recipient refused: wrong PCR0, foreign root, tampered or truncated document, wrong algorithm, no public key', async () => {
    if (softWhy) skip(softWhy);
    const e = await call('Encrypt', { KeyId: 'alias/pinned', Plaintext: pt.toString('base64') });
    expectError(await call('Decrypt', { CiphertextBlob: e.json.CiphertextBlob, Recipient: recipient(soft.doc) }), 'AccessDeniedException');
    const other = softNsmDoc(path.join(tmp, 'other-nsm'), spkiFile);
    assert.ok(other.doc, other.error);
    expectError(await call('Decrypt', { CiphertextBlob: sealedBlob, Recipient: recipient(other.doc) }), 'AccessDeniedException');
    const t = Buffer.from(soft.doc);
    t[t.length - 5] ^= 0x01; // inside the signature
    expectError(await call('Decrypt', { CiphertextBlob: sealedBlob, Recipient: recipient(t) }), 'AccessDeniedException');
    const p = Buffer.from(soft.doc);
    p[200] ^= 0x01; // inside the payload
    const r = await call('Decrypt', { CiphertextBlob: sealedBlob, Recipient: recipient(p) });
    assert.ok(['AccessDeniedException', 'ValidationException'].includes(r.json?.__type), r.text);
    expectError(await call('Decrypt', { CiphertextBlob: sealedBlob, Recipient: recipient(soft.doc.subarray(0, 100)) }), 'ValidationException');
    expectError(await call('Decrypt', { CiphertextBlob: sealedBlob, Recipient: recipient(soft.doc, 'RSAES_OAEP_SHA_1') }), 'ValidationException');
    const nokey = softNsmDoc(nsmDir, null);
    expectError(await call('Decrypt', { CiphertextBlob: sealedBlob, Recipient: recipient(nokey.doc) }), 'ValidationException');
    // a document re-encoded with its payload changed but the old signature: the signature check catches it
    const cose = cborDecode(soft.doc);
    const payload = cborDecode(cose[2]);
    payload.set('nonce', Buffer.from('00', 'hex'));
    const forged = cborEncode([cose[0], cose[1], cborEncode(payload), cose[3]]);
    expectError(await call('Decrypt', { CiphertextBlob: sealedBlob, Recipient: recipient(forged) }), 'AccessDeniedException');
  });

  await test('GenerateDataKey and GenerateRandom with a Recipient', async () => {
    if (softWhy) skip(softWhy);
    const g = await call('GenerateDataKey', { KeyId: 'alias/sealed', NumberOfBytes: 32, Recipient: recipient(soft.doc) });
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.Plaintext, undefined);
    const dk = cmsOpen(Buffer.from(g.json.CiphertextForRecipient, 'base64'), privateKey).plaintext;
    assert.equal(dk.length, 32);
    const d = await call('Decrypt', { CiphertextBlob: g.json.CiphertextBlob, Recipient: recipient(soft.doc) });
    assert.ok(cmsOpen(Buffer.from(d.json.CiphertextForRecipient, 'base64'), privateKey).plaintext.equals(dk));
    const r = await call('GenerateRandom', { NumberOfBytes: 64, Recipient: recipient(soft.doc) });
    assert.equal(r.status, 200, r.text);
    assert.equal(cmsOpen(Buffer.from(r.json.CiphertextForRecipient, 'base64'), privateKey).plaintext.length, 64);
    if (fs.existsSync(testCms)) openWithC(g.json.CiphertextForRecipient, dk.toString('hex'));
  });

  await test('a stand-in trusting the AWS root: real documents pass chain and signature at their time, fail now', async () => {
    if (!shared) skip('VIGIL_SHARED absent');
    let now = AWS_PINNED;
    const aws = new KmsStandIn({ credentials: [CREDS], rootDer: fs.readFileSync(vec('attestation/root.der')), now: () => now, maxSkewMs: null,
      keys: [{ id: '44444444-4444-4444-8444-444444444444', policy: { requireRecipientFor: ['Decrypt'], pcrs: { 0: ['e72a46ca80a260fb044a125442f0c7e331813bcbaf9724d9f3857758992766f2d65710a27aa94ae3949dd54e7c9fe86a'] } } }] });
    const u = await aws.listen();
    try {
      const c = (t, b) => kmsCall(u, t, b, CREDS);
      const e = await c('Encrypt', { KeyId: '44444444-4444-4444-8444-444444444444', Plaintext: pt.toString('base64') });
      const doc = fs.readFileSync(vec('attestation/nitro_attestation.cose'));
      const debugDoc = fs.readFileSync(vec('attestation/nitro_attestation_debug.cose'));
      // chain, signature and PCR0 pass; the sample's public_key (1024 × 0x01) is not an RSA key
      const r = await c('Decrypt', { CiphertextBlob: e.json.CiphertextBlob, Recipient: recipient(doc) });
      expectError(r, 'ValidationException');
      assert.match(r.json.message, /SubjectPublicKeyInfo/);
      expectError(await c('Decrypt', { CiphertextBlob: e.json.CiphertextBlob, Recipient: recipient(debugDoc) }), 'AccessDeniedException');
      now = Date.now();
      const late = await c('Decrypt', { CiphertextBlob: e.json.CiphertextBlob, Recipient: recipient(doc) });
      expectError(late, 'AccessDeniedException');
      assert.match(late.json.message, /expired/);
      if (!softWhy) expectError(await c('Decrypt', { CiphertextBlob: e.json.CiphertextBlob, Recipient: recipient(soft.doc) }), 'AccessDeniedException');
    } finally {
      await aws.close();
    }
  });

  await kms.close();
  fs.rmSync(tmp, { recursive: true, force: true });
  const ok = summary();
  process.exit(ok ? 0 : 1);
}

main().catch((e) => { console.error(e); process.exit(1); });

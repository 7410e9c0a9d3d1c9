// DynamoDB server floor for bench/dynamodb.sh: the same conditional TransactWriteItems vigil's
// attestation commit sends (Put + ConditionCheck of the sibling), straight from Node with C
// concurrent loops, no vigil in between. Prints one line:
//   DDBFLOOR c=C tps=N p50_ms=X p99_ms=Y
//   node bench/ddb_floor.mjs ENDPOINT C SECONDS
const [ep, cArg, sArg] = process.argv.slice(2);
const C = Number(cArg || 1);
const secs = Number(sArg || 5);
const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');

async function call(op, body) {
  const d = stamp();
  const r = await fetch(ep, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `DynamoDB_20120810.${op}`,
      'x-amz-date': d,
      authorization: `AWS4-HMAC-SHA256 Credential=AKIDBENCH/${d.slice(0, 8)}/us-east-1/dynamodb/aws4_request, `
        + `SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`,
    },
  });
  const t = await r.text();
  if (r.status !== 200 && !(op === 'CreateTable' && t.includes('ResourceInUse'))) throw new Error(`${op}: ${t}`);
}

await call('CreateTable', {
  TableName: 'ddb_floor',
  AttributeDefinitions: [{ AttributeName: 'idx', AttributeType: 'S' }, { AttributeName: 'request', AttributeType: 'S' }],
  KeySchema: [{ AttributeName: 'idx', KeyType: 'HASH' }, { AttributeName: 'request', KeyType: 'RANGE' }],
  BillingMode: 'PAY_PER_REQUEST',
});
const cond = 'attribute_not_exists(#i) OR #l < :l OR (#l = :l AND #r < :r) OR (#l = :l AND #r = :r AND #d = :d)';
const names = { '#i': 'idx', '#l': 'lvl', '#r': 'round', '#d': 'digest' };
let n = 0;
const lat = [];
const end = Date.now() + secs * 1000;
await Promise.all(Array.from({ length: C }, async (_, w) => {
  const idx = `NetXfloor/${process.pid}-${C}-${w}`;
  for (let lvl = 1; Date.now() < end; lvl++) {
    const vals = { ':l': { N: String(lvl) }, ':r': { N: '0' }, ':d': { S: `vh${lvl}` } };
    const t0 = performance.now();
    await call('TransactWriteItems', {
      TransactItems: [
        { Put: { TableName: 'ddb_floor', ConditionExpression: cond, ExpressionAttributeNames: names,
          ExpressionAttributeValues: vals, ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          Item: { idx: { S: idx }, request: { S: 'attestation' }, lvl: { N: String(lvl) }, round: { N: '0' },
            digest: { S: `vh${lvl}` } } } },
        { ConditionCheck: { TableName: 'ddb_floor', ConditionExpression: cond, ExpressionAttributeNames: names,
          ExpressionAttributeValues: vals, ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          Key: { idx: { S: idx }, request: { S: 'attestation_with_dal' } } } },
      ],
    });
    lat.push(performance.now() - t0);
    n++;
  }
}));
lat.sort((a, b) => a - b);
const pct = (p) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))].toFixed(2);
console.log(`DDBFLOOR c=${C} tps=${(n / secs).toFixed(1)} p50_ms=${pct(0.5)} p99_ms=${pct(0.99)}`);

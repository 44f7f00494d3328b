import { redactText, redactUri, secretsOf } from './redact.js';

describe('redactUri', () => {
  test.each([
    ['mongodb://alice:s3cret@db1:27017/shop', 'mongodb://alice:****@db1:27017/shop'],
    ['mongodb+srv://alice:p%40ss@cluster0.x.net/', 'mongodb+srv://alice:****@cluster0.x.net/'],
    ['mongodb://alice:p@ss@db1/?replicaSet=rs0', 'mongodb://alice:****@db1/?replicaSet=rs0'],
    ['mongodb://alice@db1/', 'mongodb://alice@db1/'],
    [
      'mongodb://db1:27017,db2:27017/?replicaSet=rs0',
      'mongodb://db1:27017,db2:27017/?replicaSet=rs0',
    ],
    [
      'mongodb://db1/?tls=true&tlsCertificateKeyFilePassword=hunter22&appName=x',
      'mongodb://db1/?tls=true&tlsCertificateKeyFilePassword=****&appName=x',
    ],
    [
      'mongodb://db1/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:abc123',
      'mongodb://db1/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:****',
    ],
  ])('%s', (uri, expected) => {
    expect(redactUri(uri)).toBe(expected);
  });
});

describe('redactText', () => {
  test('masks URIs inside messages and any known secret', () => {
    const uri = 'mongodb://alice:s3cret%21@db1/';
    const secrets = secretsOf(uri);
    expect(secrets).toEqual(['s3cret%21', 's3cret!']);
    const text = `cannot connect to ${uri}: auth failed for password s3cret!`;
    const out = redactText(text, secrets);
    expect(out).toBe('cannot connect to mongodb://alice:****@db1/: auth failed for password ****');
    expect(out).not.toContain('s3cret');
  });

  test('leaves text without secrets alone', () => {
    expect(redactText('plain message', [])).toBe('plain message');
    expect(secretsOf('mongodb://db1/')).toEqual([]);
  });
});

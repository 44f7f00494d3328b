import {
  redactFragments,
  redactText,
  redactUri,
  secretForms,
  secretsOf,
  uriCredentials,
} from './redact.js';

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
    expect(secrets).toEqual(expect.arrayContaining(['s3cret%21', 's3cret!']));
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

describe('passwords with characters left unescaped (issue 8)', () => {
  test.each([
    ['a space', 'S3cr3t x'],
    ['a tab', 'S3cr\tt'],
    ['a newline', 'S3cr\nt'],
    ['@ signs', 'p@ss@w'],
    ['colons', 'pa:ss:wd'],
    ['slashes', 'pa/ss/wd'],
    ['? and #', 'a?b#c@d'],
    ['unicode', 'pässwörd☃'],
  ])('%s: the whole userinfo after the user name is masked', (_, password) => {
    for (const scheme of ['mongodb', 'mongodb+srv']) {
      const uri = `${scheme}://alice:${password}@db1:27017,db2/shop?replicaSet=rs0`;
      expect(redactUri(uri)).toBe(`${scheme}://alice:****@db1:27017,db2/shop?replicaSet=rs0`);
      const text = `cannot connect to ${uri}: refused\nnext line`;
      expect(redactText(text, secretsOf(`--uri=${uri}`))).toBe(
        `cannot connect to ${scheme}://alice:****@db1:27017,db2/shop?replicaSet=rs0: refused\nnext line`,
      );
      // Free text without the secrets: the line's last @ still ends the userinfo.
      if (!password.includes('\n')) expect(redactText(text)).not.toContain(password);
    }
  });

  test('percent-encoded passwords are known in every form', () => {
    const secrets = secretsOf('mongodb://alice:p%40ss%20w%C3%B6rd@db1/');
    expect(secrets).toEqual(expect.arrayContaining(['p%40ss%20w%C3%B6rd', 'p@ss wörd']));
    expect(redactText('auth failed for p@ss wörd', secrets)).toBe('auth failed for ****');
  });

  test('a parser message quoting a piece of the password is masked word by word', () => {
    const uri = 'mongodb://alice:S3c@r:t/x@db1/';
    expect(redactFragments('Unable to parse r:t with URL', uri)).toBe(
      'Unable to parse **** with URL',
    );
    expect(redactFragments('Unable to parse r:t with URL', 'mongodb://db1/')).toBe(
      'Unable to parse r:t with URL',
    );
  });
});

describe('passwords from flags (--password, the prompt)', () => {
  test('every form is known: raw, percent-encoded and -decoded, JSON-escaped', () => {
    expect(secretForms('p%41ss wö"rd')).toEqual(
      expect.arrayContaining([
        'p%41ss wö"rd',
        'pAss wö"rd',
        'p%2541ss%20w%C3%B6%22rd',
        'p%41ss wö\\"rd',
      ]),
    );
    expect(secretForms('')).toEqual([]);
  });

  test('a driver error that embeds the connection string and the password, with its stack', () => {
    const uri = 'mongodb://alice:p%40ss%20w%C3%B6rd@db1/?replicaSet=rs0';
    const flag = 'fl@g pässwörd';
    const secrets = [...secretsOf(uri), ...secretForms(flag)];
    const error = new Error(
      `MongoParseError: Invalid connection string "${uri}" (auth {"password":${JSON.stringify(flag)}})`,
    );
    const text = `mongo-tail: unexpected error: ${error.message}\n${error.stack ?? ''}\n`;
    const out = redactText(text, secrets);
    for (const form of [...secrets, 'p@ss wörd', flag]) expect(out).not.toContain(form);
    expect(out).toContain('mongodb://alice:****@db1/?replicaSet=rs0');
    expect(out).toContain('{"password":"****"}');
  });
});

describe('uriCredentials', () => {
  test.each([
    ['mongodb://db1/', {}],
    ['mongodb://al%40ice@db1/', { user: 'al@ice' }],
    ['mongodb://alice:@db1/', { user: 'alice', password: '' }],
    ['mongodb+srv://alice:p%40ss@x.net/', { user: 'alice', password: 'p@ss' }],
    ['mongodb://alice:p@ss w@db1/', { user: 'alice', password: 'p@ss w' }],
  ])('%s', (uri, expected) => {
    expect(uriCredentials(uri)).toEqual(expected);
  });
});

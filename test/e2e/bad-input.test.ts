// Malformed invocations, one row each: the exit code, one line on stderr naming the flag, value
// or file (plus at most one `hint:` line), no stack, nothing on stdout, the input files left as
// they were (bytes and mtime) and no file left behind. Almost every row fails before
// connecting; the default MONGODB_URI refuses connections at once, so a row that wrongly
// passes validation ends quickly with exit 3 instead of hanging.
import { createHash } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MongoClient } from 'mongodb';
import { testUri, uniqueDbName } from '../helpers/testenv.js';
import { runCli } from './harness.js';
import { connect } from './util.js';

/** Refuses connections at once (port 1); the URI's own timeout bounds server selection. */
const UNREACHABLE = 'mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500&connectTimeoutMS=500';

// A v2 insert token of a MongoDB 7.x replica set (the one src/main.test.ts quotes):
// Timestamp(1725165347, 1), so it names an event of another deployment, long before this one.
const FOREIGN_TOKEN =
  '8266D3EF23000000012B042C0100296E5A10045C1BE20648104131A527B9EAD80E9F75463C6F7065726174696F6E' +
  '54797065003C696E736572740046646F63756D656E744B65790046645F6964006466D3EF237469C95EDC2C0B49000004';

/** A file to create in the row's directory before the run. */
type FileSpec =
  | string
  | Buffer
  | { dir: true }
  /** A sparse file of this many bytes. */
  | { size: number }
  /** A file nobody may read (chmod 000). */
  | { unreadable: string }
  | { symlink: string };

interface Row {
  name: string;
  /** `$D` is the row's own directory; `$URI` the test backend; `$NS` a collection with one event. */
  argv: string[];
  files?: Record<string, FileSpec>;
  code: number;
  /** The first stderr line, with the row's directory written as `$D`. */
  line: RegExp;
  /** Text that must not appear anywhere in the output (a password). */
  absent?: string;
  /** 'non-root': root reads a chmod 000 file anyway; 'server': uses the test backend. */
  needs?: 'non-root' | 'server';
}

const hostName = hostname().replace(/\s/g, '_') || 'localhost';
/** A lock held by a live process on this host: the jest parent (never our own pid, which
 *  checkpoint.ts treats as a stale lock of an earlier run in this process). */
const LIVE_LOCK = `mongo-tail ${process.ppid} ${hostName} 2024-05-01T12:00:00.000Z\n`;

const rows: Row[] = [
  // ---- namespaces
  { name: 'empty namespace', argv: [''], code: 2, line: /invalid namespace "": it is empty/ },
  {
    name: 'no database',
    argv: ['.orders'],
    code: 2,
    line: /invalid namespace "\.orders": the database name is empty/,
  },
  {
    name: 'empty collection',
    argv: ['shop.'],
    code: 2,
    line: /invalid namespace "shop\.": the collection name is empty/,
  },
  {
    name: 'space in a database name',
    argv: ['my shop.orders'],
    code: 2,
    line: /invalid namespace "my shop\.orders": database names cannot contain spaces/,
  },
  {
    name: 'slash in a database name',
    argv: ['a/b'],
    code: 2,
    line: /invalid namespace "a\/b": database names cannot contain "\/"/,
  },
  {
    name: 'database name over 63 bytes',
    argv: [`${'é'.repeat(32)}.c`],
    code: 2,
    line: /invalid namespace "é{32}\.c": database names are at most 63 bytes/,
  },
  {
    name: 'the admin database',
    argv: ['admin.users'],
    code: 2,
    line: /invalid namespace "admin\.users": MongoDB does not allow change streams on the admin database/,
  },
  {
    name: 'the config database',
    argv: ['CONFIG'],
    code: 2,
    line: /invalid namespace "CONFIG": MongoDB does not allow change streams on the CONFIG database/,
  },
  {
    name: 'a system collection',
    argv: ['shop.system.profile'],
    code: 2,
    line: /invalid namespace "shop\.system\.profile": MongoDB does not allow change streams on system collections/,
  },
  {
    name: '$ in a collection name',
    argv: ['shop.$cmd'],
    code: 2,
    line: /invalid namespace "shop\.\$cmd": collection names cannot contain "\$"/,
  },
  {
    name: 'collection ending in a dot',
    argv: ['shop.a.'],
    code: 2,
    line: /invalid namespace "shop\.a\.": a collection name cannot start or end with "\."/,
  },
  {
    name: 'nul in a collection name',
    argv: ['shop.a\0b'],
    code: 2,
    line: /invalid namespace "shop\.a\\0b": collection names cannot contain a nul character/,
  },
  {
    name: 'a newline in a bad namespace stays on one line',
    argv: ['my shop\n.orders'],
    code: 2,
    line: /invalid namespace "my shop\\n\.orders": database names cannot contain spaces/,
  },
  {
    name: 'one bad namespace among good ones',
    argv: ['shop.orders', 'shop.users', 'local'],
    code: 2,
    line: /invalid namespace "local": MongoDB does not allow change streams on the local database/,
  },

  // ---- operation types
  {
    name: 'unknown operation type',
    argv: ['--ops', 'insert,upsert', 'a.b'],
    code: 2,
    line: /--ops: unknown operation type "upsert"$/,
  },
  {
    name: 'operation type in the wrong case',
    argv: ['--ops', 'Delete', 'a.b'],
    code: 2,
    line: /--ops: unknown operation type "Delete" \(did you mean delete\?\)/,
  },
  {
    name: 'only commas',
    argv: ['--ops', ' , ,', 'a.b'],
    code: 2,
    line: /--ops needs at least one operation type/,
  },
  {
    name: 'expanded type without --expanded',
    argv: ['--ops', 'insert', '--ops', 'createIndexes', 'a.b'],
    code: 2,
    line: /--ops createIndexes needs --expanded/,
  },

  // ---- JSON
  {
    name: '--filter: broken JSON',
    argv: ['--filter', '{status: paid}', 'a.b'],
    code: 2,
    line: /^mongo-tail: --filter: invalid JSON/,
  },
  {
    name: '--filter: trailing garbage',
    argv: ['--filter', '{"a": 1} {"b": 2}', 'a.b'],
    code: 2,
    line: /^mongo-tail: --filter: invalid JSON/,
  },
  {
    name: '--filter: an array',
    argv: ['--filter', '[{"a": 1}]', 'a.b'],
    code: 2,
    line: /--filter must be a JSON object, got \[\{"a": 1\}\]/,
  },
  {
    name: '--filter: $where',
    argv: ['--filter', '{"$where": "this.a > 1"}', 'a.b'],
    code: 2,
    line: /--filter cannot use \$where/,
  },
  {
    name: '--filter: empty $or',
    argv: ['--filter', '{"$or": []}', 'a.b'],
    code: 2,
    line: /--filter: \$or needs a non-empty array of filters/,
  },
  {
    name: '--filter: $and of non-objects',
    argv: ['--filter', '{"$and": [1]}', 'a.b'],
    code: 2,
    line: /--filter: \$and entries must be objects/,
  },
  {
    name: '--filter: bad $oid',
    argv: ['--filter', '{"_id": {"$oid": "nope"}}', 'a.b'],
    code: 2,
    line: /^mongo-tail: --filter: invalid JSON: .*24 character hex/,
  },
  {
    // Defect: bson reads {"$date": "yesterday"} as an Invalid Date, which serializes as 1970:
    // the filter silently compares against the epoch.
    name: '--filter: a $date that is not a date',
    argv: ['--filter', '{"at": {"$gt": {"$date": "yesterday"}}}', 'a.b'],
    code: 2,
    line: /^mongo-tail: --filter: .*yesterday/,
  },
  {
    // Defect: bson truncates {"$numberInt": "1.5"} to 1 without a word.
    name: '--match: a $numberInt that is not an integer',
    argv: ['--match', '{"fullDocument.n": {"$numberInt": "1.5"}}', 'a.b'],
    code: 2,
    line: /^mongo-tail: --match: .*1\.5/,
  },
  {
    name: '--match: null',
    argv: ['--match', 'null', 'a.b'],
    code: 2,
    line: /--match must be a JSON object, got null/,
  },
  {
    // Defect: the message quotes the value with its newlines (three lines on stderr).
    name: '--filter: a multi-line array stays one line',
    argv: ['--filter', '[\n  {"status": "paid"}\n]', 'a.b'],
    code: 2,
    line: /^mongo-tail: --filter must be a JSON object/,
  },
  {
    name: '--pipeline: a stage that is not allowed',
    argv: ['--pipeline', '[{"$group": {"_id": null}}]', 'a.b'],
    code: 2,
    line: /--pipeline: \$group is not allowed in a change stream pipeline/,
  },
  {
    name: '--pipeline: two stage names in one object',
    argv: ['--pipeline', '[{"$match": {}, "$project": {"a": 1}}]', 'a.b'],
    code: 2,
    line: /--pipeline: stage 1 must be an object with one stage name/,
  },
  {
    name: '--pipeline: a number as a stage',
    argv: ['--pipeline', '[{"$match": {}}, 7]', 'a.b'],
    code: 2,
    line: /--pipeline: stage 2 must be an object with one stage name/,
  },
  {
    name: '--pipeline: the split stage not last',
    argv: ['--pipeline', '[{"$changeStreamSplitLargeEvent": {}}, {"$match": {}}]', 'a.b'],
    code: 2,
    line: /--pipeline: \$changeStreamSplitLargeEvent must be the last stage/,
  },
  {
    name: '--pipeline @file that does not exist',
    argv: ['--pipeline', '@$D/stages.json', 'a.b'],
    code: 2,
    line: /cannot read \$D\/stages\.json \(no such file or directory\)/,
  },
  {
    name: '--pipeline @file that is a directory',
    argv: ['--pipeline', '@$D/stages', 'a.b'],
    files: { stages: { dir: true } },
    code: 2,
    line: /cannot read \$D\/stages \(it is a directory\)/,
  },
  {
    name: '--pipeline @file that nobody may read',
    argv: ['--pipeline', '@$D/stages.json', 'a.b'],
    files: { 'stages.json': { unreadable: '[{"$match": {}}]' } },
    code: 2,
    line: /cannot read \$D\/stages\.json \(permission denied\)/,
    needs: 'non-root',
  },
  {
    name: '--pipeline @file with bad JSON',
    argv: ['--pipeline', '@$D/stages.json', 'a.b'],
    files: { 'stages.json': '[{"$match": {"a": 1}},]\n' },
    code: 2,
    line: /^mongo-tail: --pipeline @\$D\/stages\.json: invalid JSON/,
  },
  {
    // Defect: the JSON parser's message quotes the file's bytes, control characters and all.
    name: '--pipeline @file holding binary bytes',
    argv: ['--pipeline', '@$D/stages.bin', 'a.b'],
    files: { 'stages.bin': Buffer.from([0x1b, 0x5b, 0x32, 0x4a, 0x00, 0x07, 0xff, 0x0a]) },
    code: 2,
    line: /^mongo-tail: --pipeline @\$D\/stages\.bin: invalid JSON/,
  },

  // ---- tokens given as flags
  {
    name: '--resume-after: not a token',
    argv: ['--resume-after', 'yesterday', 'a.b'],
    code: 2,
    line: /--resume-after: not a resume token: yesterday/,
  },
  {
    name: '--resume-after: odd number of hex digits',
    argv: ['--resume-after', '8266D3EF2300000001F', 'a.b'],
    code: 2,
    line: /--resume-after: the token's _data is not hex: 8266D3EF2300000001F/,
  },
  {
    name: '--start-after: _data not a string',
    argv: ['--start-after', '{"_data": 82}', 'a.b'],
    code: 2,
    line: /--start-after: not a resume token \(no "_data" string\)/,
  },
  {
    name: '--start-after: extra fields',
    argv: ['--start-after', `{"_data": "${FOREIGN_TOKEN}", "clusterTime": 1}`, 'a.b'],
    code: 2,
    line: /--start-after: not a resume token \(unexpected fields\)/,
  },
  {
    // Defect: the shape of _data (byte 82, 9 bytes of cluster time) is not checked before
    // connecting: an unreachable server says exit 3, a reachable one exit 4.
    name: '--resume-after: hex that is no resume token',
    argv: ['--resume-after', '0000', 'a.b'],
    code: 2,
    line: /--resume-after: .*0000/,
  },
  {
    name: '--resume-after @file that is a directory',
    argv: ['--resume-after', '@$D', 'a.b'],
    code: 2,
    line: /--resume-after: cannot read \$D \(it is a directory\)/,
  },
  {
    name: '--start-after @file that is empty',
    argv: ['--start-after', '@$D/token', 'a.b'],
    files: { token: '\n' },
    code: 2,
    line: /--start-after: not a resume token: $/,
  },

  // ---- durations and numbers
  {
    name: 'a duration without a unit',
    argv: ['--connect-timeout', '10', 'a.b'],
    code: 2,
    line: /--connect-timeout: "10" has no unit/,
  },
  {
    name: 'a zero timeout',
    argv: ['--connect-timeout', '0ms', 'a.b'],
    code: 2,
    line: /--connect-timeout must be longer than 0, got "0ms"/,
  },
  {
    name: 'an unknown unit',
    argv: ['--idle-timeout', '5min', 'a.b'],
    code: 2,
    line: /--idle-timeout: "5min" is not a duration/,
  },
  {
    name: 'a duration over the timer limit',
    argv: ['--idle-timeout', '30d', 'a.b'],
    code: 2,
    line: /--idle-timeout: "30d" is too long/,
  },
  {
    name: 'a negative --retry-for',
    argv: ['--retry-for', '-1s', 'a.b'],
    code: 2,
    line: /--retry-for: "-1s" is not a duration/,
  },
  {
    name: '--max-await of 0',
    argv: ['--max-await', '0', 'a.b'],
    code: 2,
    line: /--max-await must be longer than 0, got "0"/,
  },
  {
    name: '--limit 0',
    argv: ['-n', '0', 'a.b'],
    code: 2,
    line: /--limit must be a whole number of at least 1, got "0"/,
  },
  {
    name: '--limit not whole',
    argv: ['--limit', '2.5', 'a.b'],
    code: 2,
    line: /--limit must be a whole number of at least 1, got "2\.5"/,
  },
  {
    name: '--batch-size beyond 2^53',
    argv: ['--batch-size', '99999999999999999999', 'a.b'],
    code: 2,
    line: /--batch-size must be a whole number of at least 1, got "99999999999999999999"/,
  },

  // ---- dates
  {
    name: '--since: words',
    argv: ['--since', 'last tuesday', 'a.b'],
    code: 2,
    line: /--since: "last tuesday" is not a time/,
  },
  {
    name: '--since: 30 February',
    argv: ['--since', '2024-02-30', 'a.b'],
    code: 2,
    line: /--since: "2024-02-30" is not a valid date/,
  },
  {
    name: '--since: a zone out of range',
    argv: ['--since', '2024-05-01T12:00:00+25:00', 'a.b'],
    code: 2,
    line: /--since: "2024-05-01T12:00:00\+25:00" is not a valid date/,
  },
  {
    name: '--since now',
    argv: ['--since', 'now', 'a.b'],
    code: 2,
    line: /--since now is the default/,
  },
  {
    name: '--since: before 1970',
    argv: ['--since', '1969-07-20T20:17:40Z', 'a.b'],
    code: 2,
    line: /--since: "1969-07-20T20:17:40Z" is before 1970/,
  },
  {
    name: '--since: after what a cluster time holds',
    argv: ['--since', '2200-01-01', 'a.b'],
    code: 2,
    line: /--since: "2200-01-01" is too far in the future/,
  },
  {
    name: '--since: a duration ago beyond any date',
    argv: ['--since', '99999999999999999999999d', 'a.b'],
    code: 2,
    line: /--since: "99999999999999999999999d" is before 1970/,
  },
  {
    name: '--since: T,I beyond 2^32',
    argv: ['--since', '1714564800,4294967296', 'a.b'],
    code: 2,
    line: /--since: "1714564800,4294967296": both parts of T,I must be below 2\^32/,
  },
  {
    name: '--since: a newline stays escaped',
    argv: ['--since', '15m\nago', 'a.b'],
    code: 2,
    line: /--since: "15m\\nago" is not a time/,
  },
  {
    name: '--until: a date too far ahead',
    argv: ['--until', '9999-12-31T23:59:59Z', 'a.b'],
    code: 2,
    line: /--until: "9999-12-31T23:59:59Z" is too far in the future/,
  },
  {
    name: '--until before --since',
    argv: ['--since', '2024-05-02T00:00:00Z', '--until', '2024-05-01T00:00:00Z', 'a.b'],
    code: 2,
    line: /--until 2024-05-01T00:00:00Z is before --since 2024-05-02T00:00:00Z/,
  },
  {
    name: '--until in the past from now',
    argv: ['--until', '2020-01-01T00:00:00Z', 'a.b'],
    code: 2,
    line: /--until 2020-01-01T00:00:00Z is in the past, and the stream starts now/,
  },

  // ---- conflicting and misplaced flags
  {
    name: 'two start positions',
    argv: ['--resume-after', FOREIGN_TOKEN, '--start-after', FOREIGN_TOKEN, 'a.b'],
    code: 2,
    line: /--resume-after and --start-after cannot be used together/,
  },
  {
    name: 'three start positions',
    argv: ['--since', '1h', '--start-after', FOREIGN_TOKEN, '--resume-after', FOREIGN_TOKEN],
    code: 2,
    line: /--resume-after and --start-after and --since cannot be used together/,
  },
  {
    name: '--color with a machine format',
    argv: ['--color', '-f', 'canonical', 'a.b'],
    code: 2,
    line: /--color applies to pretty output; canonical is never coloured/,
  },
  {
    name: '--checkpoint-interval without --token-file',
    argv: ['--checkpoint-interval', '5s', 'a.b'],
    code: 2,
    line: /--checkpoint-interval only applies with --token-file/,
  },
  {
    name: 'an unknown --format',
    argv: ['--format', 'JSON', 'a.b'],
    code: 2,
    line: /--format: unknown value "JSON"/,
  },
  {
    // Defect: the value is echoed raw, so its escape sequence reaches the terminal.
    name: 'an unknown --format holding a terminal escape',
    argv: ['--format', '\u001b]0;owned\u0007', 'a.b'],
    code: 2,
    line: /--format: unknown value/,
  },
  {
    name: 'an unknown --full-document mode',
    argv: ['--full-document', 'always', 'a.b'],
    code: 2,
    line: /--full-document: unknown value "always"/,
  },
  {
    name: 'an unknown --full-document-before-change mode',
    argv: ['--full-document-before-change', 'on', 'a.b'],
    code: 2,
    line: /--full-document-before-change: unknown value "on"/,
  },
  {
    name: 'a misspelt flag',
    argv: ['--idle-timout', '5s', 'a.b'],
    code: 2,
    line: /unknown option '--idle-timout' \(Did you mean --idle-timeout\?\)/,
  },
  {
    name: 'a flag without its value',
    argv: ['a.b', '--since'],
    code: 2,
    line: /option '--since <when>' argument missing/,
  },
  {
    name: 'a value for a switch',
    argv: ['--expanded=yes', 'a.b'],
    code: 2,
    line: /option '--expanded' does not take an argument|unknown option '--expanded=yes'/,
  },

  // ---- token files
  {
    name: 'corrupt token file',
    argv: ['--token-file', '$D/pos.json', 'a.b'],
    files: { 'pos.json': '{"_data": "8266D3EF23000000012B0' },
    code: 2,
    line: /token file \$D\/pos\.json does not hold a resume token/,
  },
  {
    name: 'binary token file',
    argv: ['--token-file', '$D/pos.json', 'a.b'],
    files: { 'pos.json': Buffer.from([0x82, 0x00, 0xff, 0xfe, 0x1b, 0x0a, 0x00]) },
    code: 2,
    line: /token file \$D\/pos\.json does not hold a resume token/,
  },
  {
    name: 'empty token file',
    argv: ['--token-file', '$D/pos.json', 'a.b'],
    files: { 'pos.json': '' },
    code: 2,
    line: /token file \$D\/pos\.json is empty/,
  },
  {
    name: 'token file of blanks',
    argv: ['--token-file', '$D/pos.json', 'a.b'],
    files: { 'pos.json': ' \n\t\n' },
    code: 2,
    line: /token file \$D\/pos\.json is empty/,
  },
  {
    name: 'token file naming another file',
    argv: ['--token-file', '$D/pos.json', 'a.b'],
    files: { 'pos.json': '@/etc/hostname\n' },
    code: 2,
    line: /token file \$D\/pos\.json does not hold a resume token/,
  },
  {
    name: 'token file holding two tokens',
    argv: ['--token-file', '$D/pos.json', 'a.b'],
    files: { 'pos.json': `{"_data":"${FOREIGN_TOKEN}"}\n{"_data":"${FOREIGN_TOKEN}"}\n` },
    code: 2,
    line: /token file \$D\/pos\.json does not hold a resume token/,
  },
  {
    // Defect: as for --resume-after 0000: a _data that cannot be a resume token is only
    // found out by the server (exit 4), or not at all when it is unreachable (exit 3).
    name: 'token file whose _data is no resume token',
    argv: ['--token-file', '$D/pos.json', 'a.b'],
    files: { 'pos.json': '{"_data":"0000"}\n' },
    code: 2,
    line: /token file \$D\/pos\.json does not hold a resume token/,
  },
  {
    name: 'token file that is a directory',
    argv: ['--token-file', '$D/pos', 'a.b'],
    files: { pos: { dir: true } },
    code: 2,
    line: /cannot read token file \$D\/pos \(it is a directory\)/,
  },
  {
    name: 'token file that nobody may read',
    argv: ['--token-file', '$D/pos.json', 'a.b'],
    files: { 'pos.json': { unreadable: `{"_data":"${FOREIGN_TOKEN}"}\n` } },
    code: 2,
    line: /cannot read token file \$D\/pos\.json \(permission denied\)/,
    needs: 'non-root',
  },
  {
    name: 'token file over 16 MiB',
    argv: ['--token-file', '$D/pos.json', 'a.b'],
    files: { 'pos.json': { size: 16 * 1024 * 1024 + 1 } },
    code: 2,
    line: /token file \$D\/pos\.json is larger than 16 MiB/,
  },
  {
    name: 'token file locked by a live process',
    argv: ['--token-file', '$D/pos.json', 'a.b'],
    files: {
      'pos.json': `{"_data":"${FOREIGN_TOKEN}"}\n`,
      'pos.json.mongo-tail.lock': LIVE_LOCK,
    },
    code: 2,
    line: new RegExp(
      `token file \\$D/pos\\.json is in use by another mongo-tail \\(pid ${process.ppid}\\)`,
    ),
  },
  {
    name: 'token file locked from another host',
    argv: ['--token-file', '$D/pos.json', 'a.b'],
    files: {
      'pos.json.mongo-tail.lock': 'mongo-tail 4242 build-box-7 2024-05-01T12:00:00.000Z\n',
    },
    code: 2,
    line: /token file \$D\/pos\.json is in use by another mongo-tail \(pid 4242 on host build-box-7\)/,
  },
  {
    name: 'token file under a regular file',
    argv: ['--token-file', '$D/notes.txt/pos.json', 'a.b'],
    files: { 'notes.txt': 'shopping list\n' },
    code: 2,
    line: /\$D\/notes\.txt\/pos\.json.* \(a parent is not a directory\)/,
  },
  {
    name: 'token file through a symlink loop',
    argv: ['--token-file', '$D/pos.json', 'a.b'],
    files: { 'pos.json': { symlink: 'loop.json' }, 'loop.json': { symlink: 'pos.json' } },
    code: 2,
    line: /\$D\/pos\.json/,
  },
  {
    name: 'an empty --token-file',
    argv: ['--token-file', ' ', 'a.b'],
    code: 2,
    line: /--token-file needs a file path/,
  },
  {
    name: 'a corrupt token file wins over --since (it is read first)',
    argv: ['--token-file', '$D/pos.json', '--since', '1h', 'a.b'],
    files: { 'pos.json': 'garbage\n' },
    code: 2,
    line: /token file \$D\/pos\.json does not hold a resume token/,
  },

  // ---- mongo-tail token
  {
    name: 'token: two arguments',
    argv: ['token', 'a', 'b'],
    code: 2,
    line: /too many arguments/,
  },
  {
    name: 'token: neither a file nor a token',
    argv: ['token', 'pos.json.bak'],
    code: 2,
    line: /pos\.json\.bak: no such file, and not a resume token/,
  },
  {
    name: 'token: too short',
    argv: ['token', '82'],
    code: 2,
    line: /not a resume token: "_data" is too short \(1 bytes\)/,
  },
  {
    name: 'token: a directory',
    argv: ['token', '$D'],
    code: 2,
    line: /\$D is not a file, and not a resume token/,
  },
  {
    name: 'token: a binary file',
    argv: ['token', '$D/pos.json'],
    files: { 'pos.json': Buffer.from([0xde, 0xad, 0xbe, 0xef]) },
    code: 2,
    line: /\$D\/pos\.json does not hold a resume token/,
  },
  {
    name: 'token: a file over 16 MiB',
    argv: ['token', '$D/big.json'],
    files: { 'big.json': { size: 17 * 1024 * 1024 } },
    code: 2,
    line: /\$D\/big\.json: the file is larger than 16 MiB/,
  },
  {
    name: 'token: a file nobody may read',
    argv: ['token', '$D/pos.json'],
    files: { 'pos.json': { unreadable: `{"_data":"${FOREIGN_TOKEN}"}\n` } },
    code: 2,
    line: /cannot read \$D\/pos\.json \(permission denied\)/,
    needs: 'non-root',
  },

  // ---- connection strings
  {
    name: 'not a mongodb:// URI',
    argv: ['--uri', 'http://localhost:27017', 'a.b'],
    code: 2,
    line: /--uri must start with mongodb:\/\/ or mongodb\+srv:\/\//,
  },
  {
    name: 'a URI without hosts',
    argv: ['--uri', 'mongodb://', 'a.b'],
    code: 2,
    line: /invalid connection string: /,
  },
  {
    name: 'a URI with an unknown option',
    argv: ['--uri', 'mongodb://127.0.0.1:1/?readPreferenceTag=x', 'a.b'],
    code: 2,
    line: /invalid connection string: option readpreferencetag is not supported/,
  },
  {
    name: 'a URI with a bad option value',
    argv: ['--uri', 'mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=soon', 'a.b'],
    code: 2,
    line: /invalid connection string: .*serverSelectionTimeoutMS.*soon/,
  },
  {
    name: 'a URI with a port out of range',
    argv: ['--uri', 'mongodb://db1:99999/', 'a.b'],
    code: 2,
    line: /invalid connection string: /,
  },
  {
    name: 'a mongodb+srv URI with a port',
    argv: ['--uri', 'mongodb+srv://cluster0.example.invalid:27017/', 'a.b'],
    code: 2,
    line: /invalid connection string: mongodb\+srv URI cannot have port number/,
  },
  {
    name: 'a bad URI holding a password: the password is masked',
    argv: ['--uri', 'mongodb://alice:hunter2pw@127.0.0.1:1/?bogusOption=1', 'a.b'],
    code: 2,
    line: /invalid connection string: option bogusoption is not supported/,
    absent: 'hunter2pw',
  },
  {
    name: 'an unreachable host',
    argv: ['--uri', 'mongodb://127.0.0.1:9/', '--connect-timeout', '300ms', 'a.b'],
    code: 3,
    line: /^mongo-tail: cannot connect to mongodb:\/\/127\.0\.0\.1:9\/: /,
  },
  {
    name: 'a host that does not resolve',
    argv: ['--uri', 'mongodb://db.nonexistent.invalid/', '--connect-timeout', '300ms', 'a.b'],
    code: 3,
    line: /^mongo-tail: cannot connect to mongodb:\/\/db\.nonexistent\.invalid\/: /,
  },
  {
    name: 'mongodb+srv without a DNS record, password masked',
    argv: [
      '--uri',
      'mongodb+srv://alice:hunter2pw@cluster0.nonexistent.invalid/',
      '--connect-timeout',
      '300ms',
      'a.b',
    ],
    code: 3,
    line: /^mongo-tail: cannot connect to mongodb\+srv:\/\/alice:\*\*\*\*@cluster0\.nonexistent\.invalid\/: /,
    absent: 'hunter2pw',
  },
  {
    name: 'an unreachable host with a password: masked',
    argv: ['--uri', 'mongodb://alice:hunter2pw@127.0.0.1:1/', '--connect-timeout', '300ms', 'a.b'],
    code: 3,
    line: /^mongo-tail: cannot connect to mongodb:\/\/alice:\*\*\*\*@127\.0\.0\.1:1\/: /,
    absent: 'hunter2pw',
  },

  // ---- rejected by a live server
  {
    name: 'a token file of another deployment',
    argv: ['--uri', '$URI', '--token-file', '$D/pos.json', '$NS'],
    files: { 'pos.json': `{"_data":"${FOREIGN_TOKEN}"}\n` },
    code: 4,
    line: /^mongo-tail: cannot resume .*1725165347,1/,
    needs: 'server',
  },
  {
    name: '--start-after a token of another deployment',
    argv: ['--uri', '$URI', '--start-after', FOREIGN_TOKEN, '$NS'],
    code: 4,
    line: /^mongo-tail: cannot resume .*1725165347,1/,
    needs: 'server',
  },
];

interface Entry {
  kind: 'file' | 'dir' | 'symlink';
  size: number;
  mtimeMs: number;
  mode: number;
  sha?: string;
}

/** Everything under `dir`: names, sizes, times, modes, and the bytes of small files. */
async function snapshot(dir: string): Promise<Record<string, Entry>> {
  const out: Record<string, Entry> = {};
  const walk = async (rel: string): Promise<void> => {
    for (const name of await readdir(join(dir, rel))) {
      const path = join(dir, rel, name);
      const info = await lstat(path);
      const kind = info.isSymbolicLink() ? 'symlink' : info.isDirectory() ? 'dir' : 'file';
      const entry: Entry = { kind, size: info.size, mtimeMs: info.mtimeMs, mode: info.mode };
      if (kind === 'file' && info.size <= 1024 * 1024 && (info.mode & 0o444) !== 0) {
        entry.sha = createHash('sha256')
          .update(await readFile(path))
          .digest('hex');
      }
      out[join(rel, name)] = entry;
      if (kind === 'dir') await walk(join(rel, name));
    }
  };
  await walk('');
  return out;
}

async function create(dir: string, files: Record<string, FileSpec>): Promise<void> {
  for (const [name, spec] of Object.entries(files)) {
    const path = join(dir, name);
    if (typeof spec === 'string' || Buffer.isBuffer(spec)) await writeFile(path, spec);
    else if ('dir' in spec) await mkdir(path);
    else if ('size' in spec) {
      await writeFile(path, '');
      await truncate(path, spec.size);
    } else if ('unreadable' in spec) {
      await writeFile(path, spec.unreadable);
      await chmod(path, 0o000);
    } else await symlink(spec.symlink, path);
  }
}

let root: string;
let client: MongoClient | undefined;
let ns = '';

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'mongo-tail-bad-input-'));
  // A collection holding one event: resuming there from a foreign token meets an event that
  // is not the token's, which a server refuses (280) — or 286 if its history no longer
  // reaches back to the token's time.
  client = await connect();
  ns = `${uniqueDbName('badinput')}.c`;
  const [db = '', coll = ''] = ns.split('.');
  await client.db(db).collection(coll).insertOne({ n: 1 });
}, 20_000);

afterAll(async () => {
  await client?.close();
  await rm(root, { recursive: true, force: true });
});

test('the table has at least 50 rows', () => {
  expect(rows.length).toBeGreaterThanOrEqual(50);
  expect(new Set(rows.map((row) => row.name)).size).toBe(rows.length);
});

test.each(rows.map((row) => [row.name, row] as const))(
  '%s',
  async (_name, row) => {
    if (row.needs === 'non-root' && process.getuid?.() === 0) {
      console.log(`skipping: ${row.name}: running as root, which reads a chmod 000 file anyway`);
      return;
    }
    const dir = await mkdtemp(join(root, 'row-'));
    await create(dir, row.files ?? {});
    const before = await snapshot(dir);
    const argv = row.argv.map((arg) =>
      arg.replaceAll('$D', dir).replaceAll('$URI', testUri()).replaceAll('$NS', ns),
    );

    const result = await runCli(argv, { env: { MONGODB_URI: UNREACHABLE } });

    const shown = { argv, ...result };
    expect(shown).toMatchObject({ code: row.code, stdout: '' });
    // One line naming the problem, at most one hint, no stack, no control characters.
    expect(result.stderr).toMatch(/^mongo-tail: [^\n]*\n(hint: [^\n]*\n)?$/);
    expect(result.stderr.split('\n')[0]?.replaceAll(dir, '$D')).toMatch(row.line);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    // eslint-disable-next-line no-control-regex -- a control character is what must not be there
    expect(result.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
    if (row.absent !== undefined) expect(result.stderr).not.toContain(row.absent);
    // Inputs as they were, nothing added, nothing left behind (a lock, a temp file).
    expect(await snapshot(dir)).toEqual(before);
  },
  15_000,
);

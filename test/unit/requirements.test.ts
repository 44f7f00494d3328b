import {
  checkRunOn,
  compareVersions,
  parseVersion,
  schemaSupported,
} from '../conformance/requirements.js';
import type { ServerFacts } from '../conformance/requirements.js';

const rs80: ServerFacts = {
  version: [8, 0, 4],
  topology: 'replicaset',
  serverless: false,
  auth: false,
};

describe('versions', () => {
  test('parse pads and drops pre-release suffixes', () => {
    expect(parseVersion('4')).toEqual([4, 0, 0]);
    expect(parseVersion('3.6')).toEqual([3, 6, 0]);
    expect(parseVersion('4.9.0-alpha4-271-g7d5cf02')).toEqual([4, 9, 0]);
    expect(() => parseVersion('x.1')).toThrow('invalid version');
  });

  test('compare numerically per component', () => {
    expect(compareVersions([4, 0, 10], [4, 0, 9])).toBe(1);
    expect(compareVersions([3, 6, 0], [4, 0, 10])).toBe(-1);
    expect(compareVersions([4, 2, 0], [4, 2, 0])).toBe(0);
  });
});

describe('checkRunOn', () => {
  test('no requirements: run', () => {
    expect(checkRunOn(undefined, rs80)).toEqual({ ok: true });
    expect(checkRunOn([], rs80)).toEqual({ ok: true });
  });

  test('min and max are inclusive', () => {
    expect(checkRunOn([{ minServerVersion: '8.0.4' }], rs80).ok).toBe(true);
    expect(checkRunOn([{ minServerVersion: '8.0.5' }], rs80)).toEqual({
      ok: false,
      reason: 'needs server >= 8.0.5 (server is 8.0.4)',
    });
    expect(checkRunOn([{ maxServerVersion: '8.0.4' }], rs80).ok).toBe(true);
    expect(checkRunOn([{ maxServerVersion: '4.2.99' }], rs80)).toEqual({
      ok: false,
      reason: 'needs server <= 4.2.99 (server is 8.0.4)',
    });
  });

  test('topologies', () => {
    expect(checkRunOn([{ topologies: ['replicaset', 'sharded'] }], rs80).ok).toBe(true);
    expect(checkRunOn([{ topologies: ['single'] }], rs80)).toEqual({
      ok: false,
      reason: 'needs topology single (server is replicaset)',
    });
    const sharded: ServerFacts = { ...rs80, topology: 'sharded' };
    expect(checkRunOn([{ topologies: ['sharded-replicaset'] }], sharded).ok).toBe(true);
  });

  test('any one requirement of the list suffices (the disambiguatedPaths pattern)', () => {
    const reqs = [
      { minServerVersion: '6.1.0', maxServerVersion: '8.1.99', topologies: ['replicaset'] },
      { minServerVersion: '8.2.1', topologies: ['replicaset'] },
    ];
    expect(checkRunOn(reqs, rs80).ok).toBe(true);
    expect(checkRunOn(reqs, { ...rs80, version: [8, 2, 0] })).toEqual({
      ok: false,
      reason:
        'needs server <= 8.1.99 (server is 8.2.0); or needs server >= 8.2.1 (server is 8.2.0)',
    });
  });

  test('serverless and auth', () => {
    expect(checkRunOn([{ serverless: 'forbid' }], rs80).ok).toBe(true);
    expect(checkRunOn([{ serverless: 'require' }], rs80).ok).toBe(false);
    expect(checkRunOn([{ serverless: 'forbid' }], { ...rs80, serverless: true }).ok).toBe(false);
    expect(checkRunOn([{ auth: true }], rs80).ok).toBe(false);
    expect(checkRunOn([{ auth: false }], rs80).ok).toBe(true);
  });

  test('requirements the runner cannot evaluate skip rather than run blind', () => {
    expect(checkRunOn([{ serverParameters: { x: 1 } }], rs80)).toEqual({
      ok: false,
      reason: 'requirement "serverParameters" is not supported by this runner',
    });
    expect(checkRunOn([{ csfle: false }], rs80).ok).toBe(true);
  });
});

describe('schemaSupported', () => {
  test('1.0 through 1.7 (any patch) yes; newer minors and other majors no', () => {
    expect(schemaSupported('1.0')).toBe(true);
    expect(schemaSupported('1.4')).toBe(true);
    expect(schemaSupported('1.7.3')).toBe(true);
    expect(schemaSupported('1.8')).toBe(false);
    expect(schemaSupported('2.0')).toBe(false);
  });
});

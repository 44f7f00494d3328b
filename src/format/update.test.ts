import { Int32 } from 'bson';
import { PLAIN } from './style.js';
import { ABSENT, formatUpdate, valueAtPath } from './update.js';

describe('valueAtPath', () => {
  const doc = { a: { b: 1, 'x.y': 2, '0': 'zero-key' }, arr: [10, { c: 3 }], n: null };
  test.each([
    ['a.b', undefined, 1],
    ['arr.0', undefined, 10],
    ['arr.1.c', undefined, 3],
    ['n', undefined, null],
    ['a.x.y', ['a', 'x.y'], 2],
    ['a.0', ['a', '0'], 'zero-key'],
    ['arr.1', ['arr', 1], { c: 3 }],
  ] as const)('%s (components %j)', (path, components, expected) => {
    expect(valueAtPath(doc, path, components)).toEqual(expected);
  });

  test.each([['missing'], ['a.b.c'], ['arr.5'], ['arr.-1'], ['arr.x'], ['n.x']])(
    '%s is absent',
    (path) => {
      expect(valueAtPath(doc, path)).toBe(ABSENT);
    },
  );
});

describe('formatUpdate', () => {
  test('disambiguatedPaths find a field whose name holds a dot', () => {
    const ud = {
      updatedFields: { 'a.x.y': new Int32(9) },
      removedFields: [],
      truncatedArrays: [],
      disambiguatedPaths: { 'a.x.y': ['a', 'x.y'] },
    };
    expect(formatUpdate(ud, { a: { 'x.y': new Int32(2) } }, PLAIN)).toBe("$set { 'a.x.y': 2 → 9 }");
  });

  test('numeric components arriving as Int32 still index arrays', () => {
    const ud = {
      updatedFields: { 'arr.1': 'z' },
      removedFields: [],
      truncatedArrays: [],
      disambiguatedPaths: { 'arr.1': ['arr', new Int32(1)] },
    };
    expect(formatUpdate(ud, { arr: ['a', 'b'] }, PLAIN)).toBe("$set { 'arr.1': 'b' → 'z' }");
  });

  test('a null pre-image (whenAvailable, none stored) falls back to the plain view', () => {
    const ud = { updatedFields: { a: new Int32(1) }, removedFields: ['b'], truncatedArrays: [] };
    expect(formatUpdate(ud, null, PLAIN)).toBe('$set { a: 1 } $unset [b]');
  });

  test('nothing to show: empty string', () => {
    expect(
      formatUpdate({ updatedFields: {}, removedFields: [], truncatedArrays: [] }, undefined, PLAIN),
    ).toBe('');
    expect(formatUpdate(undefined, undefined, PLAIN)).toBe('');
  });

  test('only truncation', () => {
    const ud = {
      updatedFields: {},
      removedFields: [],
      truncatedArrays: [{ field: 'a.b', newSize: new Int32(0) }],
    };
    expect(formatUpdate(ud, undefined, PLAIN)).toBe("truncated ['a.b'→0]");
  });
});

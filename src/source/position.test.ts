import { Timestamp } from 'bson';
import { ResumePosition, tokenTime } from './position.js';

const A = { _data: '8266D3EF23000000012B' };
const B = { _data: '8266D3EF24000000012B' };

test('tokenTime reads the cluster time from bytes 1–8', () => {
  expect(tokenTime({ _data: '8266D3EF23000000012B042C0100296E5A1004' })).toEqual(
    new Timestamp({ t: 1725165347, i: 1 }),
  );
  expect(tokenTime({ _data: '00AB' })).toBeUndefined();
});

describe('ResumePosition (the drivers change-stream spec)', () => {
  test('starts where asked', () => {
    const since = { kind: 'since', ts: new Timestamp({ t: 1, i: 1 }) } as const;
    expect(new ResumePosition(since).current).toBe(since);
  });

  test('after events: resumeAfter the end of the last batch', () => {
    const position = new ResumePosition({ kind: 'now' });
    position.opened();
    position.consumed(A);
    expect(position.current).toEqual({ kind: 'resumeAfter', token: A });
  });

  test('an empty batch moves the position to its post-batch resume token', () => {
    const position = new ResumePosition({ kind: 'resumeAfter', token: A });
    position.opened();
    position.caughtUp(B);
    expect(position.current).toEqual({ kind: 'resumeAfter', token: B });
  });

  test('startAfter is kept until the first event came (resumeAfter an invalidate fails)', () => {
    const position = new ResumePosition({ kind: 'startAfter', token: A });
    position.opened();
    position.caughtUp(B);
    expect(position.current).toEqual({ kind: 'startAfter', token: B });
    position.opened();
    position.consumed(A);
    position.caughtUp(B);
    expect(position.current).toEqual({ kind: 'resumeAfter', token: B });
  });

  test('an invalidate: the next stream starts after its token', () => {
    const position = new ResumePosition({ kind: 'now' });
    position.opened();
    position.consumed(A);
    position.invalidated(B);
    expect(position.current).toEqual({ kind: 'startAfter', token: B });
    position.opened();
    position.caughtUp(A);
    expect(position.current).toEqual({ kind: 'startAfter', token: A });
  });
});

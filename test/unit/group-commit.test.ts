import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../src/store/group-commit.js';
import type { EventWrite, EventWriteResult, OpResult } from '../../src/store/types.js';

function write(key: string): EventWrite {
  return { dedupeKey: key, ops: [] };
}

/** A commit that records each group's keys and answers every write with its own key as a result. */
function recordingCommit(fail?: (keys: string[]) => boolean) {
  const groups: string[][] = [];
  const commit = async (writes: readonly EventWrite[]): Promise<EventWriteResult[]> => {
    const keys = writes.map((w) => w.dedupeKey!);
    groups.push(keys);
    if (fail?.(keys)) throw new Error(`group ${keys.join(',')} failed`);
    return keys.map((k): EventWriteResult => ({ duplicate: false, results: [k as unknown as OpResult] }));
  };
  return { groups, commit };
}

const keysOf = (results: EventWriteResult[]) => results.map((r) => (r.duplicate ? 'dup' : String(r.results[0])));

describe('GroupCommit', () => {
  it('commits the applies of one turn together and gives each caller its own results', async () => {
    const { groups, commit } = recordingCommit();
    const group = new GroupCommit(commit);
    const a = group.add([write('a1'), write('a2')]);
    const b = group.add([write('b1')]);
    expect(groups).toEqual([]);
    expect(group.idle).toBe(false);
    expect(keysOf(await a)).toEqual(['a1', 'a2']);
    expect(keysOf(await b)).toEqual(['b1']);
    expect(groups).toEqual([['a1', 'a2', 'b1']]);
    expect(group.idle).toBe(true);
  });

  it('sends a group as soon as it holds leaveAt writes, without waiting for the turn to end', async () => {
    const { groups, commit } = recordingCommit();
    const group = new GroupCommit(commit, 3);
    const calls = [group.add([write('a')]), group.add([write('b')])];
    expect(groups).toEqual([]);
    calls.push(group.add([write('c1'), write('c2')]));
    // Left at once, in this turn: Redis can run it while the process parses the next requests.
    expect(groups).toEqual([['a', 'b', 'c1', 'c2']]);
    calls.push(group.add([write('d')]));
    expect(groups).toHaveLength(1);
    const results = await Promise.all(calls);
    expect(results.map(keysOf)).toEqual([['a'], ['b'], ['c1', 'c2'], ['d']]);
    expect(groups).toEqual([['a', 'b', 'c1', 'c2'], ['d']]);
  });

  it('never splits one caller\'s writes, however many', async () => {
    const { groups, commit } = recordingCommit();
    const group = new GroupCommit(commit, 2);
    const big = Array.from({ length: 5 }, (_, i) => write(`w${i}`));
    expect(keysOf(await group.add(big))).toEqual(['w0', 'w1', 'w2', 'w3', 'w4']);
    expect(groups).toEqual([['w0', 'w1', 'w2', 'w3', 'w4']]);
  });

  it('fails every caller of a failed group and no caller of another', async () => {
    const { commit } = recordingCommit((keys) => keys.includes('bad'));
    const group = new GroupCommit(commit, 2);
    const first = group.add([write('ok1'), write('bad')]);
    const second = group.add([write('ok2')]);
    await expect(first).rejects.toThrow('group ok1,bad failed');
    expect(keysOf(await second)).toEqual(['ok2']);
  });
});

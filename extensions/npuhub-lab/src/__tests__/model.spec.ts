import { StatusAnswer } from '../handler';
import { StatusModel, localizeFlavors, stateOf } from '../model';
import { me, status } from './fixtures';

function visibility(state: 'visible' | 'hidden') {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
  document.dispatchEvent(new Event('visibilitychange'));
}

describe('stateOf', () => {
  it('knows an older or unversioned server part', () => {
    expect(stateOf(status({ server_part: undefined }))).toEqual({ kind: 'older', api: null });
    expect(stateOf(status({ server_part: { version: '0.0.1', api: 0 } }))).toEqual({
      kind: 'older',
      api: 0
    });
  });

  it('knows an unreachable service', () => {
    const st = status({ available: false, error: { error: 'x / y', reason: 'down' } });
    expect(stateOf(st)).toMatchObject({ kind: 'down', error: 'x / y' });
  });
});

describe('localizeFlavors', () => {
  const both = status({
    me: me({
      flavors: [
        { id: 'q', name: '¼ 张 910B / ¼ Ascend 910B', names: { zh: '¼ 张 910B', en: '¼ Ascend 910B' }, share: '1/4', model: 'Ascend 910B' },
        { id: 'old', name: 'x / y', share: '0', model: null }
      ]
    })
  });

  it('picks Chinese for any zh language and English otherwise', () => {
    expect(localizeFlavors(both, 'zh-CN').me?.flavors.map(f => f.name)).toEqual(['¼ 张 910B', 'x / y']);
    expect(localizeFlavors(both, 'en').me?.flavors.map(f => f.name)).toEqual(['¼ Ascend 910B', 'x / y']);
  });
});

describe('StatusModel polling', () => {
  let model: StatusModel;
  let answers: StatusAnswer[];
  let fetch: jest.Mock;

  beforeEach(() => {
    jest.useFakeTimers();
    visibility('visible');
    answers = [];
    fetch = jest.fn(async (etag: string | null) => answers.shift() ?? { kind: 'unchanged' });
    model = new StatusModel({ fetch });
  });

  afterEach(() => {
    model.dispose();
    jest.useRealTimers();
  });

  async function tick(seconds: number) {
    await jest.advanceTimersByTimeAsync(seconds * 1000);
  }

  it("polls at the server's interval, with the ETag it got", async () => {
    answers.push({ kind: 'fresh', status: status({ interval: 30 }), etag: '"abc"' });
    await model.refresh();
    expect(model.state.kind).toBe('ok');
    expect(model.interval).toBe(30);
    await tick(29);
    expect(fetch).toHaveBeenCalledTimes(1);
    await tick(1);
    expect(fetch).toHaveBeenCalledTimes(2);
    expect(fetch).toHaveBeenLastCalledWith('"abc"');
    expect(model.state.kind).toBe('ok');
  });

  it("lets the user's setting make it longer, never shorter", async () => {
    model.userInterval = 5;
    expect(model.interval).toBe(15);
    model.userInterval = 60;
    expect(model.interval).toBe(60);
  });

  it('slows to once a minute while the page is hidden and refreshes when it is shown', async () => {
    answers.push({ kind: 'fresh', status: status(), etag: null });
    await model.refresh();
    visibility('hidden');
    await tick(59);
    expect(fetch).toHaveBeenCalledTimes(1);
    // still polled while hidden: a warning before a stop must reach the save logic
    answers.push({ kind: 'unchanged' });
    await tick(1);
    expect(fetch).toHaveBeenCalledTimes(2);
    answers.push({ kind: 'unchanged' });
    visibility('visible');
    await tick(0);
    expect(fetch).toHaveBeenCalledTimes(3);
  });

  it('tells every poll, changed or not (304), to those who act at each poll', async () => {
    const changed: string[] = [];
    const polled: string[] = [];
    model.changed.connect((_, s) => changed.push(s.kind));
    model.polled.connect((_, s) => polled.push(s.kind));
    answers.push({ kind: 'fresh', status: status(), etag: '"a"' });
    await model.refresh();
    answers.push({ kind: 'unchanged' });
    await tick(15);
    expect(changed).toEqual(['ok']);
    expect(polled).toEqual(['ok', 'ok']);
  });

  it('keeps the last status when its own server cannot be reached', async () => {
    const last = status();
    answers.push({ kind: 'fresh', status: last, etag: null });
    await model.refresh();
    answers.push({ kind: 'failed', message: 'Network error' });
    await model.refresh();
    expect(model.state).toEqual({ kind: 'down', error: 'Network error', status: last });
  });

  it('tells the views when the server part is missing', async () => {
    const seen: string[] = [];
    model.changed.connect((_, s) => seen.push(s.kind));
    answers.push({ kind: 'missing' });
    await model.refresh();
    expect(seen).toEqual(['missing']);
  });
});

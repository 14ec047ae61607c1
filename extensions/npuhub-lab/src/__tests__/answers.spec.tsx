/**
 * How the front end reads the service's answers (issues 9 and 10): one
 * language out of `{zh, en}`, a restarting service waited out with the last
 * status kept on show, the quota bar agreeing with its sentence, exact shares.
 */
import { Gettext } from '@jupyterlab/translation';
import * as React from 'react';

import { Panel } from '../components/Panel';
import { StatusText } from '../components/StatusText';
import { readError, StatusAnswer } from '../handler';
import { pickText, StatusModel, stateOf } from '../model';
import { IStatus, State } from '../tokens';
import { formatHours, sliceLabel } from '../view';
import { account, me, request, status, trans } from './fixtures';
import { cleanup, render } from './render';

declare const require: (path: string) => any;
const zh = require('../../npuhub_lab/locale/zh_CN/LC_MESSAGES/npuhub_lab.json');

afterEach(cleanup);

const RESTARTING = {
  error: 'npuhub 服务正在重启，请稍候… / The npuhub service is restarting; trying again…',
  reason: 'service_restarting',
  message: { zh: 'npuhub 服务正在重启，请稍候…', en: 'The npuhub service is restarting; trying again…' }
};

function restarting(): IStatus {
  return status({ available: false, me: null, pool: null, reservations: null, error: RESTARTING });
}

function chinese(): Gettext {
  const bundle = new Gettext({ domain: 'npuhub_lab', locale: 'zh_CN' });
  bundle.loadJSON({ ...zh, '': { ...zh[''], pluralForms: zh[''].plural_forms } }, 'npuhub_lab');
  return bundle;
}

describe("the service's sentences in one language", () => {
  const refused = {
    error: '没有这个请求。 / There is no request r-1.',
    reason: 'not_found',
    message: { zh: '没有这个请求。', en: 'There is no request r-1.' }
  };

  it("picks JupyterLab's language, and takes an older service's one string as it is", () => {
    expect(pickText(refused.message, 'zh-CN')).toBe('没有这个请求。');
    expect(pickText(refused.message, 'en')).toBe('There is no request r-1.');
    expect(pickText('旧 / old', 'en')).toBe('旧 / old');
    expect(pickText(null, 'en')).toBe('');
  });

  it('shows an error of the status in that language', () => {
    const st = status({ available: false, me: null, error: refused });
    expect(stateOf(st, 'zh-CN')).toMatchObject({ kind: 'down', error: '没有这个请求。', reason: 'not_found' });
    expect(stateOf(st, 'en')).toMatchObject({ kind: 'down', error: 'There is no request r-1.' });
    const old = status({ available: false, me: null, error: { error: 'x / y', reason: 'down' } });
    expect(stateOf(old, 'en')).toMatchObject({ kind: 'down', error: 'x / y' });
  });

  it('reads a refusal of the server part in both forms, and a page that is not JSON', async () => {
    const answer = (body: string, status: number, type = 'application/json') =>
      new Response(body, { status, headers: { 'Content-Type': type } });
    expect(await readError(answer(JSON.stringify(refused), 404))).toEqual(refused);
    expect(await readError(answer('{"error": "a / b", "reason": "x"}', 409))).toEqual({ error: 'a / b', reason: 'x' });
    expect(await readError(answer('<html>503</html>', 503, 'text/html'))).toMatchObject({ reason: 'http_503' });
  });
});

describe('a restarting service', () => {
  let model: StatusModel;
  let answers: StatusAnswer[];
  let fetch: jest.Mock;

  beforeEach(() => {
    jest.useFakeTimers();
    answers = [];
    fetch = jest.fn(async () => answers.shift() ?? { kind: 'fresh', status: restarting(), etag: null });
    model = new StatusModel({ fetch, language: 'zh-CN' });
  });

  afterEach(() => {
    model.dispose();
    jest.useRealTimers();
  });

  it('keeps the last status on show, and asks again soon, more slowly each time', async () => {
    const last = status({ me: me({ holdings: [request()] }) });
    answers.push({ kind: 'fresh', status: last, etag: null });
    await model.refresh();
    await model.refresh(); // the service goes away: the proxy's page, said as "restarting"
    expect(model.state).toMatchObject({
      kind: 'down',
      reason: 'service_restarting',
      error: 'npuhub 服务正在重启，请稍候…',
      status: { me: last.me }
    });
    const calls = fetch.mock.calls.length;
    await jest.advanceTimersByTimeAsync(2000);
    expect(fetch).toHaveBeenCalledTimes(calls + 1);
    await jest.advanceTimersByTimeAsync(3999);
    expect(fetch).toHaveBeenCalledTimes(calls + 1);
    await jest.advanceTimersByTimeAsync(1);
    expect(fetch).toHaveBeenCalledTimes(calls + 2);
    // back: the fresh status, and the server's interval again
    answers.push({ kind: 'fresh', status: status(), etag: null });
    await jest.advanceTimersByTimeAsync(8000);
    expect(model.state.kind).toBe('ok');
    const back = fetch.mock.calls.length;
    await jest.advanceTimersByTimeAsync(14000);
    expect(fetch).toHaveBeenCalledTimes(back);
    await jest.advanceTimersByTimeAsync(1000);
    expect(fetch).toHaveBeenCalledTimes(back + 1);
  });

  it('says so in the status bar and the panel, with what was last known', () => {
    const known = status({ me: me({ holdings: [request()] }), fetched_at: '2026-11-24T10:00:00Z' });
    const state: State = { ...stateOf(restarting(), 'en'), status: known } as State;
    const bar = render(<StatusText state={state} trans={trans} />);
    expect(bar.textContent).toBe('The npuhub service is restarting; trying again…');
    const panel = render(<Panel state={state} trans={trans} />);
    expect(panel.querySelector('.jp-npuhub-problem')!.textContent).toBe(
      'The npuhub service is restarting; trying again…'
    );
    expect(panel.querySelector('.jp-npuhub-holdings')!.textContent).toContain('1/4 Ascend 910B');
    const zhBar = render(<StatusText state={stateOf(restarting(), 'zh-CN')} trans={chinese()} />);
    expect(zhBar.textContent).toBe('npuhub 服务正在重启，请稍候…');
  });
});

describe('numbers as people read them', () => {
  it("fills the quota bar as far as the sentence says: the balance over the period's grant", () => {
    const full = { ...account('user:alice', 10, 10), cap: { device_hours: 20, exact: '20' } };
    const half = { ...account('group:lab-x', 5, 10), cap: { device_hours: 20, exact: '20' } };
    const over = account('group:lab-y', 15, 10); // top-ups can take a balance over the grant
    const el = render(<Panel state={stateOf(status({ me: me({ accounts: [full, half, over] }) }))} trans={trans} />);
    const [a, b, c] = Array.from(el.querySelectorAll('.jp-npuhub-quota-account'));
    expect(a.textContent).toContain('10 h left of 10 h this week');
    expect((a.querySelector('.jp-npuhub-bar-fill') as HTMLElement).style.width).toBe('100.0%');
    expect((b.querySelector('.jp-npuhub-bar-fill') as HTMLElement).style.width).toBe('50.0%');
    expect((c.querySelector('.jp-npuhub-bar-fill') as HTMLElement).style.width).toBe('100.0%');
  });

  it('never says -0 hours', () => {
    expect([formatHours(-0), formatHours(-0.04), formatHours(-3), formatHours(0.04)]).toEqual(['0', '0', '0', '0']);
  });

  it('shows a share of 1/120 as a fraction', () => {
    expect(sliceLabel(request({ share: '1/120' }))).toBe('1/120 Ascend 910B');
    const el = render(
      <Panel
        state={stateOf(
          status({
            me: me({ holdings: [request({ share: '1/120' })] }),
            pool: { models: [{ model: 'Ascend 910B', vendor: 'ascend', capacity: '1', held: '1/120', free: '119/120', reserved: '0', waiting: 0 }] }
          })
        )}
        trans={trans}
      />
    );
    expect(el.querySelector('.jp-npuhub-holding strong')!.textContent).toBe('1/120 Ascend 910B');
    expect(el.querySelector('.jp-npuhub-pool-numbers')!.textContent).toBe('1/120 of 1 devices in use');
  });
});

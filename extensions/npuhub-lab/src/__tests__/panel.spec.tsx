import * as React from 'react';
import { act } from 'react';

import { Panel } from '../components/Panel';
import { stateOf } from '../model';
import { State } from '../tokens';
import { account, me, request, status, trans } from './fixtures';
import { cleanup, render } from './render';

afterEach(cleanup);

function show(state: State, onCancel?: (id: string) => Promise<void>): HTMLElement {
  return render(<Panel state={state} trans={trans} onCancel={onCancel} />);
}

describe('side panel', () => {
  it('says so when nothing applies, and still shows the pool', () => {
    const el = show(stateOf(status()));
    expect(el.querySelector('.jp-npuhub-nothing')!.textContent).toContain(
      'You hold no NPU slice, have no request waiting and no quota rule applies to you.'
    );
    expect(el.querySelector('.jp-npuhub-pool')!.textContent).toBe(
      'Ascend 910B 5/2 of 16 devices in use · 2 waiting'
    );
    const held = el.querySelector('.jp-npuhub-bar-held')!;
    expect(Number(held.getAttribute('width'))).toBeCloseTo((200 * 2.5) / 16);
  });

  it('says no quota rule applies when I hold a slice without a budget', () => {
    const el = show(stateOf(status({ me: me({ holdings: [request()] }) })));
    expect(el.querySelector('.jp-npuhub-quota')!.textContent).toContain(
      'No quota rule applies to you: your use is not limited.'
    );
    expect(el.querySelector('.jp-npuhub-nothing')).toBeNull();
  });

  it("shows my quota and my group's, with the nearly spent one in the warning colour", () => {
    const el = show(
      stateOf(
        status({
          me: me({ accounts: [account('user:alice', 6.5, 20), account('group:lab-x', 4, 50)] })
        })
      )
    );
    const accounts = el.querySelectorAll('.jp-npuhub-quota-account');
    expect(accounts).toHaveLength(2);
    expect(accounts[0].textContent).toContain('My quota');
    expect(accounts[0].textContent).toContain('6.5 h left of 20 h this week');
    expect(accounts[0].classList).toContain('jp-npuhub-quota-ok');
    expect(accounts[1].textContent).toContain('Group lab-x');
    expect(accounts[1].textContent).toContain('4 h left of 50 h this week');
    expect(accounts[1].classList).toContain('jp-npuhub-quota-low');
    expect(accounts[1].querySelector('.jp-npuhub-bar-fill.jp-npuhub-warn')).not.toBeNull();
    const fill = accounts[0].querySelector('.jp-npuhub-bar-fill') as HTMLElement;
    expect(fill.style.width).toBe('32.5%');
  });

  it('shows a spent quota in the error colour', () => {
    const el = show(stateOf(status({ me: me({ accounts: [account('user:alice', 0)] }) })));
    const acct = el.querySelector('.jp-npuhub-quota-account')!;
    expect(acct.textContent).toContain('spent this week');
    expect(acct.querySelector('.jp-npuhub-bar-fill.jp-npuhub-error')).not.toBeNull();
  });

  it('shows what I hold, on which server and since when, with its stop warning', () => {
    const el = show(
      stateOf(
        status({
          server_name: 'big',
          me: me({
            holdings: [
              request({
                server: 'big',
                warnings: [
                  {
                    reason: 'idle_reclaimed',
                    message: 'zh / en',
                    at: '2030-01-01T10:00:00Z',
                    stop_at: '2030-01-01T10:15:00Z'
                  }
                ]
              })
            ]
          })
        })
      )
    );
    const holding = el.querySelector('.jp-npuhub-holding')!;
    expect(holding.textContent).toContain('1/4 Ascend 910B on big (this server)');
    expect(holding.textContent).toContain('flavor 1/4 Ascend 910B · since');
    expect(holding.querySelector('.jp-npuhub-warning')!.textContent).toContain(
      'Idle while others wait: will be released at'
    );
    expect(holding.querySelector('a')).toBeNull();
  });

  it('links to a dashboard only when the holding has one', () => {
    const el = show(
      stateOf(
        status({ me: me({ holdings: [request({ dashboard_url: '/user/alice/proxy/8787/status' })] }) })
      )
    );
    const link = el.querySelector('.jp-npuhub-holding a') as HTMLAnchorElement;
    expect(link.textContent).toBe('Dashboard');
    expect(link.getAttribute('href')).toBe('/user/alice/proxy/8787/status');
  });

  it('shows my waiting request with its place, and cancels it', async () => {
    const onCancel = jest.fn(() => Promise.resolve());
    const el = show(
      stateOf(
        status({
          me: me({
            waiting: [
              request({
                id: 'r-9',
                state: 'waiting',
                server: 'big',
                position: 2,
                eta: '2030-01-01T11:00:00Z',
                eta_seconds: 3600,
                granted_at: null
              })
            ]
          })
        })
      ),
      onCancel
    );
    const item = el.querySelector('.jp-npuhub-request')!;
    expect(item.textContent).toContain('1/4 Ascend 910B for big');
    expect(item.textContent).toContain('2nd in the queue · estimated start');
    const button = item.querySelector('button') as HTMLButtonElement;
    expect(button.textContent).toBe('Cancel');
    await act(async () => {
      button.click();
    });
    expect(onCancel).toHaveBeenCalledWith('r-9');
  });

  it("shows my groups' reservations, not other groups'", () => {
    const el = show(
      stateOf(
        status({
          reservations: [
            {
              id: 'res-1',
              group: 'lab-x',
              flavor: 'npu-quarter',
              count: 4,
              starts: '2030-01-02T08:00:00Z',
              ends: '2030-01-02T10:00:00Z',
              active: true,
              in_use: 1
            },
            {
              id: 'res-2',
              group: 'lab-y',
              flavor: 'npu-quarter',
              count: 8,
              starts: '2030-01-02T08:00:00Z',
              ends: '2030-01-02T10:00:00Z',
              active: false,
              in_use: 0
            }
          ]
        })
      )
    );
    const items = el.querySelectorAll('.jp-npuhub-reservation');
    expect(items).toHaveLength(1);
    expect(items[0].textContent).toContain('4 × 1/4 Ascend 910B group lab-x active');
  });

  it.each([
    [{ kind: 'missing' } as State, "The npuhub server part is not installed on this server; ask the centre's staff."],
    [stateOf(status({ server_part: { version: '0.0.1', api: 0 } })), 'older than this extension (API 0, this extension needs 1)'],
    [
      stateOf(status({ available: false, me: null, error: { error: 'down / down', reason: 'service_unavailable' } })),
      'The npuhub service cannot be reached right now: down / down'
    ],
    [{ kind: 'down', error: 'HTTP 500 Internal Server Error' } as State, 'The npuhub service cannot be reached right now: HTTP 500']
  ])('never shows a blank panel (%#)', (state, sentence) => {
    const el = show(state);
    expect(el.querySelector('.jp-npuhub-problem')!.textContent).toContain(sentence);
    expect(el.querySelector('.jp-npuhub-section')).toBeNull();
  });

  it('keeps what it last knew on show, dated, when the service cannot be reached', () => {
    const known = status({ me: me({ holdings: [request()] }), fetched_at: '2026-11-24T10:00:00Z' });
    const el = show({ kind: 'down', error: 'HTTP 502', status: known });
    expect(el.querySelector('.jp-npuhub-problem')!.textContent).toContain(
      'The npuhub service cannot be reached right now: HTTP 502'
    );
    expect(el.querySelector('.jp-npuhub-stale')!.textContent).toMatch(/^As of .+:$/);
    expect(el.querySelector('.jp-npuhub-holdings')!.textContent).toContain('1/4 Ascend 910B');
  });

  it('says it is asking before the first answer', () => {
    expect(show({ kind: 'loading' }).textContent).toContain('Asking the npuhub service');
  });
});

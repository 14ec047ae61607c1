import * as React from 'react';

import { StatusText } from '../components/StatusText';
import { stateOf } from '../model';
import { State } from '../tokens';
import { account, me, request, status, trans } from './fixtures';
import { cleanup, render } from './render';

afterEach(cleanup);

function show(state: State): HTMLElement {
  return render(<StatusText state={state} trans={trans} />);
}

describe('status bar item', () => {
  it('shows the slice I hold, the quota left and my place in the queue', () => {
    const el = show(
      stateOf(
        status({
          me: me({
            holdings: [request()],
            waiting: [request({ id: 'r-2', state: 'waiting', server: 'big', position: 3 })],
            accounts: [account('user:alice', 6.5)]
          })
        })
      )
    );
    expect(el.textContent).toBe('1/4 Ascend 910B · 6.5 h left · queued: 3rd');
    expect(el.querySelector('.jp-npuhub-warn')).toBeNull();
  });

  it('shows no quota part when no quota rule applies', () => {
    const el = show(stateOf(status({ me: me({ holdings: [request()] }) })));
    expect(el.textContent).toBe('1/4 Ascend 910B');
  });

  it('says so when I hold nothing', () => {
    const el = show(stateOf(status()));
    expect(el.textContent).toBe('NPU: none held');
  });

  it('warns when 10% or less of the grant is left', () => {
    const el = show(stateOf(status({ me: me({ accounts: [account('user:alice', 2, 20)] }) })));
    expect(el.textContent).toBe('2 h left');
    expect(el.querySelector('.jp-npuhub-status-quota')!.classList).toContain('jp-npuhub-warn');
  });

  it('warns when the quota is spent', () => {
    const el = show(stateOf(status({ me: me({ accounts: [account('user:alice', 0)] }) })));
    expect(el.textContent).toBe('quota spent');
    expect(el.querySelector('.jp-npuhub-status-quota')!.classList).toContain('jp-npuhub-warn');
  });

  it("speaks of the account this server's session is charged to", () => {
    const el = show(
      stateOf(
        status({
          me: me({
            holdings: [request({ account: 'group:lab-x' })],
            accounts: [account('user:alice', 10), account('group:lab-x', 3.25, 100)]
          })
        })
      )
    );
    expect(el.textContent).toBe('1/4 Ascend 910B · 3.3 h left');
  });

  it('names the flavor of a session without an accelerator', () => {
    const el = show(
      stateOf(status({ me: me({ holdings: [request({ flavor: 'cpu', share: '0', model: null })] }) }))
    );
    expect(el.textContent).toBe('CPU only');
  });

  it('gives the first place in the queue in English ordinals', () => {
    for (const [n, text] of [
      [1, '1st'],
      [2, '2nd'],
      [11, '11th'],
      [22, '22nd'],
      [103, '103rd']
    ] as [number, string][]) {
      const el = show(
        stateOf(status({ me: me({ waiting: [request({ state: 'waiting', position: n })] }) }))
      );
      expect(el.textContent).toBe(`queued: ${text}`);
      cleanup();
    }
  });

  it('says the npuhub service cannot be reached', () => {
    const el = show(
      stateOf(
        status({
          available: false,
          me: null,
          error: { error: '服务不可用 / service unavailable', reason: 'service_unavailable' }
        })
      )
    );
    expect(el.textContent).toBe(
      'The npuhub service cannot be reached right now: 服务不可用 / service unavailable'
    );
  });

  it('says the server part is missing', () => {
    const el = show({ kind: 'missing' });
    expect(el.textContent).toBe(
      "The npuhub server part is not installed on this server; ask the centre's staff."
    );
    expect(el.querySelector('.jp-npuhub-error')).not.toBeNull();
  });

  it('says the server part is older', () => {
    const el = show(stateOf(status({ server_part: undefined })));
    expect(el.textContent).toContain(
      'The npuhub server part on this server is older than this extension'
    );
  });

  it('opens the panel when clicked', () => {
    const onClick = jest.fn();
    const el = render(<StatusText state={stateOf(status())} trans={trans} onClick={onClick} />);
    (el.querySelector('.jp-npuhub-status') as HTMLElement).click();
    expect(onClick).toHaveBeenCalledTimes(1);
  });
});

import * as React from 'react';
import { act } from 'react';

import { ISharingApi, SharesAnswer } from '../handler';
import { Panel } from '../components/Panel';
import { Sharing } from '../components/Sharing';
import { stateOf } from '../model';
import { IShare } from '../tokens';
import { me, status, trans } from './fixtures';
import { cleanup, render } from './render';

afterEach(cleanup);

/** The server part's sharing routes as the hub would answer them: a list of shares, refusals by name. */
class FakeHub implements ISharingApi {
  shares: IShare[] = [];
  calls: string[] = [];
  /** The next change is refused with this answer. */
  refuse: SharesAnswer | null = null;

  async list(): Promise<SharesAnswer> {
    this.calls.push('list');
    return this._answer();
  }

  async grant(kind: 'user' | 'group', name: string): Promise<SharesAnswer> {
    this.calls.push(`grant ${kind} ${name}`);
    if (this.refuse) {
      const refused = this.refuse;
      this.refuse = null;
      return refused;
    }
    this.shares.push({ kind, name, created_at: '2030-01-01T10:00:00Z' });
    return this._answer();
  }

  async revoke(kind: 'user' | 'group', name: string): Promise<SharesAnswer> {
    this.calls.push(`revoke ${kind} ${name}`);
    this.shares = this.shares.filter(s => !(s.kind === kind && s.name === name));
    return this._answer();
  }

  private _answer(): SharesAnswer {
    return { ok: true, list: { owner: 'alice', server: '', shares: [...this.shares] } };
  }
}

/** Let the fake's promises and React's updates settle. */
async function settle(): Promise<void> {
  await act(async () => {
    await new Promise(resolve => setTimeout(resolve, 0));
  });
}

function type(input: HTMLInputElement, value: string): void {
  const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!;
  act(() => {
    setter.call(input, value);
    input.dispatchEvent(new Event('input', { bubbles: true }));
  });
}

async function click(el: Element | null): Promise<void> {
  expect(el).not.toBeNull();
  await act(async () => {
    (el as HTMLElement).click();
  });
  await settle();
}

describe('sharing section', () => {
  it('lists nobody at first, shares with a person and my group, and revokes', async () => {
    const hub = new FakeHub();
    const el = render(<Sharing api={hub} groups={['course-demo', 'lab-x']} trans={trans} />);
    await settle();
    expect(el.querySelector('.jp-npuhub-share-none')!.textContent).toBe('Only you can use this server.');
    expect(el.querySelector('.jp-npuhub-sharing')!.textContent).toContain(
      'People you share this server with can open it and work in it as you do'
    );

    const button = el.querySelector('.jp-npuhub-share-user-button') as HTMLButtonElement;
    expect(button.disabled).toBe(true); // no name yet
    type(el.querySelector('.jp-npuhub-share-user') as HTMLInputElement, '  bob ');
    await click(button);
    expect(hub.calls).toContain('grant user bob');
    expect((el.querySelector('.jp-npuhub-share-user') as HTMLInputElement).value).toBe('');

    const options = [...el.querySelectorAll('.jp-npuhub-share-group option')].map(o => o.textContent);
    expect(options).toEqual(['course-demo', 'lab-x']);
    await click(el.querySelector('.jp-npuhub-share-group-button'));
    expect(hub.calls).toContain('grant group course-demo');
    const items = [...el.querySelectorAll('.jp-npuhub-share')].map(li => li.firstChild!.textContent);
    expect(items).toEqual(['bob', 'group course-demo']);

    await click(el.querySelector('.jp-npuhub-share-kind-user .jp-npuhub-revoke'));
    expect(hub.calls).toContain('revoke user bob');
    expect([...el.querySelectorAll('.jp-npuhub-share')].map(li => li.firstChild!.textContent)).toEqual([
      'group course-demo'
    ]);
  });

  it("shows the hub's refusal in the display language and keeps the name typed", async () => {
    const hub = new FakeHub();
    hub.refuse = {
      ok: false,
      error: '没有名为“bobb”的用户。 / There is no user named \'bobb\'.',
      reason: 'share_user_unknown',
      message: { zh: '没有名为“bobb”的用户。', en: "There is no user named 'bobb'." }
    };
    const el = render(<Sharing api={hub} groups={[]} trans={trans} language="zh-CN" />);
    await settle();
    expect(el.querySelector('.jp-npuhub-share-group')).toBeNull(); // no group of mine, no group form
    type(el.querySelector('.jp-npuhub-share-user') as HTMLInputElement, 'bobb');
    await click(el.querySelector('.jp-npuhub-share-user-button'));
    expect(el.querySelector('.jp-npuhub-share-error')!.textContent).toBe('没有名为“bobb”的用户。');
    expect((el.querySelector('.jp-npuhub-share-user') as HTMLInputElement).value).toBe('bobb');
    expect(el.querySelector('.jp-npuhub-share-none')).not.toBeNull();
  });

  it('says why when the server cannot be shared at all, without a form', async () => {
    const hub = new FakeHub();
    hub.list = async () => ({
      ok: false,
      error: 'x / y',
      reason: 'share_not_allowed',
      message: { zh: '此服务器不允许共享', en: 'Sharing is not allowed for this server' }
    });
    const el = render(<Sharing api={hub} groups={['lab-x']} trans={trans} />);
    await settle();
    expect(el.querySelector('.jp-npuhub-share-error')!.textContent).toBe(
      'Sharing is not allowed for this server'
    );
    expect(el.querySelector('.jp-npuhub-share-form')).toBeNull();
  });

  it('is part of the panel when the panel is given the sharing routes, with my groups', async () => {
    const hub = new FakeHub();
    const state = stateOf(status({ me: me({ groups: ['lab-x'] }) }));
    const el = render(<Panel state={state} trans={trans} sharing={hub} />);
    await settle();
    expect(el.querySelector('.jp-npuhub-sharing h3')!.textContent).toBe('Sharing');
    expect(el.querySelector('.jp-npuhub-share-group option')!.textContent).toBe('lab-x');
    const without = render(<Panel state={state} trans={trans} />);
    expect(without.querySelector('.jp-npuhub-sharing')).toBeNull();
  });
});

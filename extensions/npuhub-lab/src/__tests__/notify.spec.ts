import { Notifier, NotifyKind } from '../notify';
import { ISaveResult } from '../save';
import { IWarning } from '../tokens';
import { account, me, request, status, trans } from './fixtures';

function setup(result: ISaveResult = { saved: ['a.ipynb'], failed: [] }) {
  const shown: [NotifyKind, string][] = [];
  const saveAll = jest.fn(async () => result);
  const notifier = new Notifier({ trans, notify: (k, m) => shown.push([k, m]), saveAll });
  return { notifier, shown, saveAll };
}

const idle: IWarning = {
  reason: 'idle_reclaimed',
  message: 'zh / en',
  at: '2030-01-01T10:00:00Z',
  stop_at: '2030-01-01T10:15:00Z'
};

describe('Notifier', () => {
  it("saves first, then tells once about a warning on this server's session; saves again at each poll", async () => {
    const { notifier, shown, saveAll } = setup();
    const st = status({ me: me({ holdings: [request({ warnings: [idle] })] }) });
    await notifier.update(st);
    expect(saveAll).toHaveBeenCalledTimes(1);
    expect(shown).toHaveLength(1);
    expect(shown[0][0]).toBe('warning');
    expect(shown[0][1]).toMatch(
      /^Your 1\/4 Ascend 910B will be released at .+ unless you keep working\. Your open notebooks have been saved\.$/
    );
    await notifier.update(st);
    expect(saveAll).toHaveBeenCalledTimes(2);
    expect(shown).toHaveLength(1);
  });

  it('tells again about a new warning (a new `at`) on the same session', async () => {
    const { notifier, shown } = setup();
    await notifier.update(status({ me: me({ holdings: [request({ warnings: [idle] })] }) }));
    const later = { ...idle, at: '2030-01-01T12:00:00Z', stop_at: '2030-01-01T12:15:00Z' };
    await notifier.update(status({ me: me({ holdings: [request({ warnings: [later] })] }) }));
    expect(shown).toHaveLength(2);
  });

  it('says why for a budget stop, and which documents could not be saved', async () => {
    const { notifier, shown } = setup({ saved: [], failed: ['x.ipynb'] });
    const budget = { ...idle, reason: 'budget_spent' };
    await notifier.update(status({ me: me({ holdings: [request({ warnings: [budget] })] }) }));
    expect(shown[0][1]).toContain('its budget is spent');
    expect(shown[0][1]).toContain('Some open documents could not be saved (x.ipynb): save them now.');
  });

  it("neither saves nor tells for another server's session", async () => {
    const { notifier, shown, saveAll } = setup();
    await notifier.update(
      status({ server_name: '', me: me({ holdings: [request({ server: 'other', warnings: [idle] })] }) })
    );
    expect(saveAll).not.toHaveBeenCalled();
    expect(shown).toHaveLength(0);
  });

  it('tells once when a quota gets nearly spent, and once more when it is spent', async () => {
    const { notifier, shown, saveAll } = setup();
    await notifier.update(status({ me: me({ accounts: [account('user:alice', 10)] }) }));
    expect(shown).toHaveLength(0);
    await notifier.update(status({ me: me({ accounts: [account('user:alice', 1.5)] }) }));
    await notifier.update(status({ me: me({ accounts: [account('user:alice', 1.2)] }) }));
    expect(shown).toEqual([['warning', 'My quota: only 1.5 h left this week.']]);
    await notifier.update(status({ me: me({ accounts: [account('group:lab-x', 0)] }) }));
    expect(shown[1]).toEqual(['error', 'Group lab-x: the device-hours of this week are spent.']);
    expect(saveAll).not.toHaveBeenCalled();
  });
});

/**
 * The panel's sharing section: who may use this server (people and groups),
 * share it with a person by name or with one of my groups, revoke. On
 * JupyterHub's own shares API, through the server part; the hub's refusals
 * come back as sentences in the display language.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { ISharingApi, SharesAnswer } from '../handler';
import { pickText } from '../model';
import { IShare, IShareList } from '../tokens';

export interface ISharingProps {
  api: ISharingApi;
  /** My groups (I may share with these). */
  groups: string[];
  trans: TranslationBundle;
  language?: string;
}

export function Sharing(props: ISharingProps): JSX.Element {
  const { api, groups, trans } = props;
  const language = props.language ?? 'en';
  const [list, setList] = React.useState<IShareList | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  const [name, setName] = React.useState('');
  const [group, setGroup] = React.useState(groups[0] ?? '');
  const live = React.useRef(true);

  const take = (answer: SharesAnswer): boolean => {
    if (!live.current) {
      return false;
    }
    if (answer.ok) {
      setList(answer.list);
      setError(null);
      return true;
    }
    setError(pickText(answer.message ?? answer.error, language) || answer.reason);
    return false;
  };

  React.useEffect(() => {
    live.current = true;
    void api.list().then(take);
    return () => {
      live.current = false;
    };
  }, [api]);

  const act = async (change: () => Promise<SharesAnswer>): Promise<boolean> => {
    setBusy(true);
    try {
      return take(await change());
    } finally {
      if (live.current) {
        setBusy(false);
      }
    }
  };

  const shareWithPerson = async (event: React.FormEvent) => {
    event.preventDefault();
    const who = name.trim();
    if (who && (await act(() => api.grant('user', who)))) {
      setName('');
    }
  };

  const chosenGroup = groups.includes(group) ? group : groups[0] ?? '';
  return (
    <section className="jp-npuhub-section jp-npuhub-sharing">
      <h3>{trans.__('Sharing')}</h3>
      <p className="jp-npuhub-small">
        {trans.__(
          'People you share this server with can open it and work in it as you do, with your files. Revoke when you are done.'
        )}
      </p>
      {list && (
        <>
          {list.shares.length === 0 ? (
            <p className="jp-npuhub-empty jp-npuhub-share-none">
              {trans.__('Only you can use this server.')}
            </p>
          ) : (
            <ul className="jp-npuhub-shares">
              {list.shares.map(s => (
                <ShareItem
                  key={`${s.kind}:${s.name}`}
                  share={s}
                  busy={busy}
                  trans={trans}
                  onRevoke={() => act(() => api.revoke(s.kind, s.name))}
                />
              ))}
            </ul>
          )}
          <form className="jp-npuhub-share-form" onSubmit={shareWithPerson}>
            <input
              className="jp-mod-styled jp-npuhub-share-user"
              type="text"
              value={name}
              placeholder={trans.__('User name')}
              aria-label={trans.__('User name')}
              onChange={e => setName(e.target.value)}
            />
            <button
              type="submit"
              className="jp-mod-styled jp-mod-accept jp-npuhub-share-user-button"
              disabled={busy || !name.trim()}
            >
              {trans.__('Share')}
            </button>
          </form>
          {groups.length > 0 && (
            <form
              className="jp-npuhub-share-form"
              onSubmit={e => {
                e.preventDefault();
                if (chosenGroup) {
                  void act(() => api.grant('group', chosenGroup));
                }
              }}
            >
              <select
                className="jp-mod-styled jp-npuhub-share-group"
                value={chosenGroup}
                aria-label={trans.__('My group')}
                onChange={e => setGroup(e.target.value)}
              >
                {groups.map(g => (
                  <option key={g} value={g}>
                    {g}
                  </option>
                ))}
              </select>
              <button
                type="submit"
                className="jp-mod-styled jp-mod-accept jp-npuhub-share-group-button"
                disabled={busy || !chosenGroup}
                title={trans.__('Share with the group')}
                aria-label={trans.__('Share with the group')}
              >
                {trans.__('Share')}
              </button>
            </form>
          )}
        </>
      )}
      {error && <p className="jp-npuhub-share-error jp-npuhub-error">{error}</p>}
    </section>
  );
}

function ShareItem(props: {
  share: IShare;
  busy: boolean;
  trans: TranslationBundle;
  onRevoke: () => Promise<boolean>;
}): JSX.Element {
  const { share, busy, trans, onRevoke } = props;
  return (
    <li className={`jp-npuhub-share jp-npuhub-share-kind-${share.kind}`}>
      <span>{share.kind === 'group' ? trans.__('group %1', share.name) : share.name}</span>{' '}
      <button
        className="jp-mod-styled jp-mod-warn jp-npuhub-revoke"
        disabled={busy}
        title={trans.__('Revoke access of %1', share.name)}
        onClick={() => void onRevoke()}
      >
        {trans.__('Revoke')}
      </button>
    </li>
  );
}

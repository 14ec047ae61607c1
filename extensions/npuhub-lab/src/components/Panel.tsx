/**
 * The side panel: quota bars, what I hold, my Dask workers, my waiting
 * requests (with Cancel), sharing this server, the pool's occupancy and my
 * groups' reservations; a sentence when the server part or the service is
 * missing, never a blank panel.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { IAccountView, IFlavorView, IMe, IRequestView, IReservationView, State } from '../tokens';
import {
  accountLabel,
  flavorName,
  formatHours,
  formatTime,
  ordinal,
  periodText,
  problemSentence,
  quotaLevel,
  serverLabel,
  sliceLabel
} from '../view';
import { ISharingApi } from '../handler';
import { clustersOf, DaskClusters } from './DaskClusters';
import { PoolChart } from './PoolChart';
import { Sharing } from './Sharing';

export interface IPanelProps {
  state: State;
  trans: TranslationBundle;
  /** Cancels a waiting request; resolves once the answer is in. */
  onCancel?: (id: string) => Promise<void>;
  /** JupyterLab's display language ("zh-CN", "en"): picks the service's sentences. */
  language?: string;
  /** Sharing this server (the server part's routes); no sharing section without it. */
  sharing?: ISharingApi;
}

export function Panel(props: IPanelProps): JSX.Element {
  const { state, trans } = props;
  const problem = problemSentence(state, trans);
  let body: React.ReactNode;
  if (state.kind === 'loading') {
    body = <p className="jp-npuhub-empty">{trans.__('Asking the npuhub service…')}</p>;
  } else if (problem !== null) {
    // what was last known (or what the server part could still read) stays visible, dated
    const known = state.kind === 'down' && state.status?.me ? state.status : null;
    body = (
      <>
        <p className={`jp-npuhub-problem ${state.kind === 'down' ? 'jp-npuhub-warn' : 'jp-npuhub-error'}`}>
          {problem}
        </p>
        {known && (
          <>
            <p className="jp-npuhub-small jp-npuhub-stale">
              {trans.__('As of %1:', formatTime(known.fetched_at))}
            </p>
            <Sections {...props} state={{ kind: 'ok', status: known }} />
          </>
        )}
      </>
    );
  } else if (state.kind === 'ok') {
    body = <Sections {...props} state={state} />;
  }
  return (
    <div className="jp-npuhub-panel">
      <h2 className="jp-npuhub-title">{trans.__('NPU')}</h2>
      {body}
    </div>
  );
}

function Sections(props: IPanelProps & { state: Extract<State, { kind: 'ok' }> }): JSX.Element {
  const { trans, onCancel, language, sharing } = props;
  const { me, pool, reservations, server_name, clusters } = props.state.status;
  const mine: IMe = me ?? {
    user: '',
    groups: [],
    max_share: '0',
    held_share: '0',
    holdings: [],
    waiting: [],
    accounts: [],
    flavors: []
  };
  const groupReservations = (reservations ?? []).filter(r => mine.groups.includes(r.group));
  // a Dask cluster's scheduler and workers are holdings too: they show in their own section
  const held = mine.holdings.filter(h => !h.cluster);
  const dask = clustersOf(clusters, mine.holdings);
  const nothing =
    mine.accounts.length === 0 &&
    mine.holdings.length === 0 &&
    mine.waiting.length === 0 &&
    groupReservations.length === 0;
  return (
    <>
      {nothing && (
        <p className="jp-npuhub-empty jp-npuhub-nothing">
          {trans.__(
            'You hold no NPU slice, have no request waiting and no quota rule applies to you. Start a server with an accelerator from the hub to get one.'
          )}
        </p>
      )}
      {!nothing && (
        <section className="jp-npuhub-section jp-npuhub-quota">
          <h3>{trans.__('Quota')}</h3>
          {mine.accounts.length === 0 ? (
            <p className="jp-npuhub-empty">
              {trans.__('No quota rule applies to you: your use is not limited.')}
            </p>
          ) : (
            mine.accounts.map(a => <QuotaBar key={a.name} account={a} trans={trans} />)
          )}
        </section>
      )}
      {held.length > 0 && (
        <section className="jp-npuhub-section jp-npuhub-holdings">
          <h3>{trans.__('Held now')}</h3>
          <ul>
            {held.map(h => (
              <Holding
                key={h.id}
                holding={h}
                flavors={mine.flavors}
                here={h.server === server_name}
                trans={trans}
              />
            ))}
          </ul>
        </section>
      )}
      {dask.length > 0 && (
        <DaskClusters clusters={dask} flavors={mine.flavors} trans={trans} language={language} />
      )}
      {mine.waiting.length > 0 && (
        <section className="jp-npuhub-section jp-npuhub-waiting">
          <h3>{trans.__('Waiting')}</h3>
          <ul>
            {mine.waiting.map(w => (
              <Waiting key={w.id} request={w} flavors={mine.flavors} trans={trans} onCancel={onCancel} />
            ))}
          </ul>
        </section>
      )}
      {sharing && <Sharing api={sharing} groups={mine.groups} trans={trans} language={language} />}
      {pool && (
        <section className="jp-npuhub-section">
          <h3>{trans.__('Pool')}</h3>
          <PoolChart models={pool.models} trans={trans} />
        </section>
      )}
      {groupReservations.length > 0 && (
        <section className="jp-npuhub-section jp-npuhub-reservations">
          <h3>{trans.__("My groups' reservations")}</h3>
          <ul>
            {groupReservations.map(r => (
              <Reservation key={r.id} reservation={r} flavors={mine.flavors} trans={trans} />
            ))}
          </ul>
        </section>
      )}
    </>
  );
}

function QuotaBar(props: { account: IAccountView; trans: TranslationBundle }): JSX.Element {
  const { account, trans } = props;
  const level = quotaLevel(account);
  // the sentence reads "x h left of <grant> h": the bar measures against the same grant (the cap
  // only limits saving up), so a balance over the grant, after a top-up, shows a full bar
  const grant = account.grant_per_period.device_hours;
  const full = grant > 0 ? grant : account.cap.device_hours;
  const fraction = full > 0 ? Math.min(1, Math.max(0, account.balance.device_hours / full)) : 0;
  const cls = level === 'spent' ? 'jp-npuhub-error' : level === 'low' ? 'jp-npuhub-warn' : '';
  return (
    <div className={`jp-npuhub-quota-account jp-npuhub-quota-${level}`}>
      <div className="jp-npuhub-quota-label">
        <span>{accountLabel(account.name, trans)}</span>{' '}
        <span className={cls}>
          {level === 'spent'
            ? trans.__('spent %1', periodText(account.period, trans))
            : trans.__(
                '%1 h left of %2 h %3',
                formatHours(account.balance.device_hours),
                formatHours(account.grant_per_period.device_hours),
                periodText(account.period, trans)
              )}
        </span>
      </div>
      <div className="jp-npuhub-bar" role="meter" aria-valuemin={0} aria-valuemax={1} aria-valuenow={fraction}>
        <div className={`jp-npuhub-bar-fill ${cls}`} style={{ width: `${(fraction * 100).toFixed(1)}%` }} />
      </div>
      {account.renews_at && (
        <div className="jp-npuhub-small">{trans.__('renews %1', formatTime(account.renews_at))}</div>
      )}
    </div>
  );
}

function Holding(props: {
  holding: IRequestView;
  flavors: IFlavorView[];
  here: boolean;
  trans: TranslationBundle;
}): JSX.Element {
  const { holding, flavors, here, trans } = props;
  return (
    <li className="jp-npuhub-holding">
      <div>
        <strong>{sliceLabel(holding, flavors)}</strong>{' '}
        <span className="jp-npuhub-small">
          {trans.__('on %1', serverLabel(holding.server, trans))}
          {here ? ' ' + trans.__('(this server)') : ''}
        </span>
      </div>
      <div className="jp-npuhub-small">
        {trans.__('flavor %1', flavorName(holding.flavor, flavors))}
        {holding.granted_at ? ' · ' + trans.__('since %1', formatTime(holding.granted_at)) : ''}
      </div>
      {holding.dashboard_url && (
        <div>
          <a href={holding.dashboard_url} target="_blank" rel="noopener noreferrer">
            {trans.__('Dashboard')}
          </a>
        </div>
      )}
      {holding.warnings.map(w => (
        <div key={w.at} className="jp-npuhub-warning jp-npuhub-warn">
          {w.reason === 'budget_spent'
            ? trans.__('Budget spent: will be released at %1.', formatTime(w.stop_at))
            : trans.__('Idle while others wait: will be released at %1 unless you keep working.', formatTime(w.stop_at))}
        </div>
      ))}
    </li>
  );
}

function Waiting(props: {
  request: IRequestView;
  flavors: IFlavorView[];
  trans: TranslationBundle;
  onCancel?: (id: string) => Promise<void>;
}): JSX.Element {
  const { request, flavors, trans, onCancel } = props;
  const [busy, setBusy] = React.useState(false);
  return (
    <li className="jp-npuhub-request">
      <div>
        <strong>{sliceLabel(request, flavors)}</strong>{' '}
        <span className="jp-npuhub-small">{trans.__('for %1', serverLabel(request.server, trans))}</span>
      </div>
      <div className="jp-npuhub-small">
        {request.position !== null ? trans.__('%1 in the queue', ordinal(request.position, trans)) : ''}
        {request.eta ? ' · ' + trans.__('estimated start %1', formatTime(request.eta)) : ''}
      </div>
      {onCancel && (
        <button
          className="jp-mod-styled jp-mod-warn jp-npuhub-cancel"
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            try {
              await onCancel(request.id);
            } finally {
              setBusy(false);
            }
          }}
        >
          {trans.__('Cancel')}
        </button>
      )}
    </li>
  );
}

function Reservation(props: {
  reservation: IReservationView;
  flavors: IFlavorView[];
  trans: TranslationBundle;
}): JSX.Element {
  const { reservation: r, flavors, trans } = props;
  return (
    <li className="jp-npuhub-reservation">
      <div>
        <strong>{trans.__('%1 × %2', r.count, flavorName(r.flavor, flavors))}</strong>{' '}
        <span className="jp-npuhub-small">{trans.__('group %1', r.group)}</span>{' '}
        {r.active && <span className="jp-npuhub-badge">{trans.__('active')}</span>}
      </div>
      <div className="jp-npuhub-small">
        {trans.__('%1 – %2', formatTime(r.starts), formatTime(r.ends))}
      </div>
    </li>
  );
}

/** Status answers shaped like the server part's, for the tests. */
import { nullTranslator } from '@jupyterlab/translation';

import {
  IAccountView,
  IMe,
  IRequestView,
  IStatus
} from '../tokens';

export const trans = nullTranslator.load('npuhub_lab');

export function hours(h: number) {
  return { device_hours: h, exact: String(h) };
}

export function account(name: string, balance: number, grant = 20): IAccountView {
  return {
    name,
    balance: hours(balance),
    grant_per_period: hours(grant),
    cap: hours(grant),
    period: 'week',
    renews_at: '2030-01-07T00:00:00Z',
    spent: balance <= 0
  };
}

export function request(over: Partial<IRequestView> = {}): IRequestView {
  return {
    id: 'r-1',
    user: 'alice',
    server: '',
    flavor: 'npu-quarter',
    model: 'Ascend 910B',
    share: '1/4',
    state: 'granted',
    position: null,
    eta: null,
    eta_seconds: null,
    message: null,
    arrived: '2030-01-01T09:00:00Z',
    granted_at: '2030-01-01T09:00:05Z',
    account: 'user:alice',
    warnings: [],
    ...over
  };
}

export function me(over: Partial<IMe> = {}): IMe {
  return {
    user: 'alice',
    groups: ['lab-x'],
    max_share: '1',
    held_share: '0',
    holdings: [],
    waiting: [],
    accounts: [],
    flavors: [
      { id: 'cpu', name: 'CPU only', share: '0', model: null },
      { id: 'npu-quarter', name: '1/4 Ascend 910B', share: '1/4', model: 'Ascend 910B' }
    ],
    ...over
  };
}

export function status(over: Partial<IStatus> = {}): IStatus {
  return {
    server_part: { version: '0.1.0', api: 1 },
    interval: 15,
    server_name: '',
    available: true,
    error: null,
    me: me(),
    pool: {
      models: [
        {
          model: 'Ascend 910B',
          vendor: 'ascend',
          capacity: '16',
          held: '5/2',
          free: '27/2',
          reserved: '1',
          waiting: 2
        }
      ]
    },
    reservations: [],
    fetched_at: '2030-01-01T10:00:00Z',
    ...over
  };
}

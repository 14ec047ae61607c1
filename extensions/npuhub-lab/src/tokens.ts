/**
 * The shapes the server part sends (GET {base}npuhub-lab/status) and the
 * API version this front end speaks.
 *
 * `me`, `pool` and `reservations` are the npuhub service's own answers
 * (npuhub/service/routes.py MeHandler, npuhub/service/models.py), passed
 * through unchanged by the server part.
 */

/** The server part's API version this front end was written for. */
export const API_VERSION = 1;

/** The translation domain: locale/<lang>/LC_MESSAGES/npuhub_lab.json. */
export const TRANSLATION_DOMAIN = 'npuhub_lab';

/** Poll interval (seconds) used until the server says otherwise. */
export const DEFAULT_INTERVAL = 15;

/** Device-hours, as float and as an exact fraction string. */
export interface IHours {
  device_hours: number;
  exact: string;
}

/** A sentence in each language, as the service sends it (npuhub 0.2 and later). */
export interface ITextBoth {
  zh: string;
  en: string;
}

/** A sentence from the service: `{zh, en}`, or one string with both glued ('zh / en') before npuhub 0.2. */
export type ServiceText = ITextBoth | string;

/** A warning on a running session: it will be stopped at `stop_at`. */
export interface IWarning {
  /** 'budget_spent' or 'idle_reclaimed'. */
  reason: string;
  message: ServiceText;
  at: string;
  stop_at: string;
}

/** A request view (waiting or granted). */
export interface IRequestView {
  id: string;
  user: string;
  /** The server's name; '' is the default server. */
  server: string;
  flavor: string;
  model: string | null;
  /** "1/4", "2" or "0". */
  share: string;
  state: string;
  position: number | null;
  eta: string | null;
  eta_seconds: number | null;
  message: ServiceText | null;
  arrived: string | null;
  granted_at: string | null;
  account: string | null;
  warnings: IWarning[];
  /** Set by sessions that run a dashboard (Dask, later). */
  dashboard_url?: string | null;
  /** The Dask cluster this request is the scheduler or a worker of (its server is `dask:<id>`). */
  cluster?: string | null;
}

/** Workers of a Dask cluster: wanted, running, waiting, the first waiting one's place. */
export interface IClusterWorkers {
  wanted: number;
  running: number;
  waiting: number;
  position: number | null;
  eta_seconds: number | null;
}

/** One of my Dask clusters (the service's GET /clusters). */
export interface ICluster {
  id: string;
  user: string;
  name: string | null;
  flavor: string;
  /** Each worker's share ("1/4"). */
  share: string;
  state: string;
  workers: IClusterWorkers;
  /** "4 of 8 workers running, 4 waiting: 2nd in line, about 5 minutes". */
  message: ServiceText | null;
  /** Through the hub: /services/npuhub/dask/<id>/status. */
  dashboard_link: string | null;
  created?: string | null;
  expires_at?: string | null;
}

/** An announcement meant for me now (the service's GET /announcements). */
export interface IAnnouncement {
  id: string;
  text: ServiceText;
  starts?: string | null;
  ends?: string | null;
  scope?: string;
  author?: string | null;
}

/** Someone this server is shared with: a person or a group. */
export interface IShare {
  kind: 'user' | 'group';
  name: string;
  created_at: string | null;
  scopes?: string[];
}

/** GET {base}npuhub-lab/shares. */
export interface IShareList {
  owner: string;
  /** This server's name; '' is the default server. */
  server: string;
  shares: IShare[];
}

/** A budget account ("user:alice", "group:lab-x"). */
export interface IAccountView {
  name: string;
  balance: IHours;
  grant_per_period: IHours;
  cap: IHours;
  /** 'day', 'week' or 'month'. */
  period: string;
  renews_at: string | null;
  spent: boolean;
}

export interface IFlavorView {
  id: string;
  /** Both languages ("zh / en") until `localizeFlavors` picks one. */
  name: string;
  /** The name in each language (services before npuhub 0.2 do not send it). */
  names?: { zh: string; en: string };
  share: string;
  model: string | null;
}

/** The service's GET /me. */
export interface IMe {
  user: string;
  groups: string[];
  max_share: string;
  held_share: string;
  holdings: IRequestView[];
  waiting: IRequestView[];
  accounts: IAccountView[];
  flavors: IFlavorView[];
}

export interface IPoolModel {
  model: string;
  vendor: string;
  capacity: string;
  held: string;
  free: string;
  reserved: string;
  waiting: number;
}

/** The service's GET /pool (the part this front end uses). */
export interface IPool {
  models: IPoolModel[];
}

export interface IReservationView {
  id: string;
  group: string;
  flavor: string;
  count: number;
  starts: string;
  ends: string;
  active: boolean;
  in_use: number;
}

/** A refusal or failure as JSON: a sentence and a machine-readable reason. */
export interface IErrorBody {
  /** Both languages in one line ('zh / en'). */
  error: string;
  reason: string;
  /** The sentence in each language (servers and services before npuhub 0.2 send only `error`). */
  message?: ITextBoth;
}

/** GET {base}npuhub-lab/status. */
export interface IStatus {
  server_part?: { version: string; api: number };
  interval?: number;
  server_name: string;
  available: boolean;
  error: IErrorBody | null;
  me: IMe | null;
  pool: IPool | null;
  reservations: IReservationView[] | null;
  /** Announcements meant for me now; null or absent when the service has none to give. */
  announcements?: IAnnouncement[] | null;
  /** My Dask clusters; null or absent when the service does not run Dask. */
  clusters?: ICluster[] | null;
  fetched_at: string;
}

/**
 * What the front end knows, as one of:
 * - loading: no answer yet;
 * - missing: the server part is not installed (404);
 * - older: the server part speaks an older API;
 * - down: the npuhub service cannot be reached, is restarting (reason
 *   'service_restarting'), or the server part failed; `status` is the last one
 *   that had the service's data, kept on show;
 * - ok: a status with the service's data.
 */
export type State =
  | { kind: 'loading' }
  | { kind: 'missing' }
  | { kind: 'older'; api: number | null }
  | { kind: 'down'; error: string; reason?: string; status?: IStatus }
  | { kind: 'ok'; status: IStatus };

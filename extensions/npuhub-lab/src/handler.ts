/**
 * Requests to the server part under {base}npuhub-lab/, through
 * ServerConnection (base URL, token and XSRF header come from Lab's settings).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { IErrorBody, IRequestView, IShareList, IStatus, ITextBoth } from './tokens';

/** The server part's namespace under the server's base URL. */
export const NAMESPACE = 'npuhub-lab';

/** One answer to GET status. */
export type StatusAnswer =
  | { kind: 'fresh'; status: IStatus; etag: string | null }
  | { kind: 'unchanged' }
  | { kind: 'missing' }
  | { kind: 'failed'; message: string; reason?: string; both?: ITextBoth };

/** The outcome of cancelling a waiting request. */
export type CancelAnswer =
  | { ok: true; request: IRequestView }
  | { ok: false; error: string; reason: string; message?: ITextBoth };

/**
 * Ask for the status. Sends `If-None-Match` when an ETag is known, so an
 * unchanged status costs a 304 without a body.
 *
 * Never throws for HTTP or network failures: they come back as `failed`.
 */
export async function fetchStatus(
  etag: string | null,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<StatusAnswer> {
  const url = URLExt.join(settings.baseUrl, NAMESPACE, 'status');
  const headers: Record<string, string> = {};
  if (etag) {
    headers['If-None-Match'] = etag;
  }
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      url,
      { method: 'GET', headers, cache: 'no-store' },
      settings
    );
  } catch (error) {
    return { kind: 'failed', message: String(error) };
  }
  if (response.status === 304) {
    return { kind: 'unchanged' };
  }
  if (response.status === 404) {
    return { kind: 'missing' };
  }
  if (!response.ok) {
    const body = await readError(response);
    return { kind: 'failed', message: body.error, reason: body.reason, both: body.message };
  }
  try {
    const status = (await response.json()) as IStatus;
    return { kind: 'fresh', status, etag: response.headers.get('ETag') };
  } catch (error) {
    return { kind: 'failed', message: String(error) };
  }
}

/** Cancel one of my waiting requests (DELETE {base}npuhub-lab/requests/<id>). */
export async function cancelRequest(
  id: string,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<CancelAnswer> {
  const url = URLExt.join(
    settings.baseUrl,
    NAMESPACE,
    'requests',
    encodeURIComponent(id)
  );
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      url,
      { method: 'DELETE' },
      settings
    );
  } catch (error) {
    return { ok: false, error: String(error), reason: 'network' };
  }
  if (!response.ok) {
    return { ok: false, ...(await readError(response)) };
  }
  return { ok: true, request: (await response.json()) as IRequestView };
}

/** The outcome of reading or changing this server's shares. */
export type SharesAnswer =
  | { ok: true; list: IShareList }
  | { ok: false; error: string; reason: string; message?: ITextBoth };

/** Who this server is shared with, or a share or revoke, through the server part. */
export interface ISharingApi {
  list(): Promise<SharesAnswer>;
  grant(kind: 'user' | 'group', name: string): Promise<SharesAnswer>;
  revoke(kind: 'user' | 'group', name: string): Promise<SharesAnswer>;
}

async function sharesRequest(
  method: 'GET' | 'POST' | 'DELETE',
  target: { kind: 'user' | 'group'; name: string } | null,
  settings: ServerConnection.ISettings
): Promise<SharesAnswer> {
  let url = URLExt.join(settings.baseUrl, NAMESPACE, 'shares');
  const init: RequestInit = { method };
  if (target && method === 'DELETE') {
    url += URLExt.objectToQueryString({ [target.kind]: target.name });
  } else if (target) {
    init.body = JSON.stringify({ [target.kind]: target.name });
    init.headers = { 'Content-Type': 'application/json' };
  }
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    return { ok: false, error: String(error), reason: 'network' };
  }
  if (!response.ok) {
    return { ok: false, ...(await readError(response)) };
  }
  try {
    return { ok: true, list: (await response.json()) as IShareList };
  } catch (error) {
    return { ok: false, error: String(error), reason: 'invalid_answer' };
  }
}

/** The server part's sharing routes ({base}npuhub-lab/shares). */
export function sharingApi(
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): ISharingApi {
  return {
    list: () => sharesRequest('GET', null, settings),
    grant: (kind, name) => sharesRequest('POST', { kind, name }, settings),
    revoke: (kind, name) => sharesRequest('DELETE', { kind, name }, settings)
  };
}

/**
 * The `{error, reason, message}` body of a failed answer (`message` only from
 * npuhub 0.2 on), or a stand-in built from the status.
 */
export async function readError(response: Response): Promise<IErrorBody> {
  const fallback = {
    error: `HTTP ${response.status} ${response.statusText}`.trim(),
    reason: `http_${response.status}`
  };
  try {
    const body = await response.json();
    if (body && typeof body.error === 'string') {
      const error: IErrorBody = { error: body.error, reason: String(body.reason ?? fallback.reason) };
      if (isTextBoth(body.message)) {
        error.message = { zh: body.message.zh, en: body.message.en };
      }
      return error;
    }
    if (body && typeof body.message === 'string') {
      return { error: body.message, reason: fallback.reason };
    }
  } catch {
    // not JSON: Jupyter's HTML error page
  }
  return fallback;
}

/** `{zh, en}` with both strings. */
export function isTextBoth(value: unknown): value is ITextBoth {
  const text = value as ITextBoth | null;
  return !!text && typeof text === 'object' && typeof text.zh === 'string' && typeof text.en === 'string';
}

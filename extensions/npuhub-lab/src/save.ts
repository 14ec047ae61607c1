/**
 * Saving every open document with unsaved changes: what keeps the promise
 * "before an idle or budget stop, your open notebooks are saved".
 */

/** The part of a DocumentWidget's context this module uses. */
export interface ISavableContext {
  path: string;
  isReady?: boolean;
  model: { dirty: boolean; readOnly?: boolean };
  contentsModel?: { writable?: boolean } | null;
  save(): Promise<void>;
}

export interface ISaveResult {
  /** Paths saved. */
  saved: string[];
  /** Paths whose save failed (read-only, deleted, server away, ...). */
  failed: string[];
}

function contextOf(widget: unknown): ISavableContext | null {
  if (!widget || typeof widget !== 'object' || !('context' in widget)) {
    return null;
  }
  const context = (widget as { context: unknown }).context as ISavableContext | undefined;
  if (!context || typeof context.save !== 'function' || !context.model) {
    return null;
  }
  return context;
}

/**
 * Save each document with unsaved changes once, whatever number of views it
 * has open. Widgets without a document context (terminals, the launcher) and
 * documents that cannot be written are left alone.
 *
 * Never throws: failures are returned in `failed`.
 */
export async function saveDirtyDocuments(widgets: Iterable<unknown>): Promise<ISaveResult> {
  const contexts = new Set<ISavableContext>();
  for (const widget of widgets) {
    const context = contextOf(widget);
    if (!context || contexts.has(context)) {
      continue;
    }
    if (context.isReady === false || !context.model.dirty || context.model.readOnly) {
      continue;
    }
    if (context.contentsModel && context.contentsModel.writable === false) {
      continue;
    }
    contexts.add(context);
  }
  const result: ISaveResult = { saved: [], failed: [] };
  await Promise.all(
    [...contexts].map(async context => {
      try {
        await context.save();
        result.saved.push(context.path);
      } catch {
        result.failed.push(context.path);
      }
    })
  );
  result.saved.sort();
  result.failed.sort();
  return result;
}

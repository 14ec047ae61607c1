import { saveDirtyDocuments } from '../save';

function doc(path: string, dirty: boolean, fail = false) {
  const context = {
    path,
    isReady: true,
    model: { dirty, readOnly: false },
    contentsModel: { writable: true },
    save: jest.fn(async () => {
      if (fail) {
        throw new Error('server away');
      }
      context.model.dirty = false;
    })
  };
  return { context };
}

describe('saveDirtyDocuments', () => {
  it('saves the documents with unsaved changes and leaves the others', async () => {
    const a = doc('a.ipynb', true);
    const b = doc('b.ipynb', false);
    const c = doc('notes/c.py', true);
    const result = await saveDirtyDocuments([a, b, c]);
    expect(result).toEqual({ saved: ['a.ipynb', 'notes/c.py'], failed: [] });
    expect(a.context.save).toHaveBeenCalledTimes(1);
    expect(b.context.save).not.toHaveBeenCalled();
    expect(c.context.model.dirty).toBe(false);
  });

  it('saves a document open in two views once', async () => {
    const a = doc('a.ipynb', true);
    const second = { context: a.context };
    await saveDirtyDocuments([a, second]);
    expect(a.context.save).toHaveBeenCalledTimes(1);
  });

  it('ignores widgets without a document and documents that cannot be written', async () => {
    const readOnly = doc('ro.ipynb', true);
    readOnly.context.contentsModel.writable = false;
    const notReady = doc('loading.ipynb', true);
    notReady.context.isReady = false;
    const result = await saveDirtyDocuments([{ id: 'launcher' }, null, 'x', readOnly, notReady]);
    expect(result).toEqual({ saved: [], failed: [] });
    expect(readOnly.context.save).not.toHaveBeenCalled();
  });

  it('reports failures without throwing and still saves the rest', async () => {
    const bad = doc('bad.ipynb', true, true);
    const good = doc('good.ipynb', true);
    const result = await saveDirtyDocuments([bad, good]);
    expect(result).toEqual({ saved: ['good.ipynb'], failed: ['bad.ipynb'] });
  });
});

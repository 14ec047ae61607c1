// Times and dates follow JupyterLab's language, not the browser's: a Chinese Lab in an
// English browser must not read "自 12:14 PM 起".
import { formatTime, setTimeLocale } from '../view';

describe('formatTime', () => {
  const now = new Date('2026-11-26T09:00:00Z');
  const afternoon = '2026-11-26T14:05:00Z';
  const tomorrow = '2026-11-27T14:05:00Z';

  afterEach(() => setTimeLocale(null));

  it('writes a Chinese Lab\'s times in Chinese, whatever the browser says', () => {
    setTimeLocale('zh-CN');
    const expected = new Date(afternoon).toLocaleTimeString('zh-CN', { hour: '2-digit', minute: '2-digit' });
    expect(formatTime(afternoon, now)).toBe(expected);
    expect(formatTime(afternoon, now)).not.toMatch(/AM|PM/);
    expect(formatTime(tomorrow, now)).toMatch(/月/);
  });

  it('writes an English Lab\'s times in English', () => {
    setTimeLocale('en');
    expect(formatTime(tomorrow, now)).toMatch(/Nov/);
  });

  it('accepts Lab\'s underscore form of a language', () => {
    setTimeLocale('zh_CN');
    expect(formatTime(tomorrow, now)).toMatch(/月/);
  });
});

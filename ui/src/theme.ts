// Light and dark themes: the choice is kept in localStorage; the default follows the system.
import { createContext } from 'preact';

export type Theme = 'light' | 'dark';
const KEY = 'placement.theme';

export function initialTheme(): Theme {
  try {
    const saved = localStorage.getItem(KEY);
    if (saved === 'light' || saved === 'dark') return saved;
  } catch {
    /* no storage */
  }
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function applyTheme(theme: Theme): void {
  document.documentElement.dataset.theme = theme;
  try {
    localStorage.setItem(KEY, theme);
  } catch {
    /* no storage */
  }
}

export const ThemeContext = createContext<Theme>('light');

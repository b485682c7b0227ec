// The dashboard's shell: header (cluster name, theme, sign-out), the pages this node's API allows,
// hash routing (#/keys?prefix=/brokers/), and the sign-in form whenever the node answers 401.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { currentCredentials, onAuthRequired, setCredentials } from './api/client.js';
import { loadApiDescription, type ApiDescription } from './api/openapi.js';
import { Login } from './components/login.js';
import { Notice, errorText } from './components/notice.js';
import { ApiContext } from './context.js';
import { PAGES } from './pages/registry.js';
import { ThemeContext, applyTheme, initialTheme, type Theme } from './theme.js';
import './styles.css';

function currentPageId(): string {
  const m = /^#\/([a-z-]+)/.exec(location.hash);
  return m ? m[1]! : 'cluster';
}

function App() {
  const [theme, setTheme] = useState<Theme>(() => (document.documentElement.dataset.theme as Theme | undefined) ?? initialTheme());
  const [description, setDescription] = useState<ApiDescription | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [pageId, setPageId] = useState(currentPageId);
  const [authReason, setAuthReason] = useState<string | null>(null);
  // Bumped on sign-in/out: remounts the page so it asks again with the new credentials.
  const [session, setSession] = useState(0);
  // Sign-in/out starts over: no pages until the node has answered the new credentials (the
  // description read with the old ones says nothing about what the new ones may see).
  const newSession = (): void => {
    setDescription(null);
    setSession((n) => n + 1);
  };

  // Applied before the state changes, so charts created in the re-render read the new colors.
  const chooseTheme = (t: Theme): void => {
    applyTheme(t);
    setTheme(t);
  };
  useEffect(() => onAuthRequired((why) => setAuthReason(why)), []);
  useEffect(() => {
    const on = (): void => setPageId(currentPageId());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  useEffect(() => {
    setLoadError(null);
    loadApiDescription().then(setDescription, (err: unknown) => setLoadError(errorText(err)));
  }, [session]);

  const pages = description ? PAGES.filter((p) => p.available(description)) : [];
  const page = pages.find((p) => p.id === pageId) ?? pages[0];
  useEffect(() => {
    document.title = page ? `${page.title} · Placement Center` : 'Placement Center';
  }, [page?.id]);

  const signedIn = currentCredentials() !== null;
  let content;
  if (authReason !== null) {
    content = (
      <Login
        reason={authReason}
        onSignedIn={() => {
          setAuthReason(null);
          newSession();
        }}
      />
    );
  } else if (loadError) {
    content = <Notice kind="error">Cannot read this node's API description (GET /v1/openapi.json): {loadError}</Notice>;
  } else if (!description) {
    content = <p aria-busy="true">Loading…</p>;
  } else if (!page) {
    content = <Notice kind="info">This node's API offers nothing this dashboard can show.</Notice>;
  } else {
    const Page = page.component;
    content = <Page key={`${page.id}:${session}`} />;
  }

  return (
    <ThemeContext.Provider value={theme}>
      <ApiContext.Provider value={description}>
        {/* Moves focus without touching the hash, which holds the route. */}
        <a
          class="skip"
          href="#main"
          onClick={(e) => {
            e.preventDefault();
            document.getElementById('main')?.focus();
          }}
        >
          Skip to content
        </a>
        <header class="top">
          <span class="brand">Placement Center</span>
          <nav aria-label="Pages">
            <ul>
              {pages.map((p) => (
                <li key={p.id}>
                  <a href={`#/${p.id}`} data-page={p.id} aria-current={p.id === page?.id ? 'page' : undefined}>
                    {p.title}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          <div class="tools">
            <button type="button" id="theme-toggle" aria-pressed={theme === 'dark'} onClick={() => chooseTheme(theme === 'dark' ? 'light' : 'dark')}>
              Dark theme
            </button>
            {signedIn ? (
              <button
                type="button"
                onClick={() => {
                  setCredentials(null);
                  newSession();
                }}
              >
                Sign out
              </button>
            ) : null}
          </div>
        </header>
        <main id="main" tabIndex={-1}>
          {content}
        </main>
      </ApiContext.Provider>
    </ThemeContext.Provider>
  );
}

applyTheme(initialTheme());
render(<App />, document.getElementById('app')!);

/** The dashboard: the session check, the login form, the navigation bar and the pages. */
import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { currentUser, logout, setUnauthorizedHandler } from './api';
import { messageOf } from './components';
import { Aliases } from './pages/aliases';
import { Dispatcher } from './pages/dispatcher';
import { Domains } from './pages/domains';
import { Login } from './pages/login';
import { Overview } from './pages/overview';
import { Registrations } from './pages/registrations';
import { Subscribers } from './pages/subscribers';
import { navigate, usePath } from './router';

const PAGES: { path: string; title: string; component: ComponentType }[] = [
  { path: '/', title: 'Overview', component: Overview },
  { path: '/subscribers', title: 'Subscribers', component: Subscribers },
  { path: '/domains', title: 'Domains', component: Domains },
  { path: '/aliases', title: 'Aliases', component: Aliases },
  { path: '/registrations', title: 'Registrations', component: Registrations },
  { path: '/dispatcher', title: 'Dispatcher', component: Dispatcher },
];

function Link({ href, children }: { href: string; children: string }) {
  const path = usePath();
  return (
    <a
      href={href}
      aria-current={path === href ? 'page' : undefined}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
        e.preventDefault();
        navigate(href);
      }}
    >
      {children}
    </a>
  );
}

/** undefined: not known yet; null: no session. */
type Session = string | null | undefined;

export function App() {
  const path = usePath();
  const [user, setUser] = useState<Session>(undefined);
  const [reason, setReason] = useState<string | undefined>(undefined);
  const [failure, setFailure] = useState<string | undefined>(undefined);

  useEffect(() => {
    setUnauthorizedHandler(() => {
      setReason('Your session has ended: log in again.');
      setUser(null);
    });
    currentUser().then(
      (u) => setUser(u ?? null),
      (e) => setFailure(`Cannot reach the server: ${messageOf(e)}`),
    );
  }, []);

  useEffect(() => {
    const page = PAGES.find((p) => p.path === path);
    document.title = user ? `${page?.title ?? 'Not found'} · olelo` : 'Log in · olelo';
  }, [path, user]);

  if (failure !== undefined)
    return (
      <main class="login">
        <p class="error" role="alert">
          {failure}
        </p>
      </main>
    );
  if (user === undefined) return <main class="login">Loading…</main>;
  if (user === null)
    return (
      <Login
        reason={reason}
        onLogin={(u) => {
          setReason(undefined);
          setUser(u);
        }}
      />
    );

  const page = PAGES.find((p) => p.path === path);
  const Page = page?.component;
  return (
    <>
      <nav class="topbar" aria-label="Main">
        <span class="brand">olelo</span>
        <ul>
          {PAGES.map((p) => (
            <li key={p.path}>
              <Link href={p.path}>{p.title}</Link>
            </li>
          ))}
        </ul>
        <span class="user">
          {user}
          <button
            type="button"
            onClick={async () => {
              await logout();
              setReason('Logged out.');
              setUser(null);
            }}
          >
            Log out
          </button>
        </span>
      </nav>
      <main class="page">
        {Page === undefined ? (
          <section>
            <h1>Not found</h1>
            <p>
              No page at {path}. <Link href="/">Overview</Link>
            </p>
          </section>
        ) : (
          <Page />
        )}
      </main>
    </>
  );
}

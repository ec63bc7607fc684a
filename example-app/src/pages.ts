/** The example app's HTML: plain server-rendered forms, accessible, no framework. */

import { createHash } from 'node:crypto';

const escapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => escapes[c] ?? c);

// The pages' only scripts. The CSP allows exactly these (by hash), so injected markup could run none.
const SUBMIT_ONCE = `
// One submit per page: a second click while the first post is on its way would send a CSRF token
// (and a code) that the first has already used up, and end on an error page.
let sent = false;
document.addEventListener('submit', (event) => { if (sent) event.preventDefault(); else sent = true; });
// Back to a page the browser kept: its forms may be sent again.
addEventListener('pageshow', () => { sent = false; });
`;
const WEB_OTP = `
// WebOTP: fill the code in from the SMS where the browser supports it; the form works without it.
if ('OTPCredential' in window) {
  const input = document.getElementById('code');
  const abort = new AbortController();
  input.form.addEventListener('submit', () => abort.abort());
  navigator.credentials.get({ otp: { transport: ['sms'] }, signal: abort.signal })
    .then((otp) => { if (otp && otp.code) { input.value = otp.code; input.form.requestSubmit(); } })
    .catch(() => {});
}
`;
/** CSP `script-src` sources for the pages' scripts: their SHA-256 hashes. */
export const SCRIPT_SOURCES: readonly string[] = [SUBMIT_ONCE, WEB_OTP].map((body) => `'sha256-${createHash('sha256').update(body).digest('base64')}'`);

function layout(title: string, body: string, script = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · passport-sms-otp example</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 28rem; margin: 3rem auto; padding: 0 1rem; color: #1b1b1b; }
  label { display: block; margin-top: 1rem; font-weight: 600; }
  input { font: inherit; width: 100%; padding: .5rem; box-sizing: border-box; border: 1px solid #767676; border-radius: 4px; }
  input:focus, button:focus { outline: 3px solid #1a5fb4; outline-offset: 2px; }
  button { font: inherit; margin-top: 1.25rem; padding: .5rem 1.25rem; border: 0; border-radius: 4px; background: #1a5fb4; color: #fff; cursor: pointer; }
  button.link { background: none; color: #1a5fb4; padding: 0; text-decoration: underline; }
  .error { color: #a51d2d; font-weight: 600; }
  .note { color: #555; font-size: .9rem; }
  table { border-collapse: collapse; width: 100%; } td, th { border-bottom: 1px solid #ddd; padding: .25rem; text-align: left; vertical-align: top; }
  pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; font-size: .9rem; }
</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
${script}
<script>${SUBMIT_ONCE}</script>
</body>
</html>`;
}

function errorBox(error: string | undefined): string {
  return error ? `<p id="form-error" class="error" role="alert">${escapeHtml(error)}</p>` : '';
}

export function loginPage(csrfToken: string, error?: string, username = ''): string {
  return layout('Sign in', `
${errorBox(error)}
<form method="post" action="/login" novalidate>
  <input type="hidden" name="_csrf" value="${escapeHtml(csrfToken)}">
  <label for="username">Username</label>
  <input id="username" name="username" autocomplete="username" required value="${escapeHtml(username)}"${error ? ' aria-describedby="form-error" aria-invalid="true"' : ''} autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required${error ? ' aria-describedby="form-error" aria-invalid="true"' : ''}>
  <button type="submit">Sign in</button>
</form>
<p class="note">Demo users: alice / alice-password, bob / bob-password.</p>`);
}

/** How long to wait, as a sentence: seconds up to two minutes, minutes after that. */
export function waitText(seconds: number | undefined): string {
  if (seconds === undefined) return '';
  return seconds < 120 ? ` Try again in ${seconds} s.` : ` Try again in ${Math.ceil(seconds / 60)} minutes.`;
}

export function codePage(csrfToken: string, digits: number, sentTo: string | undefined, error?: string, notice?: string): string {
  const webOtp = `<script>${WEB_OTP}</script>`;
  return layout('Enter your code', `
<p id="code-help">We sent ${digits === 8 ? 'an' : 'a'} ${digits}-digit code by text message${sentTo === undefined ? '' : ` to ${escapeHtml(sentTo)}`}. Enter it below.</p>
${notice ? `<p role="status">${escapeHtml(notice)}</p>` : ''}
${errorBox(error)}
<form method="post" action="/login/otp" novalidate>
  <input type="hidden" name="_csrf" value="${escapeHtml(csrfToken)}">
  <label for="code">Code</label>
  <input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{${digits}}" minlength="${digits}" maxlength="${digits}" required aria-describedby="code-help${error ? ' form-error' : ''}"${error ? ' aria-invalid="true"' : ''} autofocus>
  <button type="submit">Verify</button>
</form>
<form method="post" action="/login/otp/resend">
  <input type="hidden" name="_csrf" value="${escapeHtml(csrfToken)}">
  <button type="submit" class="link">Send a new code</button>
</form>
<p class="note"><a href="/login">Start over with your password</a></p>`, webOtp);
}

export function accountPage(csrfToken: string, username: string, error?: string): string {
  return layout('Your account', `
${errorBox(error)}
<p>You are signed in as <strong id="username">${escapeHtml(username)}</strong>, with a password and a code sent by text message.</p>
<form method="post" action="/logout">
  <input type="hidden" name="_csrf" value="${escapeHtml(csrfToken)}">
  <button type="submit">Sign out</button>
</form>`);
}

export function outboxPage(messages: ReadonlyArray<{ to: string; text: string; sentAt: string }>): string {
  const rows = messages.slice().reverse().map((m) => `<tr><td>${escapeHtml(m.sentAt)}</td><td>${escapeHtml(m.to)}</td><td><pre>${escapeHtml(m.text)}</pre></td></tr>`).join('\n');
  return layout('Dev outbox', `
<p class="note">Development only: texts the app would have sent. Newest first. This page does not exist when a real SMS sender is configured.</p>
<table><thead><tr><th scope="col">Sent</th><th scope="col">To</th><th scope="col">Text</th></tr></thead>
<tbody>${rows || '<tr><td colspan="3">No messages yet.</td></tr>'}</tbody></table>
<p><a href="/login/otp">Back to the code page</a> (or to sign in, when no login waits for a code)</p>`);
}

export function messagePage(title: string, text: string): string {
  return layout(title, `<p>${escapeHtml(text)}</p><p><a href="/login">Back to sign in</a></p>`);
}

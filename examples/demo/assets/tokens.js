// The token management page: a client of the JSON token endpoints under /api.
// The token it signs in with lives in sessionStorage only. Nothing from the server
// is ever written as HTML: text goes through textContent and value.
'use strict';

(() => {
  const TOKEN_KEY = 'authtoken.token';
  const USER_KEY = 'authtoken.username';
  const DAY = 24 * 60 * 60 * 1000;
  const MAX_DAYS = 365;
  const SCOPE_HELP = {
    read: 'read your data',
    write: 'change your data',
    tokens: 'list, create and revoke tokens',
  };

  const byId = (id) => document.getElementById(id);
  const state = {
    token: sessionStorage.getItem(TOKEN_KEY),
    username: sessionStorage.getItem(USER_KEY),
    tokens: [],
    revoking: null,
    bannerTimer: null,
  };

  /** A refused or failed call: status 0 when the server could not be reached. */
  class ApiError extends Error {
    constructor(status, body, retryAfter) {
      super(`HTTP ${status}`);
      this.status = status;
      this.body = body && typeof body === 'object' ? body : {};
      this.retryAfter = retryAfter;
    }

    /** The server's words for what went wrong, outside any one field. */
    detail() {
      const { detail, non_field_errors: general } = this.body;
      if (typeof detail === 'string') return detail;
      if (Array.isArray(general) && general.length) return general.join(' ');
      return this.status ? `The server refused the request (HTTP ${this.status}).` : '';
    }

    /** The messages for one field of the request, joined. */
    field(name) {
      const messages = this.body[name];
      return Array.isArray(messages) ? messages.join(' ') : '';
    }
  }

  async function api(method, path, body, { signedIn = true } = {}) {
    const headers = { Accept: 'application/json' };
    if (signedIn) headers.Authorization = `Token ${state.token}`;
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(`/api${path}`, init);
    } catch {
      throw new ApiError(0, null, null);
    }
    let data = null;
    const text = await response.text().catch(() => '');
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      throw new ApiError(response.status, data, response.headers.get('Retry-After'));
    }
    hideBanner();
    return data;
  }

  // ---- messages -------------------------------------------------------------

  function say(id, text) {
    const element = byId(id);
    element.textContent = text || '';
    element.hidden = !text;
  }

  function hideBanner() {
    clearInterval(state.bannerTimer);
    state.bannerTimer = null;
    say('banner', '');
  }

  function showBanner(lead, retryAfter) {
    clearInterval(state.bannerTimer);
    let seconds = Number.parseInt(retryAfter, 10);
    if (!Number.isFinite(seconds) || seconds < 1) seconds = 5;
    const render = () => {
      say('banner', seconds > 0 ? `${lead}, try again in ${seconds} s.` : `${lead}: try again now.`);
    };
    render();
    state.bannerTimer = setInterval(() => {
      seconds -= 1;
      render();
      if (seconds <= 0) {
        clearInterval(state.bannerTimer);
        state.bannerTimer = null;
      }
    }, 1000);
  }

  /**
   * Handles what any call may answer: the server gone (banner), throttled (banner),
   * the token no longer valid (back to the sign-in form). True when handled.
   */
  function handledEverywhere(error) {
    if (!(error instanceof ApiError)) {
      console.error(error);
      clearInterval(state.bannerTimer);
      say('banner', 'Something went wrong on this page: reload it to try again.');
      return true;
    }
    if (error.status === 0 || error.status >= 500) {
      showBanner('The server is unavailable', error.retryAfter);
      return true;
    }
    if (error.status === 429) {
      showBanner('Too many requests', error.retryAfter);
      return true;
    }
    if (error.status === 401 && state.token) {
      signedOut(`You have been signed out: ${error.detail()} Sign in again.`);
      return true;
    }
    return false;
  }

  // ---- times ----------------------------------------------------------------

  /** Milliseconds since the epoch of an RFC 3339 string, or NaN. */
  function parseTime(text) {
    if (typeof text !== 'string') return Number.NaN;
    // Keep at most milliseconds: the server may send nanoseconds.
    return Date.parse(text.replace(/(\.\d{3})\d+/, '$1'));
  }

  function plural(count, unit) {
    return `${count} ${unit}${count === 1 ? '' : 's'}`;
  }

  /** "3 minutes", "29 days": the largest whole unit in a positive span. */
  function span(ms) {
    const minutes = Math.floor(ms / 60000);
    if (minutes < 60) return plural(minutes, 'minute');
    const hours = Math.floor(minutes / 60);
    if (hours < 24) return plural(hours, 'hour');
    return plural(Math.floor(hours / 24), 'day');
  }

  /** "just now", "3 minutes ago", or `never` for null. */
  function ago(text, never) {
    if (text === null || text === undefined) return never;
    const at = parseTime(text);
    if (Number.isNaN(at)) return 'unknown';
    const ms = Date.now() - at;
    return ms < 60000 ? 'just now' : `${span(ms)} ago`;
  }

  /** "in 29 days", "expired", or "never" for null. */
  function until(text) {
    if (text === null || text === undefined) return 'never';
    const at = parseTime(text);
    if (Number.isNaN(at)) return 'unknown';
    const ms = at - Date.now();
    if (ms <= 0) return 'expired';
    return ms < 60000 ? 'in less than a minute' : `in ${span(ms)}`;
  }

  function timeElement(text, describe) {
    const element = document.createElement('time');
    element.dataset.kind = describe;
    if (typeof text === 'string') {
      element.dateTime = text;
      const at = parseTime(text);
      if (!Number.isNaN(at)) element.title = new Date(at).toLocaleString();
    }
    element.dataset.value = text === null || text === undefined ? '' : text;
    refreshTime(element);
    return element;
  }

  function refreshTime(element) {
    const value = element.dataset.value || null;
    switch (element.dataset.kind) {
      case 'created':
        element.textContent = ago(value, 'unknown');
        break;
      case 'last-used':
        element.textContent = ago(value, 'never');
        break;
      default:
        element.textContent = until(value);
    }
  }

  /** A local date as the date input writes it: yyyy-mm-dd. */
  function isoDate(date) {
    const pad = (n) => String(n).padStart(2, '0');
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  }

  // ---- signing in and out ---------------------------------------------------

  function signedIn(token, username) {
    state.token = token;
    state.username = username;
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(USER_KEY, username);
    showManage();
  }

  function signedOut(message) {
    state.token = null;
    state.username = null;
    state.tokens = [];
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
    closeRevoke();
    clearCreated();
    byId('token-list').replaceChildren();
    byId('scopes').replaceChildren();
    byId('manage').hidden = true;
    byId('account').hidden = true;
    byId('sign-in').hidden = false;
    say('sign-in-message', message);
    say('status', '');
    byId('password').value = '';
    byId('username').focus();
  }

  function showManage() {
    byId('sign-in').hidden = true;
    say('sign-in-message', '');
    byId('signed-in-as').textContent = state.username ? `Signed in as ${state.username}` : 'Signed in';
    byId('account').hidden = false;
    byId('manage').hidden = false;
    loadTokens();
  }

  async function signIn(event) {
    event.preventDefault();
    for (const id of ['sign-in-error', 'username-error', 'password-error']) say(id, '');
    const username = byId('username').value;
    const password = byId('password').value;
    const button = byId('sign-in-button');
    button.disabled = true;
    try {
      const body = await api('POST', '/token', { username, password }, { signedIn: false });
      byId('password').value = '';
      signedIn(body.token, username);
    } catch (error) {
      if (error instanceof ApiError && error.status >= 400 && error.status < 500) {
        say('username-error', error.field('username'));
        say('password-error', error.field('password'));
        const general = error.field('username') || error.field('password') ? '' : error.detail();
        say('sign-in-error', general);
      } else {
        handledEverywhere(error);
      }
    } finally {
      button.disabled = false;
    }
  }

  async function signOut() {
    const button = byId('sign-out');
    button.disabled = true;
    try {
      await api('POST', '/logout');
      signedOut('You signed out: that token no longer works.');
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        signedOut('You signed out.');
      } else {
        handledEverywhere(error);
      }
    } finally {
      button.disabled = false;
    }
  }

  // ---- the list -------------------------------------------------------------

  async function loadTokens() {
    say('tokens-error', '');
    try {
      const tokens = await api('GET', '/tokens');
      state.tokens = Array.isArray(tokens) ? tokens : [];
      renderTokens();
      renderScopes();
    } catch (error) {
      if (!handledEverywhere(error)) say('tokens-error', error.detail());
    }
  }

  function row(list, term, value) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    if (typeof value === 'string') {
      dd.textContent = value;
    } else {
      dd.append(value);
    }
    list.append(dt, dd);
  }

  function renderTokens() {
    const list = byId('token-list');
    list.replaceChildren();
    byId('tokens-empty').hidden = state.tokens.length > 0;
    for (const token of state.tokens) {
      const item = document.createElement('li');
      item.className = 'token';
      item.dataset.tokenId = String(token.id);
      if (token.current) item.classList.add('current');

      const heading = document.createElement('div');
      heading.className = 'token-heading';
      const name = document.createElement('h3');
      name.className = 'token-name';
      name.textContent = String(token.name);
      heading.append(name);
      if (token.current) {
        const badge = document.createElement('span');
        badge.className = 'badge';
        badge.textContent = 'This browser';
        heading.append(badge);
      }
      item.append(heading);

      const details = document.createElement('dl');
      details.className = 'token-details';
      const scopes = Array.isArray(token.scopes) ? token.scopes : [];
      row(details, 'Scopes', scopes.length ? scopes.join(', ') : 'none');
      row(details, 'Created', timeElement(token.created, 'created'));
      row(details, 'Last used', timeElement(token.last_used, 'last-used'));
      row(details, 'Expires', timeElement(token.expires, 'expires'));
      const hint = document.createElement('code');
      hint.textContent = token.hint ? String(token.hint) : '—';
      row(details, 'Hint', hint);
      item.append(details);

      const revoke = document.createElement('button');
      revoke.type = 'button';
      revoke.className = 'revoke danger';
      revoke.textContent = 'Revoke';
      revoke.setAttribute('aria-label', `Revoke ${token.name}`);
      revoke.addEventListener('click', () => openRevoke(token));
      item.append(revoke);

      list.append(item);
    }
  }

  /** The scopes a new token may hold: those of this browser's token. */
  function renderScopes() {
    const current = state.tokens.find((token) => token.current);
    const allowed = current && Array.isArray(current.scopes) ? current.scopes : [];
    const container = byId('scopes');
    const shown = [...container.querySelectorAll('input')].map((input) => input.value);
    if (shown.join('\n') === allowed.join('\n')) return;
    container.replaceChildren();
    if (!allowed.length) {
      const none = document.createElement('p');
      none.className = 'hint';
      none.textContent = 'This browser\'s token holds no scope to give.';
      container.append(none);
    }
    for (const scope of allowed) {
      const wrapper = document.createElement('div');
      wrapper.className = 'scope';
      const input = document.createElement('input');
      input.type = 'checkbox';
      input.id = `scope-${scope}`;
      input.name = 'scopes';
      input.value = scope;
      const label = document.createElement('label');
      label.htmlFor = input.id;
      label.textContent = scope;
      if (SCOPE_HELP[scope]) {
        const help = document.createElement('span');
        help.className = 'hint';
        help.textContent = ` (${SCOPE_HELP[scope]})`;
        label.append(help);
      }
      wrapper.append(input, label);
      container.append(wrapper);
    }
  }

  function refreshTimes() {
    for (const element of document.querySelectorAll('#token-list time')) refreshTime(element);
  }

  // ---- creating -------------------------------------------------------------

  function expiryChanged() {
    const byDate = byId('expiry').value === 'date';
    byId('expiry-date-field').hidden = !byDate;
    if (byDate) {
      const today = new Date();
      const first = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
      const last = new Date(today.getFullYear(), today.getMonth(), today.getDate() + MAX_DAYS);
      const input = byId('expiry-date');
      input.min = isoDate(first);
      input.max = isoDate(last);
    }
  }

  /** Seconds until the chosen expiry, or null with a message when none is chosen. */
  function expiresIn() {
    const choice = byId('expiry').value;
    if (choice !== 'date') return Number.parseInt(choice, 10) * DAY / 1000;
    const parts = byId('expiry-date').value.split('-').map((part) => Number.parseInt(part, 10));
    if (parts.length !== 3 || parts.some(Number.isNaN)) return null;
    const at = new Date(parts[0], parts[1] - 1, parts[2]);
    return Math.round((at.getTime() - Date.now()) / 1000);
  }

  async function createToken(event) {
    event.preventDefault();
    for (const id of ['name-error', 'scopes-error', 'expiry-error', 'create-error']) say(id, '');
    say('status', '');
    const name = byId('token-name').value;
    const scopes = [...byId('scopes').querySelectorAll('input:checked')].map((input) => input.value);
    const seconds = expiresIn();
    if (seconds === null) {
      say('expiry-error', 'Choose a date within 365 days.');
      byId('expiry-date').focus();
      return;
    }
    const button = byId('create-button');
    button.disabled = true;
    try {
      const created = await api('POST', '/tokens', { name, scopes, expires_in: seconds });
      showCreated(created);
      const { token: _secret, ...item } = created;
      state.tokens = [item, ...state.tokens.filter((token) => token.id !== item.id)];
      renderTokens();
      byId('token-name').value = '';
      for (const input of byId('scopes').querySelectorAll('input')) input.checked = false;
    } catch (error) {
      if (!handledEverywhere(error)) showCreateError(error);
    } finally {
      button.disabled = false;
    }
  }

  function showCreateError(error) {
    const fields = { name: 'name-error', scopes: 'scopes-error', expires_in: 'expiry-error' };
    let placed = false;
    for (const [field, id] of Object.entries(fields)) {
      const text = error.field(field);
      say(id, text);
      placed = placed || Boolean(text);
    }
    if (error.status === 403) {
      // A scope this browser's token does not hold.
      say('scopes-error', error.detail());
      placed = true;
    }
    if (!placed) say('create-error', error.detail());
    const first = document.querySelector('#create-form .error:not([hidden])');
    const control = first && first.closest('.field, fieldset');
    const focusable = control && control.querySelector('input, select');
    if (focusable) focusable.focus();
  }

  function showCreated(created) {
    byId('new-token-name').textContent = `“${created.name}”`;
    byId('new-token').value = String(created.token);
    say('copy-status', '');
    byId('created').hidden = false;
    byId('created-title').focus();
  }

  function clearCreated() {
    byId('new-token').value = '';
    byId('new-token-name').textContent = '';
    say('copy-status', '');
    byId('created').hidden = true;
  }

  async function copyToken() {
    const input = byId('new-token');
    try {
      await navigator.clipboard.writeText(input.value);
      say('copy-status', 'Copied to the clipboard.');
    } catch {
      input.focus();
      input.select();
      say('copy-status', 'Selected: press Ctrl+C (⌘C on a Mac) to copy.');
    }
  }

  // ---- revoking -------------------------------------------------------------

  function openRevoke(token) {
    state.revoking = token;
    byId('revoke-text').textContent = `Revoke the token “${token.name}”? Anything that uses it stops working at once.`;
    byId('revoke-current').hidden = !token.current;
    say('revoke-error', '');
    byId('revoke-confirm').disabled = false;
    const dialog = byId('revoke-dialog');
    if (!dialog.open) dialog.showModal();
    byId('revoke-cancel').focus();
  }

  function closeRevoke() {
    state.revoking = null;
    const dialog = byId('revoke-dialog');
    if (dialog.open) dialog.close();
  }

  async function confirmRevoke() {
    const token = state.revoking;
    if (!token) return;
    const button = byId('revoke-confirm');
    button.disabled = true;
    try {
      await api('DELETE', `/tokens/${encodeURIComponent(token.id)}`);
      if (token.current) {
        signedOut('You revoked this browser\'s token, so you are signed out.');
        return;
      }
      closeRevoke();
      state.tokens = state.tokens.filter((item) => item.id !== token.id);
      renderTokens();
      say('status', `Revoked “${token.name}”.`);
    } catch (error) {
      if (handledEverywhere(error)) {
        if (state.token) closeRevoke();
      } else if (error.status === 404) {
        closeRevoke();
        say('status', `“${token.name}” was already revoked.`);
        loadTokens();
      } else {
        say('revoke-error', error.detail());
      }
    } finally {
      button.disabled = false;
    }
  }

  // ---- start ----------------------------------------------------------------

  function start() {
    byId('sign-in-form').addEventListener('submit', signIn);
    byId('sign-out').addEventListener('click', signOut);
    byId('create-form').addEventListener('submit', createToken);
    byId('expiry').addEventListener('change', expiryChanged);
    byId('copy-token').addEventListener('click', copyToken);
    byId('dismiss-created').addEventListener('click', () => {
      clearCreated();
      byId('token-name').focus();
    });
    byId('revoke-cancel').addEventListener('click', closeRevoke);
    byId('revoke-confirm').addEventListener('click', confirmRevoke);
    byId('revoke-dialog').addEventListener('close', () => {
      state.revoking = null;
    });
    setInterval(refreshTimes, 30000);
    expiryChanged();
    if (state.token) {
      showManage();
    } else {
      byId('sign-in').hidden = false;
    }
  }

  start();
})();

/* mctl web console: live updates and the run form. The pages work without
   it; with it, the job list and a running job's page update as events
   arrive (GET /events), and the run form previews targets and runs. */
'use strict';

(function () {
  /* The session's form key: with the login cookie, it lets this page's
     requests change things (the token itself stays in the cookie). */
  const meta = document.querySelector('meta[name="mctl-form-key"]');
  const formKey = meta ? meta.content : null;
  const page = document.body.dataset.page;

  function api(method, path, body) {
    const opts = { method: method, headers: { 'X-CSRF-Token': formKey },
                   credentials: 'same-origin' };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (resp) {
      return resp.json().then(function (data) {
        if (!resp.ok) throw new Error(data.error || resp.statusText);
        return data.return;
      });
    });
  }

  function el(tag, attrs, children) {
    const e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) {
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return e;
  }

  function localTimes(root) {
    root.querySelectorAll('time[datetime]').forEach(function (t) {
      const d = new Date(t.getAttribute('datetime'));
      if (!isNaN(d)) { t.title = t.textContent; t.textContent = d.toLocaleString(); }
    });
  }
  localTimes(document);

  const logout = document.getElementById('logout');
  if (logout) {
    logout.addEventListener('click', function () {
      api('POST', '/logout').finally(function () { location.href = '/login'; });
    });
  }

  function events(handlers) {
    if (!window.EventSource) return;
    const es = new EventSource('/events');
    /* A stream that opens again (it ends every ten minutes, or when
       mctl-api restarts) may have missed events: read the page again. */
    let opened = false;
    es.addEventListener('open', function () {
      if (opened && handlers.resync) handlers.resync({ lost: 0 });
      else if (!opened && handlers.first) handlers.first();
      opened = true;
    });
    Object.keys(handlers).forEach(function (name) {
      if (name === 'first') return;
      es.addEventListener(name, function (e) { handlers[name](JSON.parse(e.data)); });
    });
  }

  /* ---- the job list --------------------------------------------------- */
  if (page === 'jobs') {
    const table = document.getElementById('jobs');
    const tbody = table.querySelector('tbody');
    const filtered = table.dataset.filtered === '1';
    events({
      job: function (j) {
        if (filtered) return;
        const empty = document.querySelector('.empty');
        if (empty) empty.remove();
        const when = el('time', { datetime: j.start }, [j.start]);
        const row = el('tr', { 'data-jid': j.jid, class: 'new' }, [
          el('td', {}, [el('a', { href: '/job/' + j.jid }, [j.jid])]),
          el('td', {}, [when]), el('td', {}, [j.user]), el('td', {}, [j.fun]),
          el('td', {}, [j.tgt]), el('td', { class: 'num minions' }, [String(j.minions)]),
          el('td', { class: 'num returned' }, ['0']), el('td', { class: 'num failed' }, ['0'])]);
        localTimes(row);
        tbody.insertBefore(row, tbody.firstChild);
      },
      ret: function (r) {
        const row = tbody.querySelector('tr[data-jid="' + r.jid + '"]');
        if (!row) return;
        const cell = row.querySelector(r.success ? '.returned' : '.failed');
        row.querySelector('.returned').textContent =
          String(Number(row.querySelector('.returned').textContent) + 1);
        if (!r.success) {
          cell.textContent = String(Number(cell.textContent) + 1);
          cell.classList.add('bad');
        }
      },
      resync: function () { location.reload(); }
    });
  }

  /* ---- a job ------------------------------------------------------------ */
  if (page === 'job') {
    const jid = document.getElementById('jid').textContent;
    const table = document.getElementById('returns');
    let pending = null;
    function refresh() {
      pending = null;
      fetch(location.pathname, { credentials: 'same-origin' })
        .then(function (resp) { return resp.text(); })
        .then(function (html) {
          const doc = new DOMParser().parseFromString(html, 'text/html');
          const fresh = doc.getElementById('returns');
          const counts = doc.getElementById('counts');
          if (fresh) { table.replaceChildren.apply(table, Array.from(fresh.childNodes)); }
          if (counts) document.getElementById('counts').textContent = counts.textContent;
          localTimes(table);
        });
    }
    events({
      ret: function (r) {
        if (r.jid === jid && !pending) pending = setTimeout(refresh, 250);
      },
      resync: function () { refresh(); },
      /* What came between the page and the stream's start: read again. */
      first: function () { refresh(); }
    });
    const copy = document.getElementById('copy-json');
    copy.addEventListener('click', function () {
      api('GET', '/jobs/' + jid).then(function (job) {
        const text = JSON.stringify(job, null, 2);
        show(text);
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(function () {
            copy.textContent = 'Copied';
          }, function () {});
        }
      });
      function show(text) {
        let area = document.getElementById('job-json');
        if (!area) {
          area = el('textarea', { id: 'job-json', class: 'json', readonly: '' });
          copy.parentNode.appendChild(area);
        }
        area.value = text;
        area.select();
      }
    });
  }

  /* ---- the run form ------------------------------------------------------ */
  if (page === 'launch') {
    const form = document.getElementById('run');
    const out = document.getElementById('preview-out');
    const error = document.getElementById('run-error');
    function request() {
      const args = [], kwarg = {};
      form.args.value.split('\n').map(function (s) { return s.trim(); })
        .filter(function (s) { return s.length; })
        .forEach(function (a) {
          const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(a);
          if (m) kwarg[m[1]] = m[2]; else args.push(a);
        });
      return { tgt: form.tgt.value, tgt_type: form.tgt_type.value, fun: form.fun.value.trim(),
               arg: args, kwarg: kwarg, timeout: Number(form.timeout.value) || 30 };
    }
    function preview() {
      const q = new URLSearchParams({ tgt: form.tgt.value, tgt_type: form.tgt_type.value });
      return api('GET', '/targets?' + q.toString());
    }
    document.getElementById('preview').addEventListener('click', function () {
      error.textContent = '';
      preview().then(function (ids) {
        out.textContent = ids.length + ' minion' + (ids.length === 1 ? '' : 's') + ': ' +
          ids.join(', ');
      }, function (e) { error.textContent = e.message; });
    });
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      error.textContent = '';
      const body = request();
      preview().then(function (ids) {
        if (!ids.length) throw new Error('no minion matches the target');
        if (!window.confirm('Run ' + body.fun + ' on ' + ids.length + ' minion' +
                            (ids.length === 1 ? '' : 's') + '?')) return null;
        return api('POST', '/run', body);
      }).then(function (res) {
        if (res && res.jid) location.href = '/job/' + res.jid;
      }, function (e) { error.textContent = e.message; });
    });
  }
})();

// Suggestions while typing in the search box (no external libraries).
(function () {
  const input = document.querySelector('.search-box input[name=q]');
  const list = document.getElementById('suggestions');
  if (!input || !list) return;
  let timer = null;
  input.addEventListener('input', function () {
    clearTimeout(timer);
    const q = input.value.trim();
    if (!q) { list.innerHTML = ''; return; }
    timer = setTimeout(function () {
      fetch(input.dataset.suggestUrl + '?q=' + encodeURIComponent(q))
        .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
        .then(function (data) {
          list.innerHTML = '';
          (data.suggestions || []).forEach(function (s) {
            const opt = document.createElement('option'); opt.value = s.text || s; list.appendChild(opt);
          });
        }).catch(function () {});
    }, 150);
  });
})();

// Product gallery: a thumbnail click shows that image large.
(function () {
  const main = document.querySelector('#gallery-main img');
  if (!main) return;
  document.querySelectorAll('[data-gallery-thumb]').forEach(function (thumb) {
    thumb.addEventListener('click', function () {
      main.src = thumb.src;
      document.querySelectorAll('[data-gallery-thumb]').forEach(function (t) { t.classList.remove('active'); });
      thumb.classList.add('active');
    });
  });
})();
